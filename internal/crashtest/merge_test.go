package crashtest

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// TestKillGCMerge kills cairn gc while it merges small packs: every round
// takes ten small snapshots (a pack each), forgets the older ones (so some
// chunks die too) and runs gc, killed at a random point. Whatever the kill
// interrupted (the merged pack's upload, the catalog transaction that
// repoints the chunks, the deletion of the old packs), the repository
// checks clean with --read-data and every snapshot restores byte for byte;
// a full gc afterwards leaves one pack.
func TestKillGCMerge(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kill tests are skipped under -short")
	}
	_, kills, _, _ := killBudget(t)
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(14, 14))
	h := history{}
	n := 0
	round := func() {
		for range 10 {
			n++
			writeOld(t, filepath.Join(e.src, fmt.Sprintf("d%d", n%5), fmt.Sprintf("f%04d.bin", n)), randomBytes(3<<10, byte(n)))
			writeOld(t, filepath.Join(e.src, "state.json"), fmt.Appendf(nil, `{"round": %d, "pad": %q}`, n, randomBytes(64, byte(n))))
			state := scan(t, e.src)
			e.must("snap", e.src)
			e.adopt(h, state)
		}
		e.trim(h, 4)
	}
	round()
	// --grace 0: the merge runs in the gc that plans it (with a grace it
	// waits for a later gc), so the kills land in it.
	typical := e.must("gc", "--grace", "0").dur
	stats := newKillStats("gc merging small packs")
	for i := 0; stats.kills < kills && i < 3*kills; i++ {
		round()
		before := len(storePacks(t, e.repo))
		delay := randomDelay(rng, typical)
		r := e.start("gc", "--grace", "0").killAfter(delay)
		assertNoPanic(t, r)
		if !r.killed {
			if r.code != 0 {
				t.Fatalf("gc (not killed) failed: %v", r)
			}
			typical = ewma(typical, r.dur)
		}
		orphans := e.checkData()
		after := len(storePacks(t, e.repo))
		outcome := "nothing merged yet"
		switch {
		case after == 1:
			outcome = "merged"
		case orphans > 0:
			outcome = "orphan packs left"
		case after < before:
			outcome = "some packs deleted"
		}
		stats.add(delay, typical, r, outcome)
		e.verifyAll(h)
	}
	e.must("gc", "--grace", "0")
	if n := e.checkData(); n != 0 {
		t.Fatalf("a full gc after the kills left %d orphan packs", n)
	}
	if n := len(storePacks(t, e.repo)); n != 1 {
		t.Fatalf("a full gc left %d packs; the live data fits in one", n)
	}
	e.verifyAll(h)
	stats.log(t)
}
