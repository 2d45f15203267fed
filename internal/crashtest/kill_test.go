package crashtest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// killCorpus is big enough that snap, gc and restore each take a few
// hundred milliseconds, so random kills land in every phase.
var killCorpus = corpusSpec{small: 150, big: 3, bigSize: 2 << 20}

// randomDelay picks a kill point in [0, 1.5 * typical): the typical
// duration comes from runs that finished, and a loaded machine stretches
// the others.
func randomDelay(rng *rand.Rand, typical time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(typical)*3/2 + 1))
}

// ewma folds a finished run's duration into the typical one.
func ewma(typical, d time.Duration) time.Duration {
	return (typical + d) / 2
}

// TestKillSnap kills cairn snap at random points. After every kill the
// repository checks clean with --read-data, every committed snapshot
// restores exactly what its source held, and the next snap works.
func TestKillSnap(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kill tests are skipped under -short")
	}
	kills, _, _, _ := killBudget(t)
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 1))
	c := newCorpus(t, e.src, 1, killCorpus)
	h := history{}

	state := scan(t, e.src)
	typical := e.must("snap", e.src).dur
	e.adopt(h, state)
	stats := newKillStats("snap")
	for i := 0; stats.kills < kills && i < 3*kills; i++ {
		c.mutate(true) // always heavy, so the typical duration fits every run
		state = scan(t, e.src)
		tmpBefore := e.tmpFiles()
		delay := randomDelay(rng, typical)
		r := e.start("snap", e.src).killAfter(delay)
		assertNoPanic(t, r)
		if !r.killed {
			if r.code != 0 {
				t.Fatalf("snap %d (not killed) failed: %v", i, r)
			}
			typical = ewma(typical, r.dur)
		}
		added := e.adopt(h, state)
		if len(added) > 1 {
			t.Fatalf("one snap committed %d snapshots: %v", len(added), added)
		}
		tmpLeft := e.tmpFiles() - tmpBefore
		orphans := e.checkData()
		outcome := "nothing written"
		switch {
		case len(added) == 1:
			outcome = "committed"
		case tmpLeft > 0:
			outcome = "pack upload in progress"
		case orphans > 0:
			outcome = "packs sealed, not committed"
		}
		stats.add(delay, typical, r, outcome)
		e.verifyAll(h)
		e.trim(h, 1)
		if i%4 == 3 {
			// Now and then the next command is a gc, which also keeps
			// check --read-data from reading ever more dead data (with no
			// grace: the kill's packs go, the next snap stores them again).
			e.must("gc", "--grace", "0")
		}
	}
	// The next command works, and gc clears what the kills left.
	c.mutate(true)
	state = scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)
	e.must("gc", "--grace", "0")
	if n := e.checkData(); n != 0 {
		t.Fatalf("gc left %d orphan packs", n)
	}
	if n := e.tmpFiles(); n != 0 {
		t.Fatalf("gc left %d files in tmp/", n)
	}
	e.verifyAll(h)
	stats.log(t)
}

// TestKillGC kills cairn gc at random points while it has work: every
// round changes the source (so chunks die), snapshots it, forgets all
// but the newest snapshot, and runs gc --max-unused 1%, killed.
func TestKillGC(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kill tests are skipped under -short")
	}
	_, kills, _, _ := killBudget(t)
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(2, 2))
	c := newCorpus(t, e.src, 2, killCorpus)
	h := history{}
	state := scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)

	// One uninterrupted round measures how long gc takes.
	round := func() {
		c.mutate(true)
		state := scan(t, e.src)
		e.must("snap", e.src)
		e.adopt(h, state)
		e.must("forget", "--keep-last", "1")
		e.adopt(h, nil)
		if len(h) != 1 {
			t.Fatalf("forget --keep-last 1 left %d snapshots", len(h))
		}
	}
	round()
	typical := e.must("gc", "--max-unused", "1%").dur
	stats := newKillStats("gc")
	for i := 0; stats.kills < kills && i < 3*kills; i++ {
		round()
		tmpBefore := e.tmpFiles()
		delay := randomDelay(rng, typical)
		// Every other round --grace 0: the plan is carried out in the
		// same run, so kills land among its deletions and repacks too.
		args := []string{"gc", "--max-unused", "1%"}
		if i%2 == 0 {
			args = append(args, "--grace", "0")
		}
		r := e.start(args...).killAfter(delay)
		assertNoPanic(t, r)
		if !r.killed {
			if r.code != 0 {
				t.Fatalf("gc (not killed) failed: %v", r)
			}
			typical = ewma(typical, r.dur)
		}
		orphans := e.checkData()
		outcome := "no orphan left"
		switch {
		case e.tmpFiles() > tmpBefore:
			outcome = "repack upload in progress"
		case orphans > 0:
			outcome = "orphan packs left"
		}
		stats.add(delay, typical, r, outcome)
		e.verifyAll(h)
	}
	r := e.must("gc", "--max-unused", "1%", "--grace", "0")
	if n := e.checkData(); n != 0 {
		t.Fatalf("a full gc after the kills left %d orphan packs: %v", n, r)
	}
	e.verifyAll(h)
	c.mutate(false)
	state = scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)
	e.verifyAll(h)
	stats.log(t)
}

