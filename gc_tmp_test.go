package cairn_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
)

// TestGCSparesLiveTempObjects: checkpoints are written outside any lock,
// through a temp file in local/tmp, so gc, which empties local/tmp under
// its lock, must leave a young temp object alone (a process may be
// writing it), and still remove an old one (left by a crash) and the
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
	young := write("object-123456", 0)
	old := write("object-654321", 3*time.Hour)
	junk := write("leftover", 0)
	if _, err := repo.GC(ctx, cairn.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("gc removed a temp object a live process may be writing: %v", err)
	}
	for _, p := range []string{old, junk} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("gc left %s: %v", filepath.Base(p), err)
		}
	}
}
