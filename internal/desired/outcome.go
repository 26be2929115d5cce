package desired

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/visibility"
)

// Outcome is the verdict on one reconcile of an alias, in the kstatus vocabulary.
type Outcome struct {
	Ready   bool
	Reason  string
	Message string
	// Stalled is set when no retry helps: a person, or another object, has to change.
	Stalled bool
	// Judged is set when the pass judged the alias whole, visibility included; a retry
	// leaves the Visible condition as it was.
	Judged bool
	// Visibility is who sees the entries; nil when there is no entry to see.
	Visibility *visibility.Summary
}

// reasonOrder ranks problems: the one a person should fix first is reported.
var reasonOrder = []string{
	meshaliasv1.ReasonInvalidSpec,
	meshaliasv1.ReasonRefNotPermitted,
	meshaliasv1.ReasonAmbientUnsupported,
	meshaliasv1.ReasonServiceNotFound,
	meshaliasv1.ReasonNoClusterIP,
	meshaliasv1.ReasonHostNotAllowed,
	meshaliasv1.ReasonHostConflict,
}

// ServiceAliasOutcome judges a ServiceAlias's plan: every host must be served.
func ServiceAliasOutcome(plan Plan) Outcome {
	return judged(serviceAliasVerdict(plan), plan)
}

func serviceAliasVerdict(plan Plan) Outcome {
	if plan.Problem != nil {
		return stoppedOutcome(plan.Problem)
	}
	results := plan.Results
	problems := problemsOf(results, false)
	if len(problems) == 0 {
		return Outcome{Ready: true, Reason: meshaliasv1.ReasonSynced, Message: servedMessage(results)}
	}
	reason := worstReason(problems)
	return Outcome{Reason: reason, Message: joinProblems(problems), Stalled: true}
}

// NamespaceAliasOutcome judges a NamespaceAlias's plan. Services that can never be aliased
// (headless, ExternalName, no TCP port) are skipped and named, without failing the alias.
func NamespaceAliasOutcome(plan Plan) Outcome {
	return judged(namespaceAliasVerdict(plan), plan)
}

// judged completes a verdict on a whole plan with who sees its entries.
func judged(o Outcome, plan Plan) Outcome {
	o.Judged, o.Visibility = true, plan.Visibility
	return o
}

func namespaceAliasVerdict(plan Plan) Outcome {
	if plan.Problem != nil {
		return stoppedOutcome(plan.Problem)
	}
	results := plan.Results
	problems := problemsOf(results, true)
	skipped := skippedMessage(results)
	if len(problems) == 0 {
		return Outcome{Ready: true, Reason: meshaliasv1.ReasonSynced, Message: strings.TrimSpace(servedMessage(results) + " " + skipped)}
	}
	return Outcome{Reason: worstReason(problems), Message: strings.TrimSpace(joinProblems(problems) + " " + skipped), Stalled: true}
}

// stoppedOutcome is the verdict on an alias that serves nothing: only a change to the alias,
// or to the object the problem names, can mend it.
func stoppedOutcome(p *Problem) Outcome {
	return Outcome{Reason: p.Reason, Message: p.Message, Stalled: true}
}

// RetryOutcome is the verdict when a call to the API server failed: the alias is still being
// worked on, and the workqueue retries with backoff.
func RetryOutcome(err error) Outcome {
	return Outcome{Reason: meshaliasv1.ReasonRetrying, Message: err.Error()}
}

// SetConditions writes an outcome into conditions, kstatus style: Ready always; Stalled only
// when stalled; Reconciling only while a retry is pending. meta.SetStatusCondition keeps
// LastTransitionTime when a status does not change, so an unchanged outcome leaves the
// conditions equal and no status write follows.
func SetConditions(conditions *[]metav1.Condition, generation int64, o Outcome) {
	ready := metav1.ConditionFalse
	if o.Ready {
		ready = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conditions, metav1.Condition{
		Type: meshaliasv1.ConditionReady, Status: ready, Reason: o.Reason, Message: o.Message, ObservedGeneration: generation,
	})
	if o.Stalled {
		meta.SetStatusCondition(conditions, metav1.Condition{
			Type: meshaliasv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: o.Reason, Message: o.Message, ObservedGeneration: generation,
		})
	} else {
		meta.RemoveStatusCondition(conditions, meshaliasv1.ConditionStalled)
	}
	if !o.Ready && !o.Stalled {
		meta.SetStatusCondition(conditions, metav1.Condition{
			Type: meshaliasv1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: o.Reason, Message: o.Message, ObservedGeneration: generation,
		})
	} else {
		meta.RemoveStatusCondition(conditions, meshaliasv1.ConditionReconciling)
	}
	switch {
	case !o.Judged:
	case o.Visibility == nil:
		meta.RemoveStatusCondition(conditions, meshaliasv1.ConditionVisible)
	case o.Visibility.Reason == "":
		meta.SetStatusCondition(conditions, metav1.Condition{
			Type: meshaliasv1.ConditionVisible, Status: metav1.ConditionTrue, Reason: meshaliasv1.ReasonExported, Message: o.Visibility.Message, ObservedGeneration: generation,
		})
	default:
		meta.SetStatusCondition(conditions, metav1.Condition{
			Type: meshaliasv1.ConditionVisible, Status: metav1.ConditionFalse, Reason: o.Visibility.Reason, Message: o.Visibility.Message, ObservedGeneration: generation,
		})
	}
}

