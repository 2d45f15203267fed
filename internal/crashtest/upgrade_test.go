package crashtest

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/catalog"
)

// TestKillUpgrade kills cairn upgrade of a format-1 repository at random
// points. After every kill the repository is either the old one or the
// new one, and every snapshot restores byte for byte; the next upgrade
// finishes (or redoes) the job, after which check --read-data is clean and
// a snapshot of the unchanged source stores nothing.
func TestKillUpgrade(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kill tests are skipped under -short")
	}
	const kills = 6
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(7, 7))
	c := newCorpus(t, e.src, 3, killCorpus)

	// A format-1 repository as cairn made them before format 2: catalog.db
	// at the top (cairn opens such a directory as format 1), two snapshots.
	if err := os.Mkdir(e.repo, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(context.Background(), filepath.Join(e.repo, "catalog.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	h := history{}
	state := scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)
	c.mutate(true)
	state = scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)
	// Files changed within 2 s of a snapshot are read again by the next
	// one; format 2 chunks with a keyed gear table, so such a re-read
	// after the upgrade would store them again (the upgrade keeps the
	// chunks as they are). One more snapshot later settles them, as any
	// snapshot a while after the last change does.
	time.Sleep(2100 * time.Millisecond)
	e.must("snap", e.src)
	e.adopt(h, state)
	if _, err := os.Stat(filepath.Join(e.repo, "cairn.repo")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the test's repository is not format 1")
	}
	h0 := maps.Clone(h)
	template := e.fresh("format1")
	copyTree(t, e.repo, template)
	reset := func() {
		if err := os.RemoveAll(e.repo); err != nil {
			t.Fatal(err)
		}
		copyTree(t, template, e.repo)
	}

	reset()
	r := e.must("upgrade")
	typical := r.dur
	if !regexp.MustCompile(`^upgraded .* to format 2: \d+ packs? re-encoded`).MatchString(r.stdout) {
		t.Fatalf("upgrade said: %v", r)
	}
	format := map[bool]int{}
	for i := 0; i < kills; i++ {
		reset()
		h := maps.Clone(h0)
		delay := randomDelay(rng, typical)
		r := e.start("upgrade").killAfter(delay)
		assertNoPanic(t, r)
		if !r.killed {
			if r.code != 0 {
				t.Fatalf("upgrade %d (not killed) failed: %v", i, r)
			}
			typical = ewma(typical, r.dur)
		}
		_, err := os.Stat(filepath.Join(e.repo, "cairn.repo"))
		switched := err == nil
		format[switched]++
		t.Logf("kill %d after %v (typical %v): killed %v, switched to format 2: %v", i, delay.Round(time.Millisecond), typical.Round(time.Millisecond), r.killed, switched)
		// Old or new, every snapshot is there and restores.
		e.verifyAll(h)
		if !switched {
			// The old repository still works for reading and writing
			// before it is upgraded again.
			e.must("check")
		}
		e.must("upgrade")
		if _, err := os.Stat(filepath.Join(e.repo, "catalog.db")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("after kill %d and a second upgrade, the old catalog is left", i)
		}
		e.verifyAll(h)
		e.checkData()
		snap := e.must("snap", e.src)
		if !regexp.MustCompile(`added 0 B`).MatchString(snap.stdout) {
			t.Fatalf("a snapshot of the unchanged source after the upgrade stored data: %v", snap)
		}
		if added := e.adopt(h, state); len(added) != 1 {
			t.Fatalf("the snapshot after the upgrade added %v", added)
		}
		e.verifyNewest(e.src, h)
	}
	t.Logf("after the kills: %d left format 1, %d format 2", format[false], format[true])
}
