package sqlitefile

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/internal/beneath"
)

func openDirect(t *testing.T, path string) (*Direct, bool) {
	t.Helper()
	dir, err := beneath.Open(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	d, ok, err := OpenDirect(dir, filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Cleanup(d.Close)
	}
	return d, ok
}

// A closed, quiet WAL-mode database is read as it lies: its bytes are the
// file's, its check passes, and nothing is created beside it.
func TestDirectQuietWAL(t *testing.T) {
	src := filepath.Join(t.TempDir(), "closed.db")
	makeClosedWAL(t, src, 200)
	d, ok := openDirect(t, src)
	if !ok {
		t.Fatal("a closed, quiet WAL-mode database was not offered for a direct read")
	}
	got, err := io.ReadAll(io.NewSectionReader(d, 0, d.Size()))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || int64(len(got)) != d.Size() {
		t.Fatalf("read %d bytes, the file holds %d (Size %d), or they differ", len(got), len(want), d.Size())
	}
	if d.PageSize() != 4096 {
		t.Errorf("PageSize = %d, want 4096", d.PageSize())
	}
	problem, err := d.QuickCheck(context.Background())
	if err != nil || problem != nil {
		t.Fatalf("QuickCheck = %v, %v", problem, err)
	}
	if !d.Unchanged() {
		t.Error("Unchanged = false for a database nobody touched")
	}
	noSidecars(t, src)
}

// Databases whose file may not hold every commit, or may be written while
// it is read, are left to the backup API.
func TestDirectRefused(t *testing.T) {
	dir := t.TempDir()

	// Open with a live -wal.
	live := filepath.Join(dir, "live.db")
	makeClosedWAL(t, live, 10)
	w := open(t, live, "_journal_mode=WAL")
	exec1(t, w, "INSERT INTO t(v) VALUES('in the wal')")
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{live, live + "-wal"} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := openDirect(t, live); ok {
		t.Error("a database with a -wal was offered for a direct read")
	}

	// Modified just now.
	recent := filepath.Join(dir, "recent.db")
	makeClosedWAL(t, recent, 10)
	if err := os.Chtimes(recent, time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok := openDirect(t, recent); ok {
		t.Error("a database modified just now was offered for a direct read")
	}

	// Rollback-journal mode: a writer changes the file in place.
	rollback := filepath.Join(dir, "rollback.db")
	db := open(t, rollback, "_journal_mode=DELETE")
	exec1(t, db, "CREATE TABLE t(v)")
	db.Close()
	if err := os.Chtimes(rollback, old, old); err != nil {
		t.Fatal(err)
	}
	if _, ok := openDirect(t, rollback); ok {
		t.Error("a rollback-journal database was offered for a direct read")
	}

	// Not whole pages.
	ragged := filepath.Join(dir, "ragged.db")
	makeClosedWAL(t, ragged, 10)
	f, err := os.OpenFile(ragged, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("tail"))
	f.Close()
	if err := os.Chtimes(ragged, old, old); err != nil {
		t.Fatal(err)
	}
	if _, ok := openDirect(t, ragged); ok {
		t.Error("a database of a ragged size was offered for a direct read")
	}
}

// A writer that comes while the database is read directly shows in
// Unchanged, even once it has closed again (its checkpoint moved the file).
func TestDirectWriterDuringRead(t *testing.T) {
	src := filepath.Join(t.TempDir(), "closed.db")
	makeClosedWAL(t, src, 10)
	d, ok := openDirect(t, src)
	if !ok {
		t.Fatal("not offered for a direct read")
	}
	if _, err := io.ReadAll(io.NewSectionReader(d, 0, d.Size())); err != nil {
		t.Fatal(err)
	}
	w := open(t, src, "_journal_mode=WAL")
	exec1(t, w, "INSERT INTO t(v) VALUES('late')")
	if d.Unchanged() {
		t.Error("Unchanged = true with a writer's -wal beside the database")
	}
	w.Close()
	if d.Unchanged() {
		t.Error("Unchanged = true after a writer committed and closed")
	}
}
