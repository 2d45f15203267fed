package sqlitefile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/internal/beneath"
)

// makeRows writes a database with a table t of n rows at path. For "wal"
// the rows stay in the -wal (beside its -shm), as a live writer leaves
// them; "wal-no-shm" then removes the -shm, which SQLite cannot read in
// place read-only (the scratch-copy path).
func makeRows(t *testing.T, path, kind string, n int) {
	t.Helper()
	mode := "DELETE"
	if kind != "rollback" {
		mode = "WAL"
	}
	live := filepath.Join(t.TempDir(), "live.db")
	db, err := sql.Open("sqlite3", "file:"+live+"?_journal_mode="+mode)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	exec1(t, db, "PRAGMA wal_autocheckpoint = 0")
	exec1(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	exec1(t, db, fmt.Sprintf("INSERT INTO t(v) SELECT 'row ' || value FROM "+
		"(WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c WHERE value < %d) SELECT value FROM c)", n))
	suffixes := []string{""}
	switch kind {
	case "wal":
		suffixes = append(suffixes, "-wal", "-shm")
	case "wal-no-shm":
		suffixes = append(suffixes, "-wal")
	}
	// Copied while the connection is open: closing it would checkpoint.
	for _, suffix := range suffixes {
		b, err := os.ReadFile(live + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// CopyAt never reads a database through a symlink. Once the database is
// opened beneath the directory, swapping its parent for a symlink to an
// outside directory (the race, made deterministic) must not lead SQLite
// there: not for the database, and not for its -wal and -shm, whether
// SQLite reads it in place or a scratch copy is made. The caller keeps
// its own descriptor on the inside database open throughout, as the
// snapshot does: a check that looked for any descriptor on the inside
// file found that one and let an outside copy through.
func TestCopyAtNeverReadsOutside(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"rollback", "wal", "wal-no-shm"} {
		t.Run(kind, func(t *testing.T) {
			root, outside, scratch := t.TempDir(), t.TempDir(), t.TempDir()
			sub := filepath.Join(root, "sub")
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			const inside, outsideRows = 300, 7
			makeRows(t, filepath.Join(sub, "x.db"), kind, inside)
			makeRows(t, filepath.Join(outside, "x.db"), kind, outsideRows)
			if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
				t.Fatal(err)
			}
			outsideBefore := listDir(t, outside)
			dir, err := beneath.Open(root)
			if err != nil {
				t.Fatal(err)
			}
			defer dir.Close()

			if _, err := CopyAt(ctx, dir, "link/x.db", filepath.Join(scratch, "1.db"), time.Second); !errors.Is(err, syscall.ELOOP) {
				t.Errorf("CopyAt through a symlinked parent: %v, want ELOOP", err)
			}

			held, err := dir.OpenFile("sub/x.db")
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			src, err := openSource(dir, "sub/x.db")
			if err != nil {
				t.Fatal(err)
			}
			defer src.close()
			if err := os.Rename(sub, filepath.Join(root, "sub-real")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, sub); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(scratch, "2.db")
			info, err := copySource(ctx, src, dst, time.Second)
			if err != nil {
				t.Fatalf("copy with the parent swapped for a symlink: %v", err)
			}
			if want := kind == "wal-no-shm"; (info.Recovered == "-wal") != want {
				t.Errorf("Recovered = %q; want a scratch copy: %v", info.Recovered, want)
			}
			db := open(t, dst, "mode=ro")
			if n := count(t, db, "SELECT count(*) FROM t"); n != inside {
				t.Errorf("copy has %d rows, want the inside database's %d (outside has %d)", n, inside, outsideRows)
			}
			db.Close()
			if after := listDir(t, outside); !slices.Equal(after, outsideBefore) {
				t.Errorf("the outside directory changed: %v -> %v", outsideBefore, after)
			}
		})
	}
}

// A database replaced in its directory between cairn's open and SQLite's
// is not the file whose header was read: the copy is refused with
// ErrMoved, and a second attempt copies the new file.
func TestCopyAtDatabaseReplaced(t *testing.T) {
	ctx := context.Background()
	root, scratch := t.TempDir(), t.TempDir()
	db := filepath.Join(root, "x.db")
	makeRows(t, db, "rollback", 10)
	makeRows(t, filepath.Join(root, "new.db"), "rollback", 20)
	dir, err := beneath.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	src, err := openSource(dir, "x.db")
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	if err := os.Rename(filepath.Join(root, "new.db"), db); err != nil {
		t.Fatal(err)
	}
	if _, err := copySource(ctx, src, filepath.Join(scratch, "1.db"), time.Second); !errors.Is(err, ErrMoved) {
		t.Errorf("copy of a replaced database: %v, want ErrMoved", err)
	}
	if _, err := CopyAt(ctx, dir, "x.db", filepath.Join(scratch, "2.db"), time.Second); err != nil {
		t.Errorf("copy again: %v", err)
	}
}
