package cairn

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestPlanReplicaPrune: what a replication removes from its target is
// what this repository no longer holds and its log says went (pruned
// behind a checkpoint, a pack no row names), never a gap of damage here,
// and a target holding records beyond this repository's is refused.
func TestPlanReplicaPrune(t *testing.T) {
	const w, v = "0123456789abcdef", "fedcba9876543210"
	rec := func(w string, seq int) string { return "log/" + w + "/" + pad(seq) }
	cp := func(w string, seq int) string { return "checkpoints/" + w + "/" + pad(seq) }
	set := func(keys ...string) map[string]int64 {
		m := map[string]int64{}
		for _, k := range keys {
			m[k] = 10
		}
		return m
	}
	// Here: checkpoints 4 and 8 of w, records 5-11 (1-4 pruned behind
	// the older of the two kept checkpoints) but record 10 lost to
	// damage, and no gc plan any more.
	here := set("cairn.repo", "keys/k1.key", cp(w, 4), cp(w, 8), rec(w, 5), rec(w, 6), rec(w, 7), rec(w, 8), rec(w, 9), rec(w, 11))
	herePacks := set("aa", "bb")
	cataloged := map[string]bool{"aa": true, "bb": true, "lost": true}

	for _, c := range []struct {
		name        string
		have, packs map[string]int64
		objects     []string
		removed     []string
		ahead       bool
	}{
		{name: "pruned records and checkpoints, dropped packs",
			have:    set("cairn.repo", "keys/k1.key", "keys/old.key", cp(w, 2), cp(w, 4), rec(w, 1), rec(w, 2), rec(w, 3), rec(w, 4), rec(w, 5), rec(w, 10), "gc/plan-1", "locks/gc"),
			packs:   set("aa", "gone1", "gone2", "lost"),
			objects: []string{cp(w, 2), "gc/plan-1", rec(w, 1), rec(w, 2), rec(w, 3), rec(w, 4)},
			removed: []string{"gone1", "gone2"}},
		{name: "a record beyond this log's end", have: set(rec(w, 5), rec(w, 12)), ahead: true},
		{name: "a checkpoint beyond this log's end", have: set(cp(w, 12)), ahead: true},
		{name: "a writer this repository does not know", have: set(rec(v, 1)), ahead: true},
		{name: "nothing to do", have: set("cairn.repo", rec(w, 5)), packs: set("aa")},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := planReplicaPrune(c.have, c.packs, here, herePacks, cataloged)
			if c.ahead {
				if !errors.Is(err, ErrReplicaAhead) {
					t.Fatalf("plan: %v, want ErrReplicaAhead", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.objects, c.objects) || !slices.Equal(p.packs, c.removed) {
				t.Errorf("plan removes objects %v and packs %v; want %v and %v", p.objects, p.packs, c.objects, c.removed)
			}
		})
	}
}

func pad(n int) string { return fmt.Sprintf("%020d", n) }
