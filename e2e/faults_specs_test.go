package e2e_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshalias/meshalias/e2e/internal/oddspecs"
	"github.com/meshalias/meshalias/e2e/internal/operator"
	"github.com/meshalias/meshalias/e2e/internal/poll"
	"github.com/meshalias/meshalias/e2e/internal/reliability"
)

// oddNamespace is where the odd specs go: the one namespace whose aliases may end Ready=False.
const oddNamespace = "f-odd"

// oddSeed fixes the specs: a failure names odd-NNN, which the same seed generates again.
const oddSeed = 16

func oddSpecs(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator {
	const n = 300
	ctx := context.Background()
	// Besides web: a Service without a ClusterIP of each kind, which no entry may point at.
	must(t, s.c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: oddspecs.Headless, Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "headless"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}))
	must(t, s.c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: oddspecs.External, Namespace: ns},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"},
	}))
	op := s.replica(t, s.kubeconfig)
	op.Start(t)
	leader(t, op)

	refused := map[string]int{}
	admitted := 0
	for _, u := range oddspecs.Generate(oddSeed, n, ns, "odd."+faultDomain) {
		err := s.c.Create(ctx, u)
		switch {
		case err == nil:
			admitted++
		case apierrors.IsInvalid(err):
			refused["by the CRD's schema"]++
		case apierrors.IsForbidden(err):
			refused["by the admission policy"]++
		default:
			refused[fmt.Sprintf("otherwise (%v)", err)]++
		}
	}
	start := time.Now()
	var j judgement
	took, err := poll.Measure(start, 2*poll.Timeout, 250*time.Millisecond, func() (err error) {
		if err := op.Alive(); err != nil {
			return err
		}
		j, err = judge(s.c, true, ns)
		if err != nil {
			return err
		}
		return j.err()
	})
	must(t, err)
	total := 0
	var how []string
	for _, k := range slices.Sorted(maps.Keys(refused)) {
		total += refused[k]
		how = append(how, fmt.Sprintf("%d %s", refused[k], k))
	}
	var reasons []string
	for _, k := range slices.Sorted(maps.Keys(j.Reasons)) {
		reasons = append(reasons, fmt.Sprintf("%s %d", k, j.Reasons[k]))
	}
	t.Logf("%d specs: %d refused at admission (%s); %d admitted: %d Ready, %d Ready=False (%s); %d entries in the cluster",
		n, total, strings.Join(how, ", "), admitted, j.Ready, j.NotReady, strings.Join(reasons, ", "), len(j.Entries))
	row.Recovery = took
	row.RecoveryNote = fmt.Sprintf("every status truthful after the last create; %d refused at admission, %d admitted: %d Ready, %d Ready=False with a reason", total, admitted, j.Ready, j.NotReady)
	return []*operator.Operator{op}
}
