package desired

import (
	"time"
)

// Claim is one alias's wish to serve a host. A host is served once, cluster-wide: the oldest
// claim wins.
type Claim struct {
	Kind      string
	Namespace string
	Name      string
	Created   time.Time
	// Holds is set when the claiming alias owns the host's entry now.
	Holds bool
}

// String names the claiming alias the way a person would look it up.
func (c Claim) String() string {
	return c.Kind + " " + c.Namespace + "/" + c.Name
}

// olderThan orders claims: the earlier creationTimestamp first; on an exact tie, which
// creationTimestamp's one-second resolution makes common, the alias that holds the host now;
// then namespace, name and kind, so that every replica and every reconcile picks the same
// winner. Without the holder rule, a newcomer created in the same second with a smaller name
// would take the host away, and the holder's entry would be deleted under its users.
func (c Claim) olderThan(o Claim) bool {
	if !c.Created.Equal(o.Created) {
		return c.Created.Before(o.Created)
	}
	if c.Holds != o.Holds {
		return c.Holds
	}
	if c.Namespace != o.Namespace {
		return c.Namespace < o.Namespace
	}
	if c.Name != o.Name {
		return c.Name < o.Name
	}
	return c.Kind < o.Kind
}

func (c Claim) Same(o Claim) bool {
	return c.Kind == o.Kind && c.Namespace == o.Namespace && c.Name == o.Name
}

// HostWinner returns the claim that serves a host among mine and its rivals, and whether it is
// mine.
func HostWinner(mine Claim, rivals []Claim) (Claim, bool) {
	winner := mine
	for _, r := range rivals {
		if r.Same(mine) {
			continue
		}
		if r.olderThan(winner) {
			winner = r
		}
	}
	return winner, winner.Same(mine)
}
