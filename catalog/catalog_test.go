package catalog

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/migrations"
)

var update = flag.Bool("update", false, "rewrite testdata/schema.golden")

// openNew creates a catalog in a fresh directory and closes it when the
// test ends.
func openNew(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, err := Open(context.Background(), path, true)
	if err != nil {
		t.Fatalf("Open(create): %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// rawDB opens path with the plain driver, bypassing every check of Open.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func pragmaInt(t testing.TB, db *sql.DB, name string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("PRAGMA " + name).Scan(&n); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return n
}

func migrationCount(t testing.TB) int {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no migration files embedded")
	}
	return len(names)
}

func TestOpenCreatesAndMigrates(t *testing.T) {
	ctx := context.Background()
	db, path := openNew(t)
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	r := db.Reader()
	if got, want := pragmaInt(t, r, "user_version"), migrationCount(t); got != want {
		t.Errorf("user_version = %d, want %d (the number of migration files)", got, want)
	}
	if got := pragmaInt(t, r, "application_id"); got != ApplicationID {
		t.Errorf("application_id = %#x, want %#x", got, ApplicationID)
	}
	var mode string
	if err := r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	for _, name := range []string{"snapshots", "files", "versions", "warnings"} {
		if _, err := r.Exec("SELECT * FROM " + name + " LIMIT 0"); err != nil {
			t.Errorf("view %s: %v", name, err)
		}
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
	// Meta round trip, and InitMeta keeps the first value.
	got, err := db.InitMeta(ctx, map[string]string{"format": "1"})
	if err != nil || got["format"] != "1" {
		t.Fatalf("InitMeta = %v, %v", got, err)
	}
	got, err = db.InitMeta(ctx, map[string]string{"format": "2"})
	if err != nil || got["format"] != "1" {
		t.Fatalf("second InitMeta = %v, %v; want the first value kept", got, err)
	}
	if v, err := db.Meta(ctx, "format"); err != nil || v != "1" {
		t.Errorf("Meta(format) = %q, %v", v, err)
	}
	if v, err := db.Meta(ctx, "nothing"); err != nil || v != "" {
		t.Errorf("Meta(nothing) = %q, %v; want empty", v, err)
	}
}

func TestOpenMissingWithoutCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	if _, err := Open(context.Background(), path, false); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(missing, create=false) = %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open without create made %s", path)
	}
}

func TestReopenIsNoOp(t *testing.T) {
	ctx := context.Background()
	db, path := openNew(t)
	if _, err := db.InitMeta(ctx, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	before := schemaDump(t, db.Reader())
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		db2, err := Open(ctx, path, i == 0)
		if err != nil {
			t.Fatalf("re-open %d: %v", i, err)
		}
		if after := schemaDump(t, db2.Reader()); after != before {
			t.Errorf("re-open %d changed the schema:\n%s\nwant\n%s", i, after, before)
		}
		if got := pragmaInt(t, db2.Reader(), "user_version"); got != migrationCount(t) {
			t.Errorf("re-open %d: user_version = %d", i, got)
		}
		if v, _ := db2.Meta(ctx, "k"); v != "v" {
			t.Errorf("re-open %d lost meta: %q", i, v)
		}
		db2.Close()
	}
}

// A database another program owns is refused before anything writes to it.
func TestOpenRefusesForeignDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "other.db")
	other := rawDB(t, path)
	for _, q := range []string{"CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)", "INSERT INTO notes(body) VALUES ('keep me')"} {
		if _, err := other.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path)
	for _, create := range []bool{true, false} {
		db, err := Open(ctx, path, create)
		if err == nil {
			db.Close()
			t.Fatalf("Open(create=%v) accepted another program's database", create)
		}
		if !errors.Is(err, ErrNotCatalog) {
			t.Fatalf("Open(create=%v) = %v, want ErrNotCatalog", create, err)
		}
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("the foreign database was modified")
	}
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(path + side); err == nil {
			t.Errorf("Open left %s beside the foreign database", path+side)
		}
	}
}