// HiddenFrom is what a status says of the namespaces that miss the entries; nil when none
// does, or when there is no entry.
func HiddenFrom(plan Plan) *meshaliasv1.HiddenFrom {
	v := plan.Visibility
	if v == nil || v.Count == 0 {
		return nil
	}
	return &meshaliasv1.HiddenFrom{Count: int32(v.Count), Namespaces: v.Namespaces, Sidecars: v.Sidecars}
}

// EntryNames lists, sorted, the entries that serve the results' hosts.
func EntryNames(results []HostResult) []string {
	var names []string
	for _, r := range results {
		if r.Entry != "" {
			names = append(names, r.Entry)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// MaxStatusNames bounds the names a status lists. A NamespaceAlias over tens of thousands of
// Services would otherwise write a status past etcd's object size limit, and every status
// write would then fail; status.services gives the count.
const MaxStatusNames = 100

// Listed keeps the first MaxStatusNames of sorted names.
func Listed(names []string) []string {
	if len(names) <= MaxStatusNames {
		return names
	}
	return names[:MaxStatusNames]
}

// AdoptedNames lists, sorted, the entries that were taken over from another controller.
func AdoptedNames(results []HostResult) []string {
	var names []string
	for _, r := range results {
		if r.Adopted {
			names = append(names, r.Entry)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func problemsOf(results []HostResult, skipUnservable bool) []HostResult {
	var out []HostResult
	for _, r := range results {
		if r.Problem != nil && !(skipUnservable && r.Problem.Unservable) {
			out = append(out, r)
		}
	}
	return out
}

func worstReason(problems []HostResult) string {
	best := len(reasonOrder)
	for _, p := range problems {
		if i := slices.Index(reasonOrder, p.Problem.Reason); i >= 0 && i < best {
			best = i
		}
	}
	if best == len(reasonOrder) {
		return problems[0].Problem.Reason
	}
	return reasonOrder[best]
}

// maxListed bounds messages: a NamespaceAlias over thousands of Services must not write a
// condition message the size of a book.
const maxListed = 5

// capped keeps at most maxListed items, and says how many it left out.
func capped(items []string) []string {
	if len(items) <= maxListed {
		return items
	}
	return append(slices.Clone(items[:maxListed]), fmt.Sprintf("and %d more", len(items)-maxListed))
}

func joinProblems(problems []HostResult) string {
	var messages []string
	for _, p := range problems {
		messages = append(messages, p.Problem.Message)
	}
	return strings.Join(capped(messages), "; ")
}

func servedMessage(results []HostResult) string {
	n := len(EntryNames(results))
	if n == 1 {
		return "1 ServiceEntry in place."
	}
	return fmt.Sprintf("%d ServiceEntries in place.", n)
}

func skippedMessage(results []HostResult) string {
	var skipped []string
	for _, r := range results {
		if r.Problem != nil && r.Problem.Unservable {
			skipped = append(skipped, r.ServiceName+" ("+r.Problem.Reason+")")
		}
	}
	if len(skipped) == 0 {
		return ""
	}
	return fmt.Sprintf("Skipped %d Service(s) that cannot be aliased: %s.", len(skipped), strings.Join(capped(skipped), ", "))
}

// CountedNames reads "ServiceEntry a" or "3 ServiceEntries: a, b, c", at most maxListed names.
func CountedNames(names []string, one, many string) string {
	if len(names) == 1 {
		return one + " " + names[0]
	}
	return fmt.Sprintf("%d %s: %s", len(names), many, strings.Join(capped(names), ", "))
}
