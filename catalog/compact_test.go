package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// fillAndEmpty writes n rows of 1 KiB and deletes them again: the pages
// they took stay in the file as free pages.
func fillAndEmpty(t *testing.T, db *DB, n int) {
	t.Helper()
	ctx := context.Background()
	pad := strings.Repeat("x", 1024)
	for _, stmt := range []string{"INSERT INTO meta(key, value) VALUES (?, ?)", "DELETE FROM meta WHERE key = ?"} {
		err := db.Write(ctx, func(tx *sql.Tx) error {
			for i := range n {
				args := []any{fmt.Sprintf("filler-%d", i)}
				if strings.HasPrefix(stmt, "INSERT") {
					args = append(args, pad)
				}
				if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompactFileShrinksCatalog: a new catalog uses incremental
// auto-vacuum; one made before that (auto_vacuum none) is switched by its
// first compaction; either way the file shrinks once rows are deleted
// (catalog.db never shrank after forget and gc).
func TestCompactFileShrinksCatalog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, err := Open(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// (The writer's view: a connection answers PRAGMA auto_vacuum from
	// what it read at its last transaction, which a reader may not have
	// had since the VACUUM below.)
	if got := pragmaInt(t, db.w, "auto_vacuum"); got != autoVacuumIncremental {
		t.Fatalf("new catalog: auto_vacuum = %d, want %d (incremental)", got, autoVacuumIncremental)
	}

	// A catalog as older cairns created it.
	if _, err := db.w.ExecContext(ctx, "PRAGMA auto_vacuum = NONE"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, "VACUUM"); err != nil {
		t.Fatal(err)
	}
	if got := pragmaInt(t, db.w, "auto_vacuum"); got != autoVacuumNone {
		t.Fatalf("fixture: auto_vacuum = %d, want none", got)
	}
	fillAndEmpty(t, db, 2000)
	c, err := db.CompactFile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Converted || c.After >= c.Before/2 || pragmaInt(t, db.w, "auto_vacuum") != autoVacuumIncremental {
		t.Fatalf("old catalog: %+v, auto_vacuum %d; want it switched to incremental and under half its size",
			c, pragmaInt(t, db.w, "auto_vacuum"))
	}
	if fileSize(path) != c.After {
		t.Fatalf("catalog is %d bytes, compaction reported %d", fileSize(path), c.After)
	}

	// From now on incremental_vacuum does it, without rewriting the file.
	fillAndEmpty(t, db, 2000)
	c, err = db.CompactFile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Converted || c.After >= c.Before/2 {
		t.Fatalf("switched catalog: %+v; want it under half its size without another VACUUM", c)
	}
	t.Logf("after 2000 KiB written and deleted: %d -> %d bytes", c.Before, c.After)
}