// A non-zero application_id that is not ours is refused as well.
func TestOpenRefusesOtherApplicationID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	other := rawDB(t, path)
	if _, err := other.Exec("PRAGMA application_id = 1234; PRAGMA user_version = 1"); err != nil {
		t.Fatal(err)
	}
	other.Close()
	before := readFile(t, path)
	if db, err := Open(context.Background(), path, true); !errors.Is(err, ErrNotCatalog) {
		if db != nil {
			db.Close()
		}
		t.Fatalf("Open = %v, want ErrNotCatalog", err)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("the foreign database was modified")
	}
}

func TestOpenRefusesGarbage(t *testing.T) {
	big := bytes.Repeat([]byte("this is not a database at all. "), 400)
	for name, data := range map[string][]byte{
		"text":        []byte("hello, world\n"),
		"big":         big,
		"fake-header": append([]byte("SQLite format 3\x00"), big...),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "catalog.db")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(context.Background(), path, true)
			if err == nil {
				db.Close()
				t.Fatal("Open accepted a garbage file")
			}
			if !errors.Is(err, ErrNotCatalog) {
				t.Errorf("Open = %v, want ErrNotCatalog", err)
			}
			if !bytes.Equal(readFile(t, path), data) {
				t.Error("the garbage file was modified")
			}
		})
	}
}

// An empty file (e.g. left by a crash during creation) is initialised.
func TestOpenInitialisesEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), path, false)
	if err != nil {
		t.Fatalf("Open(empty file) = %v", err)
	}
	defer db.Close()
	if got := pragmaInt(t, db.Reader(), "application_id"); got != ApplicationID {
		t.Errorf("application_id = %#x", got)
	}
}

func TestOpenRefusesTooNew(t *testing.T) {
	db, path := openNew(t)
	db.Close()
	raw := rawDB(t, path)
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", latestVersion()+1)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before := readFile(t, path)
	db2, err := Open(context.Background(), path, true)
	if err == nil {
		db2.Close()
		t.Fatal("Open accepted a catalog from a newer cairn")
	}
	if !errors.Is(err, ErrTooNew) {
		t.Fatalf("Open = %v, want ErrTooNew", err)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("the newer catalog was modified")
	}
}

// Two processes creating one repository at once must both end up with the
// same, once-migrated catalog.
func TestOpenConcurrentCreate(t *testing.T) {
	for round := 0; round < 5; round++ {
		path := filepath.Join(t.TempDir(), "catalog.db")
		const n = 4
		var wg sync.WaitGroup
		dbs := make([]*DB, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				dbs[i], errs[i] = Open(context.Background(), path, true)
			}()
		}
		close(start)
		wg.Wait()
		for i := 0; i < n; i++ {
			if errs[i] != nil {
				t.Fatalf("round %d: Open %d: %v", round, i, errs[i])
			}
		}
		want := schemaDump(t, dbs[0].Reader())
		for i, db := range dbs {
			if got := schemaDump(t, db.Reader()); got != want {
				t.Errorf("round %d: opener %d sees a different schema", round, i)
			}
			if got := pragmaInt(t, db.Reader(), "user_version"); got != migrationCount(t) {
				t.Errorf("round %d: user_version = %d", round, got)
			}
		}
		// Applying a migration twice would have failed (CREATE TABLE of an
		// existing table) or duplicated nothing; the golden dump pins the
		// object list, so comparing with it shows the schema went in once.
		if golden, err := os.ReadFile(filepath.Join("testdata", "schema.golden")); err == nil && want != string(golden) {
			t.Errorf("round %d: schema differs from testdata/schema.golden", round)
		}
		for _, db := range dbs {
			db.Close()
		}
	}
}

func TestSchemaGolden(t *testing.T) {
	db, _ := openNew(t)
	got := schemaDump(t, db.Reader())
	golden := filepath.Join("testdata", "schema.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./catalog -run TestSchemaGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("schema differs from %s (if the change is intended, run go test ./catalog -run TestSchemaGolden -update and review the diff):\n%s",
			golden, lineDiff(string(want), got))
	}
}

// Every migration file is named NNNN_what.sql with NNNN counting from 1.
func TestMigrationSteps(t *testing.T) {
	s, err := steps()
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != migrationCount(t) || latestVersion() != len(s) {
		t.Fatalf("steps = %v, latest = %d", s, latestVersion())
	}
}