// TestKillRestore kills cairn restore at random points, in place (over a
// source whose files differ from the snapshot) and with --to. In place,
// every path afterwards holds its old content or the snapshot's, never a
// mix; nothing appears outside the target; the "pre-restore" snapshot,
// if it committed, restores the old state.
func TestKillRestore(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kill tests are skipped under -short")
	}
	_, _, inPlace, to := killBudget(t)
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(3, 3))
	c := newCorpus(t, e.src, 3, killCorpus)
	h := history{}
	stateA := scan(t, e.src)
	e.must("snap", e.src)
	idA := e.adopt(h, stateA)[0]
	// B rewrites most files, so restoring A over B (and back) writes a lot.
	c.mutate(true)
	c.mutate(true)
	for _, rel := range c.files("") {
		if rng.IntN(3) > 0 {
			c.write(rel, c.bytes(int(stateA[rel].size)+1+rng.IntN(100)))
		}
	}
	stateB := scan(t, e.src)
	e.must("snap", e.src)
	idB := e.adopt(h, stateB)[0]
	targets := []int64{idA, idB}

	// Uninterrupted runs measure both kinds of restore.
	typicalInPlace := e.must("restore", "--snapshot", strconv.FormatInt(idA, 10), e.src).dur
	e.adopt(h, stateB) // its pre-restore snapshot saw B
	dir := e.fresh("restore-to")
	typicalTo := e.must("restore", "--snapshot", strconv.FormatInt(idB, 10), "--to", dir, e.src).dur
	os.RemoveAll(dir)

	stats := newKillStats("restore in place")
	leftovers := 0
	for i := 0; stats.kills < inPlace && i < 3*inPlace; i++ {
		target := targets[(i+1)%2]
		before := scan(t, e.src)
		delay := randomDelay(rng, typicalInPlace)
		r := e.start("restore", "--snapshot", strconv.FormatInt(target, 10), e.src).killAfter(delay)
		assertNoPanic(t, r)
		if !r.killed {
			if r.code != 0 {
				t.Fatalf("restore (not killed) failed: %v", r)
			}
			typicalInPlace = ewma(typicalInPlace, r.dur)
		}
		assertOnly(t, e.base, "src", "repo")
		after := scan(t, e.src)
		changed, temps := checkOldOrNew(t, before, h[target], after)
		leftovers += len(temps)
		added := e.adopt(h, before) // a pre-restore snapshot holds the old state
		if len(temps) > 0 {
			// A kill leaves the restore's temp files, partial by nature:
			// recognisable by name, they must never reach a snapshot
			// (from which they would be restored as real files).
			for _, tmp := range temps {
				delete(after, tmp)
			}
			e.must("snap", e.src)
			e.adopt(h, after)
			for _, tmp := range temps {
				os.Remove(filepath.Join(e.src, tmp))
			}
		}
		outcome := "before the pre-restore snapshot"
		switch {
		case changed > 0:
			outcome = "renaming into place"
		case len(temps) > 0:
			outcome = "staging files"
		case len(added) > 0:
			outcome = "after the pre-restore snapshot"
		}
		stats.add(delay, typicalInPlace, r, outcome)
		e.checkData()
		// Every snapshot restores: the target and any new one now (a
		// restore writes nothing into the repository but its undo
		// snapshot), A and B both again at the end.
		for _, id := range sortedIDs(h) {
			if id == idA || id == idB {
				if id == target {
					e.verifySnapshot(id, e.src, h[id])
				}
				continue
			}
			e.verifySnapshot(id, e.src, h[id])
			e.must("forget", strconv.FormatInt(id, 10))
			delete(h, id)
		}
	}
	t.Logf("restore in place: %d temp files left by kills", leftovers)
	stats.log(t)

	stats = newKillStats("restore --to")
	for i := 0; stats.kills < to && i < 3*to; i++ {
		target := targets[i%2]
		dir := e.fresh("restore-to")
		delay := randomDelay(rng, typicalTo)
		r := e.start("restore", "--snapshot", strconv.FormatInt(target, 10), "--to", dir, e.src).killAfter(delay)
		assertNoPanic(t, r)
		if !r.killed {
			if r.code != 0 {
				t.Fatalf("restore --to (not killed) failed: %v", r)
			}
			typicalTo = ewma(typicalTo, r.dur)
		}
		written, staged := 0, false
		if _, err := os.Stat(dir); err == nil {
			after := scan(t, dir)
			var temps []string
			written, temps = checkOldOrNew(t, manifest{}, h[target], after)
			for _, p := range temps {
				// A restore into an empty directory builds the tree in a
				// staging directory; what is under a final name was
				// checked complete above.
				staged = staged || strings.HasPrefix(p, ".cairn-tmp-stage-")
			}
		}
		outcome := "nothing written"
		switch {
		case written >= len(h[target]):
			outcome = "everything written"
		case written > 0:
			outcome = "partly written"
		}
		if staged {
			outcome += ", a staging directory left"
		}
		stats.add(delay, typicalTo, r, outcome)
		// The next restore to the same place completes it.
		e.must("restore", "--snapshot", strconv.FormatInt(target, 10), "--to", dir, e.src)
		got := scan(t, dir)
		for p := range got {
			if isTemp(p) {
				delete(got, p) // left by the kill; see the in-place case
			}
		}
		if d := diffManifest(h[target], got, true); len(d) > 0 {
			t.Fatalf("restore after a killed restore differs:\n%s", strings.Join(d, "\n"))
		}
		os.RemoveAll(dir)
	}
	stats.log(t)

	// Afterwards: a snapshot of the source never holds a restore's temp
	// file, and everything still checks and restores.
	state := scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)
	e.checkData()
	e.verifyAll(h)
}

