package cairn

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestLostLocalAfterRecordsPruned: the whole local/ of a repository with
// a password is lost while its log holds a checkpoint and no record (just
// after cairn upgrade, or after cairn repair log re-based it). The writer
// id was taken over only from log/, which had no writer any more: the
// repository opened under a new writer id as a new, empty one, every
// snapshot gone from view (and the next gc would delete their packs).
func TestLostLocalAfterRecordsPruned(t *testing.T) {
	ctx := context.Background()
	pw := Options{Password: []byte("lost local pw")}
	check := func(t *testing.T, repo string, want int) {
		t.Helper()
		if err := os.RemoveAll(filepath.Join(repo, localName)); err != nil {
			t.Fatal(err)
		}
		r, err := Open(ctx, repo, pw)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		snaps, err := r.Snapshots(ctx, SnapshotFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(snaps) != want {
			t.Fatalf("after losing local/: %d snapshots, want %d", len(snaps), want)
		}
	}
	t.Run("upgrade", func(t *testing.T) {
		repo, _ := newFormat1(t)
		if _, err := Upgrade(ctx, repo, pw); err != nil {
			t.Fatal(err)
		}
		check(t, repo, 2)
	})
	t.Run("repair-log", func(t *testing.T) {
		base := t.TempDir()
		repo, src := filepath.Join(base, "repo"), filepath.Join(base, "src")
		os.MkdirAll(src, 0o755)
		os.WriteFile(filepath.Join(src, "a.txt"), []byte("a"), 0o644)
		backdate(t, src)
		o := pw
		o.Create = true
		r, err := Open(ctx, repo, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Snapshot(ctx, src, SnapshotOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.RepairLog(ctx); err != nil {
			t.Fatal(err)
		}
		r.Close()
		check(t, repo, 1)
	})
}
