package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func userQueryCatalog(t *testing.T) *DB {
	t.Helper()
	db, _ := openNew(t)
	commitHistory(t, db)
	return db
}

// queryResult is a user query's answer gathered in memory, for tests.
type queryResult struct {
	Columns []string
	Rows    [][]any
}

func userQuery(ctx context.Context, db *DB, q string) (*queryResult, error) {
	res := &queryResult{}
	err := db.UserQuery(ctx, q, 0, func(cols []string, row []any) error {
		res.Columns = cols
		if row != nil {
			res.Rows = append(res.Rows, slices.Clone(row))
		}
		return nil
	})
	return res, err
}

func TestUserQuerySelect(t *testing.T) {
	ctx := context.Background()
	db := userQueryCatalog(t)
	res, err := userQuery(ctx, db, "SELECT snapshot_id, path, size FROM files WHERE type = 'file' ORDER BY snapshot_id, path")
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
		if _, err := userQuery(ctx, db, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	res, err = userQuery(ctx, db, "SELECT count(*) AS n FROM files WHERE snapshot_id = 3")
	if err != nil || len(res.Rows) != 1 || res.Rows[0][0] != int64(3) || res.Columns[0] != "n" {
		t.Errorf("count = %+v, %v", res, err)
	}
}

func TestUserQueryRefusesWrites(t *testing.T) {
	ctx := context.Background()
	db := userQueryCatalog(t)
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
		res, err := userQuery(ctx, db, q)
		if err == nil {
			t.Errorf("%s: accepted (%+v)", q, res)
			continue
		}
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: error %v does not wrap ErrReadOnly", q, err)
		}
	}
	// A refused query on one connection does not taint the next.
	if _, err := userQuery(ctx, db, "SELECT 1"); err != nil {
		t.Errorf("SELECT 1 after refusals: %v", err)
	}
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
	db := userQueryCatalog(t)
	for _, q := range []string{"SELEC 1", "SELECT * FROM nothing_here"} {
		_, err := userQuery(ctx, db, q)
		if err == nil || errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: %v, want a plain error", q, err)
		}
	}
	missing := &DB{path: db.Path() + ".missing"}
	if _, err := userQuery(ctx, missing, "SELECT 1"); err == nil {
		t.Error("UserQuery on a missing catalog succeeded")
	}
}

func TestUserQueryRecursiveCTE(t *testing.T) {
	db := userQueryCatalog(t)
	res, err := userQuery(context.Background(), db,
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 100) SELECT sum(x), count(*) FROM c")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0] != int64(5050) || res.Rows[0][1] != int64(100) {
		t.Errorf("rows = %v", res.Rows)
	}
}

func TestUserQueryTimeout(t *testing.T) {
	db := userQueryCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := userQuery(ctx, db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c")
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

// Rows reach the callback while SQLite produces them: an endless query
// can be read from and stopped by the callback, whose error comes back
// as is.
func TestUserQueryStreams(t *testing.T) {
	db := userQueryCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errEnough := errors.New("enough")
	var got []int64
	err := db.UserQuery(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c", 0,
		func(cols []string, row []any) error {
			if len(cols) != 1 || cols[0] != "x" {
				t.Fatalf("columns = %v", cols)
			}
			if row == nil {
				return nil
			}
			got = append(got, row[0].(int64))
			if len(got) == 1000 {
				return errEnough
			}
			return nil
		})
	if !errors.Is(err, errEnough) || err.Error() != "enough" {
		t.Fatalf("error = %v, want the callback's own", err)
	}
	if len(got) != 1000 || got[0] != 1 || got[999] != 1000 {
		t.Errorf("got %d rows, %v ... %v", len(got), got[0], got[len(got)-1])
	}
}

// The time limit counts SQLite's time, not the callback's: a slow reader
// is not cut off, an endless query is.
func TestUserQueryLimit(t *testing.T) {
	db := userQueryCatalog(t)
	ctx := context.Background()
	n := 0
	err := db.UserQuery(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5) SELECT x FROM c",
		200*time.Millisecond, func(_ []string, row []any) error {
			if row == nil {
				return nil
			}
			n++
			time.Sleep(100 * time.Millisecond)
			return nil
		})
	if err != nil || n != 5 {
		t.Errorf("slow reader: %d rows, %v; want 5 rows, no error", n, err)
	}
	start := time.Now()
	err = db.UserQuery(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c",
		200*time.Millisecond, func([]string, []any) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ran longer than 200ms") {
		t.Errorf("endless query: %v, want it stopped by the limit", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the query ran %v past a 200ms limit", took)
	}
}

// A query string holds one statement; a second one is refused rather
// than run unseen (the driver used to run both and return the last).
func TestUserQueryOneStatement(t *testing.T) {
	ctx := context.Background()
	db := userQueryCatalog(t)
	for _, q := range []string{
		"SELECT 1; SELECT 2",
		"SELECT 1;SELECT 2;",
		"SELECT 1; -- first\nSELECT 2",
		"SELECT 1; /* first */ SELECT 2",
		"SELECT ';'; SELECT 2",
		"SELECT count(*) FROM snapshots; DELETE FROM snapshot",
		"SELECT 1;\n;\nSELECT 2",
	} {
		res, err := userQuery(ctx, db, q)
		if !errors.Is(err, ErrSeveralStatements) {
			t.Errorf("%q: rows %v, error %v; want ErrSeveralStatements", q, res.Rows, err)
		}
	}
	for q, want := range map[string]string{
		"SELECT 1;":                             "1",
		"SELECT 1 ;  \n\t":                      "1",
		"SELECT 1;;":                            "1",
		"SELECT 1; -- done":                     "1",
		"SELECT 1; /* done */":                  "1",
		"SELECT 1 -- ; SELECT 2":                "1",
		"SELECT 1 /* ; SELECT 2 */":             "1",
		"SELECT ';' AS s":                       ";",
		"SELECT 'it''s; fine'":                  "it's; fine",
		`SELECT "a;b" FROM (SELECT 1 AS "a;b")`: "1",
		"SELECT [a;b] FROM (SELECT 2 AS [a;b])": "2",
		"SELECT `a;b` FROM (SELECT 3 AS `a;b`)": "3",
		"-- leading comment\nSELECT 4;":         "4",
	} {
		res, err := userQuery(ctx, db, q)
		if err != nil || len(res.Rows) != 1 || fmt.Sprint(res.Rows[0][0]) != want {
			t.Errorf("%q: rows %v, error %v; want %s", q, res.Rows, err, want)
		}
	}
	for _, q := range []string{"", " ", ";", "-- nothing\n", "/* nothing */ ;"} {
		if _, err := userQuery(ctx, db, q); !errors.Is(err, ErrEmptyQuery) {
			t.Errorf("%q: %v, want ErrEmptyQuery", q, err)
		}
	}
	// A trigger's body has semicolons of its own: it is refused as the
	// schema change it is.
	_, err := userQuery(ctx, db, "CREATE TEMP TRIGGER t AFTER INSERT ON meta BEGIN DELETE FROM meta; END")
	if !errors.Is(err, ErrReadOnly) {
		t.Errorf("CREATE TRIGGER: %v, want ErrReadOnly", err)
	}
	if n := rowsOf(t, db.Reader(), "SELECT count(*) FROM snapshot"); n[0] != "3" {
		t.Errorf("snapshots = %s after a refused second statement", n[0])
	}
}