// isTemp reports whether a path is an interrupted restore's temp file,
// or inside the staging directory of a restore --to an empty directory
// (.cairn-tmp-stage-*), which holds the tree until it is moved into place.
func isTemp(rel string) bool {
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if strings.HasPrefix(part, ".cairn-tmp-") {
			return true
		}
	}
	return false
}

// checkOldOrNew asserts that after an interrupted restore every path holds
// either what it held before or what the snapshot holds (absent counts as
// "before" for a path that did not exist), with no other path appearing
// except the restore's own temp files. It returns how many paths now hold
// the snapshot's content where they did not before, and the temp files.
func checkOldOrNew(t *testing.T, before, snap, after manifest) (changed int, temps []string) {
	t.Helper()
	for p, a := range after {
		if isTemp(p) {
			temps = append(temps, p)
			continue
		}
		b, inBefore := before[p]
		s, inSnap := snap[p]
		switch {
		case inBefore && a.sameContent(b):
		case inSnap && a.sameContent(s):
			changed++
		case inSnap && a.typ == 'd' && s.typ == 'd':
			changed++
		default:
			t.Fatalf("after a killed restore %s is %v: neither the old content (%v, existed %v) nor the snapshot's (%v, in snapshot %v)",
				p, a, b, inBefore, s, inSnap)
		}
	}
	for p, b := range before {
		if _, ok := after[p]; !ok {
			t.Fatalf("a killed restore removed %s (%v)", p, b)
		}
	}
	return changed, temps
}
