package crashtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillRecordNotApplied: SIGKILL right after a command's log record is
// durable and before the catalog transaction that applies it commits (the
// binary's CAIRN_CRASHTEST_KILL_AFTER_APPEND hook: a random kill rarely
// lands in that window). The transaction is gone with the process; the
// next command, whatever it is, applies the record and says nothing is
// lost, and the command's effect is there: the snapshot restores byte for
// byte, the forgotten snapshot is gone, the tag and the policy are set,
// gc's deletions and its merge of small packs are recorded. check
// --read-data then finds the log, the catalog and the packs in agreement.
func TestKillRecordNotApplied(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	newCorpus(t, e.src, 7, corpusSpec{small: 40, big: 1, bigSize: 1 << 20})
	h := history{}
	state := scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)

	killed := func(args ...string) {
		t.Helper()
		e.extraEnv = []string{"CAIRN_CRASHTEST_KILL_AFTER_APPEND=1"}
		r := e.run(args...)
		e.extraEnv = nil
		if !r.killed {
			t.Fatalf("cairn %s was not killed after appending its record: %v", strings.Join(args, " "), r)
		}
	}
	// The next command applies what the killed one wrote.
	next := func(args ...string) result {
		t.Helper()
		r := e.must(args...)
		if !strings.Contains(r.stderr, "applied 1 record that an interrupted command had written to the log; nothing is lost") {
			t.Fatalf("cairn %s after the kill did not apply the record: %v", strings.Join(args, " "), r)
		}
		return r
	}

	// snap: new and changed files.
	for i := range 5 {
		writeOld(t, filepath.Join(e.src, fmt.Sprintf("d0%d/new.bin", i)), randomBytes(40000, byte(i)))
	}
	state = scan(t, e.src)
	killed("snap", e.src)
	next("snapshots")
	if added := e.adopt(h, state); len(added) != 1 {
		t.Fatalf("the killed snap's record gave %d snapshots, want 1", len(added))
	}
	e.verifyAll(h)

	// tag
	killed("tag", "--add", "kept", "1")
	r := next("snapshots", "--tag", "kept")
	if !strings.Contains(r.stdout, "kept") {
		t.Fatalf("the killed tag's record was not applied: %v", r)
	}

	// policy set
	killed("policy", "set", e.src, "--keep-last", "37")
	if r := next("policy", "show", e.src); !strings.Contains(r.stdout, "keep-last 37") {
		t.Fatalf("the killed policy set's record was not applied: %v", r)
	}

	// forget, then gc with something to delete.
	killed("forget", "1")
	next("snapshots")
	if added := e.adopt(h, state); len(added) != 0 || len(h) != 1 {
		t.Fatalf("after the killed forget: snapshots %v", sortedIDs(h))
	}
	// --grace 0: the gc drops rows, and so appends a record, in this run
	// (with a grace it only writes a plan).
	killed("gc", "--grace", "0")
	next("check", "--read-data")
	e.verifyAll(h)

	// The log replays into the same catalog: check compares them.
	if n := e.checkData(); n != 0 {
		t.Logf("%d unreferenced packs after the killed gc", n)
	}

	// Repack: with nothing left to drop, gc's first record is the merge of
	// the small packs the snapshots wrote into a new one. Applied after the
	// kill, the catalog names the new pack; the old ones are then
	// unreferenced, and the next gc deletes them.
	packs := func() int {
		m, _ := filepath.Glob(filepath.Join(e.repo, "packs", "*", "*.pack"))
		return len(m)
	}
	e.must("gc", "--grace", "0") // the unreferenced packs of the killed gc go first
	for i := range 2 {
		writeOld(t, filepath.Join(e.src, fmt.Sprintf("small-%d.txt", i)), randomBytes(3000, byte(50+i)))
		state = scan(t, e.src)
		e.must("snap", e.src)
		e.adopt(h, state)
	}
	before := packs()
	killed("gc", "--grace", "0")
	next("check", "--read-data")
	e.verifyAll(h)
	r = e.must("gc", "--grace", "0")
	// The merge is the killed gc's, from its record: this gc merges
	// nothing and only deletes the packs it replaced.
	if after := packs(); after >= before || !strings.Contains(r.stdout, " 0 small merged") {
		t.Fatalf("repack: %d packs before the killed gc, %d after the next one: %v", before, after, r)
	}
	e.verifyAll(h)
	e.must("repair", "catalog")
	e.verifyAll(h)
	last := sortedIDs(h)
	e.must("restore", "--snapshot", strconv.FormatInt(last[len(last)-1], 10), "--to", e.fresh("final"), e.src)
}

// TestSnapWaitingOnKilledSnap: a snap that waits for the source lock
// while another snap of the same source appends its record and is killed
// before applying it. The waiting snap opened the catalog before that
// record existed; once it has the lock it must see the dead snap's
// snapshot (its record is applied) and commit its own after it, instead
// of failing with a conflict at commit.
func TestSnapWaitingOnKilledSnap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCorpus(t, e.src, 9, corpusSpec{small: 60, big: 4, bigSize: 2 << 20})
	h := history{}
	state := scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)

	c.mutate(true)
	state = scan(t, e.src)
	e.extraEnv = []string{"CAIRN_CRASHTEST_KILL_AFTER_APPEND=1"}
	first := e.start("snap", e.src)
	e.extraEnv = nil
	// Start the second snap once the first holds the source lock.
	for !sourceLockHeld(t, e.repo) {
		select {
		case <-first.done:
			t.Fatalf("the first snap ended before it was seen holding the source lock: %v", first.wait())
		case <-time.After(time.Millisecond):
		}
	}
	second := e.start("snap", e.src)
	if r := first.wait(); !r.killed {
		t.Fatalf("the first snap was not killed after appending its record: %v", r)
	}
	r := second.wait()
	assertNoPanic(t, r)
	if r.code != 0 {
		t.Fatalf("the snap that waited for the killed one failed: %v", r)
	}
	if added := e.adopt(h, state); len(added) != 2 {
		t.Fatalf("want the killed snap's snapshot and the waiting one's, got %v (%v)", added, r)
	}
	e.verifyAll(h)
}

// sourceLockHeld reports whether some process holds a source lock of repo.
func sourceLockHeld(t *testing.T, repo string) bool {
	t.Helper()
	locks, err := filepath.Glob(filepath.Join(repo, "local", "locks", "*.lock"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range locks {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close() // also drops a lock we got
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true
		}
	}
	return false
}