// schemaDump renders sqlite_schema, one object per block.
func schemaDump(t testing.TB, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name string
		var text sql.NullString
		if err := rows.Scan(&typ, &name, &text); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "-- %s %s\n", typ, name)
		if text.Valid {
			b.WriteString(text.String)
			b.WriteString(";\n")
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	in := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if g[l] == 0 {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if w[l] == 0 {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMigrateFromFirstSchema opens a catalog written at schema version 1:
// its chunks, stored one per blob, read back at plaintext offset 0.
func TestMigrateFromFirstSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	first, err := fs.ReadFile(migrations.FS, "0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	if _, err := raw.Exec("PRAGMA journal_mode = wal"); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(string(first)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(fmt.Sprintf(`PRAGMA user_version = 1; PRAGMA application_id = %d;
		INSERT INTO pack(id, name, size, created_ns) VALUES (1, 'p1', 100, 0);
		INSERT INTO chunk(hash, pack_id, offset, length, size) VALUES (x'01', 1, 8, 20, 30)`, ApplicationID)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(ctx, path, false)
	if err != nil {
		t.Fatalf("Open of a version 1 catalog: %v", err)
	}
	defer db.Close()
	if got, want := pragmaInt(t, db.Reader(), "user_version"), migrationCount(t); got != want {
		t.Errorf("user_version = %d after migrating; want %d", got, want)
	}
	chunks, err := db.ChunksInPack(ctx, 1)
	if err != nil || len(chunks) != 1 {
		t.Fatalf("ChunksInPack = %v, %v", chunks, err)
	}
	if c := chunks[0]; c.Offset != 8 || c.Length != 20 || c.Size != 30 || c.PlainOffset != 0 {
		t.Errorf("migrated chunk = %+v; want offset 8, length 20, size 30, plain offset 0", c)
	}
}

// TestWarningKindsDocumented: docs/sql.md lists exactly the warning kinds
// the code defines, in the same order.
func TestWarningKindsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "sql.md"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, line := range strings.Split(string(doc), "\n") {
		if rest, ok := strings.CutPrefix(line, "| `kind` | "); ok {
			for _, f := range strings.Split(strings.TrimSuffix(rest, " |"), ", ") {
				listed = append(listed, strings.Trim(f, "`"))
			}
		}
	}
	if !slices.Equal(listed, WarningKinds) {
		t.Errorf("docs/sql.md lists kinds %q; catalog.WarningKinds is %q", listed, WarningKinds)
	}
}

// TestMigrateMetaKeys opens a catalog written at the schema version before
// 0007: its meta keys 'last_snapshot_id' (which read like the version
// column of that name) and 'format' get names that say what they hold, and
// the next snapshot id still follows the highest one ever issued.
func TestMigrateMetaKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	all, err := steps()
	if err != nil {
		t.Fatal(err)
	}
	const before = 6 // the schema version 0007_meta.sql migrates from
	raw := rawDB(t, path)
	if _, err := raw.Exec("PRAGMA journal_mode = wal"); err != nil {
		t.Fatal(err)
	}
	for _, s := range all[:before] {
		text, err := fs.ReadFile(migrations.FS, s.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(text)); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	if _, err := raw.Exec(fmt.Sprintf(`PRAGMA user_version = %d; PRAGMA application_id = %d;
		INSERT INTO meta(key, value) VALUES ('format', '1'), ('last_snapshot_id', '41')`, before, ApplicationID)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for key, want := range map[string]string{"repository_format": "1", "highest_snapshot_id": "41", "format": "", "last_snapshot_id": ""} {
		if got, err := db.Meta(ctx, key); err != nil || got != want {
			t.Errorf("meta %s = %q, %v; want %q", key, got, err, want)
		}
	}
	id, err := db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: time.Unix(1, 0), Finished: time.Unix(2, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if id != 42 {
		t.Errorf("next snapshot id = %d, want 42 (after the highest ever issued)", id)
	}
}

// queryPlan is SQLite's plan for query (EXPLAIN QUERY PLAN), one step a
// line, from the read pool.
func queryPlan(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.r.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
