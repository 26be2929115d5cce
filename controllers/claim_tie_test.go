package controllers_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// Two aliases created in the same second tie on creationTimestamp. The one that already holds
// the host keeps it, whatever their names: a newcomer with a smaller name must not take the
// host away and delete the holder's entry under its users. Both orders are tried.
func TestClaimTieKeepsTheHolder(t *testing.T) {
	for _, names := range [][2]string{{"zz-holder", "aa-newcomer"}, {"aa-holder", "zz-newcomer"}} {
		t.Run(names[0]+" then "+names[1], func(t *testing.T) {
			holder, newcomer := names[0], names[1]
			ns, host, entryUID := createTiedAliases(t, holder, newcomer)

			waitServiceAlias(t, ns, newcomer, metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
			// Long enough for a flap to show: every reconcile of either alias has run by then.
			time.Sleep(2 * time.Second)
			waitServiceAlias(t, ns, holder, metav1.ConditionTrue, meshaliasv1.ReasonSynced)
			waitServiceAlias(t, ns, newcomer, metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
			se, err := entryFor(ns, host)
			if err != nil {
				t.Fatal(err)
			}
			if string(se.UID) != entryUID || se.Labels["meshalias.io/owner-name"] != holder {
				t.Errorf("the host moved: entry %s owned by %s, want the holder %s's entry %s", se.UID, se.Labels["meshalias.io/owner-name"], holder, entryUID)
			}
		})
	}
}

// createTiedAliases creates the holder, waits until it holds the host, then creates the
// newcomer in the same second. A pair that straddles a second boundary is deleted and tried
// again, in a fresh namespace.
func createTiedAliases(t *testing.T, holder, newcomer string) (ns, host string, entryUID string) {
	t.Helper()
	for try := 0; try < 5; try++ {
		ns = newNamespace(t)
		host = "shared." + ns + ".tie"
		create(t, service(ns, "app"))
		// Start just after a second begins, so that the holder has most of it to converge.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
		first := serviceAlias(ns, holder, "app", host)
		create(t, first)
		deadline := time.Now().Add(900 * time.Millisecond)
		for time.Now().Before(deadline) {
			if se, err := entryFor(ns, host); err == nil {
				entryUID = string(se.UID)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		second := serviceAlias(ns, newcomer, "app", host)
		create(t, second)
		if entryUID != "" && first.CreationTimestamp.Equal(&second.CreationTimestamp) {
			t.Logf("both created at %s; the holder's entry %s existed before the newcomer", first.CreationTimestamp.UTC().Format(time.RFC3339), entryUID)
			return ns, host, entryUID
		}
		t.Logf("try %d: created at %s and %s (holder entry %q); trying again", try+1, first.CreationTimestamp, second.CreationTimestamp, entryUID)
		entryUID = ""
	}
	t.Fatal(fmt.Errorf("could not create two aliases in one second with the first holding the host"))
	return
}
