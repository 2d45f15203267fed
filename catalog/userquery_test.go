package catalog

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func userQueryCatalog(t *testing.T) string {
	t.Helper()
	db, path := openNew(t)
	commitHistory(t, db)
	return path
}

func TestUserQuerySelect(t *testing.T) {
	ctx := context.Background()
	path := userQueryCatalog(t)
	res, err := UserQuery(ctx, path, "SELECT snapshot_id, path, size FROM files WHERE type = 'file' ORDER BY snapshot_id, path")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Columns) != "[snapshot_id path size]" {
		t.Errorf("columns = %v", res.Columns)
	}
	var got []string
	for _, row := range res.Rows {
		got = append(got, fmt.Sprintf("%v %s %v", row[0], row[1], row[2]))
	}
	wantRows(t, "rows", got, []string{"1 a.txt 2", "1 b.txt 1", "1 d/c.txt 1", "2 a.txt 3", "2 b.txt 1", "3 a.txt 3"})

	for _, q := range []string{
		"SELECT * FROM snapshots",
		"SELECT * FROM versions WHERE path = 'a.txt'",
		"SELECT count(*) FROM warnings",
		"SELECT path, count(*) FROM files GROUP BY path",
		"select hash from files where hash like 'ab%'", // may be empty
	} {
		if _, err := UserQuery(ctx, path, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	res, err = UserQuery(ctx, path, "SELECT count(*) AS n FROM files WHERE snapshot_id = 3")
	if err != nil || len(res.Rows) != 1 || res.Rows[0][0] != int64(3) || res.Columns[0] != "n" {
		t.Errorf("count = %+v, %v", res, err)
	}
}

func TestUserQueryRefusesWrites(t *testing.T) {
	ctx := context.Background()
	path := userQueryCatalog(t)
	for _, q := range []string{
		"INSERT INTO meta(key, value) VALUES ('x', 'y')",
		"UPDATE version SET path = 'x'",
		"DELETE FROM snapshot",
		"DROP TABLE chunk",
		"DROP VIEW files",
		"CREATE TABLE evil(x)",
		"CREATE TEMP TABLE evil(x)",
		"CREATE INDEX evil ON chunk(size)",
		"ALTER TABLE meta ADD COLUMN evil",
		"ATTACH DATABASE 'other.db' AS other",
		"PRAGMA user_version = 99",
		"PRAGMA journal_mode = DELETE",
		"PRAGMA writable_schema = ON",
		"SELECT load_extension('x')",
		"select LOAD_EXTENSION('x', 'init')",
		"BEGIN",
		"WITH x AS (SELECT 1) DELETE FROM snapshot",
		"REPLACE INTO meta(key, value) VALUES ('format', '9')",
		"VACUUM",
	} {
		res, err := UserQuery(ctx, path, q)
		if err == nil {
			t.Errorf("%s: accepted (%+v)", q, res)
			continue
		}
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: error %v does not wrap ErrReadOnly", q, err)
		}
	}
	// A refused query on one connection does not taint the next.
	if _, err := UserQuery(ctx, path, "SELECT 1"); err != nil {
		t.Errorf("SELECT 1 after refusals: %v", err)
	}
	db, err := Open(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.Meta(ctx, "x"); v != "" {
		t.Error("an INSERT got through")
	}
	if n := rowsOf(t, db.Reader(), "SELECT count(*) FROM snapshot"); n[0] != "3" {
		t.Errorf("snapshots = %s after refused DELETE", n[0])
	}
	if pragmaInt(t, db.Reader(), "user_version") != latestVersion() {
		t.Error("user_version changed")
	}
}

// A syntax error is an ordinary error, not a read-only refusal.
func TestUserQueryErrors(t *testing.T) {
	ctx := context.Background()
	path := userQueryCatalog(t)
	for _, q := range []string{"SELEC 1", "SELECT * FROM nothing_here"} {
		_, err := UserQuery(ctx, path, q)
		if err == nil || errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: %v, want a plain error", q, err)
		}
	}
	if _, err := UserQuery(ctx, path+".missing", "SELECT 1"); err == nil {
		t.Error("UserQuery on a missing catalog succeeded")
	}
}

func TestUserQueryRecursiveCTE(t *testing.T) {
	path := userQueryCatalog(t)
	res, err := UserQuery(context.Background(), path,
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 100) SELECT sum(x), count(*) FROM c")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0] != int64(5050) || res.Rows[0][1] != int64(100) {
		t.Errorf("rows = %v", res.Rows)
	}
}

func TestUserQueryTimeout(t *testing.T) {
	path := userQueryCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := UserQuery(ctx, path, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c")
	took := time.Since(start)
	if err == nil {
		t.Fatalf("an endless query returned %v", res.Rows)
	}
	if errors.Is(err, ErrReadOnly) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if took > 10*time.Second {
		t.Errorf("the query ran %v past a 200ms deadline", took)
	}
	t.Logf("stopped after %v: %v", took.Round(time.Millisecond), err)
}
