package cairn_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
)

// TestGCSparesLiveTempObjects: checkpoints are written outside any lock,
// through a temp file in local/tmp, so gc, which empties local/tmp under
// its lock, must leave a temp object a live writer holds alone (even an
// old one: a slow disk), and still remove one left by a killed process
// (even a young one: the kill tests run gc right after the kill) and the
// rest of tmp/'s leftovers.
func TestGCSparesLiveTempObjects(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if _, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(base, "repo", "local", "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name string, age time.Duration) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte("half a checkpoint"), 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	live := write("object-123456", 3*time.Hour)
	held, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	dead := write("object-654321", 0)
	junk := write("leftover", 0)
	if _, err := repo.GC(ctx, cairn.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("gc removed a temp object a live process is writing: %v", err)
	}
	for _, p := range []string{dead, junk} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("gc left %s: %v", filepath.Base(p), err)
		}
	}
}
