package crashtest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGCWaitingForLockSeesRecordOfKilledSnap: a gc opens the repository
// (applying the log to the catalog) and then waits for the repository lock
// while a snapshot runs; the snapshot appends its record and is killed
// before its catalog transaction commits. The record is committed history:
// the next command applies it. The gc that was waiting must apply it too
// before it plans, or it takes the chunks the snapshot reuses for dead
// (here: those of a forgotten snapshot, which the new snapshot found in
// the catalog and named by id) and deletes them and their pack, leaving a
// snapshot that no longer restores.
func TestGCWaitingForLockSeesRecordOfKilledSnap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	writeOld(t, filepath.Join(e.src, "big.bin"), randomBytes(300000, 3))
	writeOld(t, filepath.Join(e.src, "small.txt"), []byte("small\n"))
	e.must("snap", e.src)
	// Snapshot 1 goes; its chunks stay in the catalog until a gc.
	e.must("forget", "1")

	lock := filepath.Join(e.repo, "local", "lock")
	hold := startHolder(t, 0, true, lock) // a snapshot-like shared holder
	gc := e.start("gc", "--grace", "0")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(gc.stderr.String(), "waiting for") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(gc.stderr.String(), "waiting for") {
		t.Fatalf("gc did not wait for the repository lock: %s", gc.stderr.String())
	}
	state := scan(t, e.src)
	e.extraEnv = []string{"CAIRN_CRASHTEST_KILL_AFTER_APPEND=1"}
	r := e.run("snap", e.src)
	e.extraEnv = nil
	if !r.killed {
		t.Fatalf("snap was not killed after appending its record: %v", r)
	}
	hold.kill()
	if r := gc.wait(); r.code != 0 {
		t.Fatalf("gc: %v", r)
	}
	h := history{}
	if added := e.adopt(h, state); len(added) != 1 {
		t.Fatalf("the killed snap's record gave snapshots %v, want one", added)
	}
	e.verifyAll(h)
	e.checkData()
}
