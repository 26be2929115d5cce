package e2e_test

import (
	"context"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/live"
)

// event is the part of an events.k8s.io/v1 Event a person reads in `kubectl events`.
type event struct {
	Type, Reason, Note           string
	RegardingKind, RegardingName string
	RelatedKind, RelatedName     string
	ReportingController          string
}

// findEvent returns nil once an Event in namespace has the reason and regards kind/name.
// events.k8s.io/v1 is read because it holds the core/v1 Events too, whichever API wrote them.
func findEvent(c client.Client, namespace, reason, kind, name string) (event, error) {
	objs, err := live.List(context.Background(), c, "events.k8s.io/v1", "EventList", namespace)
	if err != nil {
		return event{}, err
	}
	var seen []string
	for _, o := range objs {
		e := event{
			Type:                str(o.Object, "type"),
			Reason:              str(o.Object, "reason"),
			Note:                str(o.Object, "note"),
			RegardingKind:       str(o.Object, "regarding", "kind"),
			RegardingName:       str(o.Object, "regarding", "name"),
			RelatedKind:         str(o.Object, "related", "kind"),
			RelatedName:         str(o.Object, "related", "name"),
			ReportingController: str(o.Object, "reportingController"),
		}
		if e.Reason == reason && e.RegardingKind == kind && e.RegardingName == name {
			return e, nil
		}
		seen = append(seen, e.Reason+" "+e.RegardingKind+"/"+e.RegardingName)
	}
	return event{}, fmt.Errorf("no %s event for %s %s/%s among [%s]", reason, kind, namespace, name, strings.Join(seen, ", "))
}

func str(m map[string]any, fields ...string) string {
	for _, f := range fields[:len(fields)-1] {
		m, _ = m[f].(map[string]any)
	}
	s, _ := m[fields[len(fields)-1]].(string)
	return s
}
