package cairn_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cairn-dev/cairn"
)

// progressLog records what a Progress callback was told.
type progressLog struct {
	mu    sync.Mutex
	calls int
	done  int64
	total int64
}

func (l *progressLog) fn(done, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.done, l.total = done, total
}

// TestProgressCallbacks: restore, check --read-data and gc tell their
// callbacks how far they are, ending at the total.
func TestProgressCallbacks(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	for _, name := range []string{"a.bin", "b.bin"} {
		big[0] = name[0]
		if err := os.WriteFile(filepath.Join(src, name), big, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	first, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var rl progressLog
	req, _, err := repo.Resolve(ctx, src, first.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Restore(ctx, []cairn.Request{req}, cairn.RestoreOptions{To: filepath.Join(base, "out"), Progress: rl.fn}); err != nil {
		t.Fatal(err)
	}
	if rl.calls != 2 || rl.done != 2<<20 || rl.total != 2<<20 {
		t.Errorf("restore progress: %d calls, last %d of %d; want 2 calls ending at %d of %d", rl.calls, rl.done, rl.total, 2<<20, 2<<20)
	}

	var cl progressLog
	rep, err := repo.CheckWith(ctx, cairn.CheckOptions{ReadData: true, Progress: cl.fn})
	if err != nil || !rep.OK() {
		t.Fatalf("check: %v %v", rep, err)
	}
	if cl.calls == 0 || cl.done != rep.BytesRead || cl.total < cl.done {
		t.Errorf("check progress: %d calls, last %d of %d; want the last at %d bytes read", cl.calls, cl.done, cl.total, rep.BytesRead)
	}
	var quiet progressLog
	if _, err := repo.CheckWith(ctx, cairn.CheckOptions{Progress: quiet.fn}); err != nil || quiet.calls != 0 {
		t.Errorf("check without ReadData called progress %d times (%v)", quiet.calls, err)
	}

	// b.bin goes: its chunks die, and the pack they share with a.bin is
	// repacked.
	if err := os.Remove(filepath.Join(src, "b.bin")); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Forget(ctx, cairn.ForgetOptions{IDs: []int64{first.ID}}); err != nil {
		t.Fatal(err)
	}
	var gl progressLog
	grep, err := repo.GC(ctx, cairn.GCOptions{MaxUnused: 0.01, Progress: gl.fn})
	if err != nil {
		t.Fatal(err)
	}
	if gl.calls != grep.RepackedPacks || (gl.calls > 0 && gl.done != gl.total) {
		t.Errorf("gc progress: %d calls for %d repacked packs, last %d of %d", gl.calls, grep.RepackedPacks, gl.done, gl.total)
	}
	if grep.RepackedPacks == 0 {
		t.Logf("gc repacked nothing (packs held only b.bin); progress not exercised: %+v", grep)
	}
}
