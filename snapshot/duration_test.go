package snapshot

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// TestDurationIncludesCommit holds the catalog's write lock from another
// connection while the snapshot runs, so its commit waits for the lock:
// the reported duration must include that wait. It used to stop at the
// moment the commit was prepared (at 1M files, 20.9 s printed for a
// 44.65 s run).
func TestDurationIncludesCommit(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, filepath.Join(t.TempDir(), "repo"))
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.json"), `{"a": 1}`)
	writeFile(t, filepath.Join(src, "b.txt"), "b")

	other, err := sql.Open("sqlite3", "file:"+filepath.Join(r.dir, "catalog.db")+"?_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	tx, err := other.BeginTx(ctx, nil) // takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	const hold = 400 * time.Millisecond
	released := make(chan struct{})
	go func() {
		time.Sleep(hold)
		tx.Rollback()
		close(released)
	}()
	start := time.Now()
	res := r.snap(t, src, Options{})
	<-released

	// The commit could not finish before the lock was released, hold
	// after start; Run read its clock after start.
	if res.Duration < hold-10*time.Millisecond {
		t.Fatalf("Duration = %v, but the commit waited until %v after the run started", res.Duration, hold)
	}
	if elapsed := time.Since(start); res.Duration > elapsed {
		t.Fatalf("Duration = %v, longer than the call itself (%v)", res.Duration, elapsed)
	}
}
