package catalog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenWritesNothing: opening an existing catalog writes nothing to it.
// The auto_vacuum pragma Open passes for new catalogs used to rewrite the
// header of one already in incremental mode, a write transaction and a
// checkpoint on every command, even one that only reads. A new catalog,
// and an empty file, still get incremental auto-vacuum.
func TestOpenWritesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "catalog.db"), empty} {
		db, err := Open(ctx, path, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := pragmaInt(t, db.w, "auto_vacuum"); got != autoVacuumIncremental {
			t.Errorf("%s: auto_vacuum = %d, want %d (incremental)", filepath.Base(path), got, autoVacuumIncremental)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if !incrementalVacuum(path) {
			t.Errorf("%s: the header does not say incremental auto-vacuum", filepath.Base(path))
		}

		db, err = Open(ctx, path, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Meta(ctx, "chunker"); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
			t.Errorf("%s: opening it wrote %d bytes to its WAL", filepath.Base(path), fi.Size())
		}
		if got := pragmaInt(t, db.w, "auto_vacuum"); got != autoVacuumIncremental {
			t.Errorf("%s reopened: auto_vacuum = %d, want %d (incremental)", filepath.Base(path), got, autoVacuumIncremental)
		}
		db.Close()
	}
}

// TestOpenBesideWriter: opening an up-to-date catalog takes no write lock,
// so a command opens at once while another process commits a long
// transaction (the migration check began an immediate transaction at every
// open, and waited for the writer up to the busy timeout).
func TestOpenBesideWriter(t *testing.T) {
	ctx := context.Background()
	db, path := openNew(t)
	db.Close()
	other := rawDB(t, path)
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES ('zz-writer', 'x')"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		db, err := Open(ctx, path, false)
		if err == nil {
			_, err = db.Meta(ctx, "chunker")
			db.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		tx.Rollback()
		<-done
		t.Fatal("Open waited for another connection's write transaction")
	}
	tx.Rollback()
}

// TestOpenDamaged: a file with cairn's header whose pages SQLite cannot
// read is reported as damaged (ErrDamaged, which the CLI turns into the
// advice to restore catalog.db or rebuild it from the log), whether the
// damage is in the schema page or past it, and not as a migration error.
func TestOpenDamaged(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		at   int64 // where garbage overwrites the file
		n    int
	}{
		{"schema page", 100, 4000},
		{"every page after the header", 100, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "catalog.db")
			db, err := Open(ctx, path, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + "-wal"); err == nil {
				t.Fatalf("-wal left after a clean close: the damage below would not be all the truth")
			}
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			junk := make([]byte, tc.n)
			for i := range junk {
				junk[i] = byte(i*7 + 13)
			}
			if _, err := f.WriteAt(junk, tc.at); err != nil {
				t.Fatal(err)
			}
			f.Close()
			db, err = Open(ctx, path, false)
			if err == nil {
				db.Close()
				t.Fatal("a damaged catalog opened")
			}
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("err = %v, want ErrDamaged", err)
			}
		})
	}
}
