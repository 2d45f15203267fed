package sqlitefile

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables that turn TestHelper* into child processes.
const (
	envHelper = "SQLITEFILE_TEST_HELPER"
	envDB     = "SQLITEFILE_TEST_DB"
	envMode   = "SQLITEFILE_TEST_JOURNAL_MODE"
)

// open opens path with go-sqlite3 and the given DSN query, closing it when
// the test ends.
func open(t testing.TB, path, query string) *sql.DB {
	t.Helper()
	dsn := "file:" + path
	if query != "" {
		dsn += "?" + query
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec1(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func count(t testing.TB, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// createCounterDB creates the items/meta schema used by the writer tests in
// the given journal mode.
func createCounterDB(t testing.TB, path, mode string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode="+mode)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec1(t, db, "CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT)")
	exec1(t, db, "CREATE TABLE meta(k TEXT PRIMARY KEY, n INTEGER)")
	exec1(t, db, "INSERT INTO meta VALUES('count', 0)")
}

// writeLoop commits transactions that each add an items row and bump the
// meta counter, until ctx ends. It calls ready after the first commit.
func writeLoop(ctx context.Context, path, mode string, ready func()) (int, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode="+mode+"&_busy_timeout=10000")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	payload := strings.Repeat("x", 200)
	n := 0
	for ctx.Err() == nil {
		tx, err := db.Begin()
		if err != nil {
			return n, fmt.Errorf("begin: %w", err)
		}
		if _, err := tx.Exec("INSERT INTO items(v) VALUES(?)", payload); err != nil {
			tx.Rollback()
			return n, fmt.Errorf("insert: %w", err)
		}
		if _, err := tx.Exec("UPDATE meta SET n = n + 1 WHERE k = 'count'"); err != nil {
			tx.Rollback()
			return n, fmt.Errorf("update: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return n, fmt.Errorf("commit: %w", err)
		}
		n++
		if n == 1 && ready != nil {
			ready()
		}
	}
	return n, nil
}

// checkCounterCopy opens a copy the ordinary way and checks it is whole and
// consistent; it returns the number of items.
func checkCounterCopy(t *testing.T, path string) int {
	t.Helper()
	if err := IntegrityCheck(path); err != nil {
		t.Fatalf("IntegrityCheck(copy): %v", err)
	}
	db := open(t, path, "mode=ro")
	items := count(t, db, "SELECT count(*) FROM items")
	counter := count(t, db, "SELECT n FROM meta WHERE k = 'count'")
	if items != counter {
		t.Fatalf("copy is torn: count(items) = %d, counter = %d", items, counter)
	}
	db.Close()
	return items
}

func noSidecars(t *testing.T, path string) {
	t.Helper()
	for _, s := range Sidecars(path) {
		if _, err := os.Lstat(s); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists (or stat failed: %v)", filepath.Base(s), err)
		}
	}
}

func TestIsDatabaseSniff(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "real.db")
	db := open(t, dbPath, "")
	exec1(t, db, "CREATE TABLE t(x)")
	db.Close()

	files := map[string][]byte{
		"empty":  nil,
		"text":   []byte("hello, this is plainly a text file and not a database\n"),
		"ten":    []byte(Header[:10]),
		"almost": []byte("SQLite format 3!rest of it"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		want bool
	}{{"real.db", true}, {"empty", false}, {"text", false}, {"ten", false}, {"almost", false}}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		got, err := Sniff(p)
		if err != nil {
			t.Errorf("Sniff(%s): %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("Sniff(%s) = %v, want %v", c.name, got, c.want)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := IsDatabase(b); got != c.want {
			t.Errorf("IsDatabase(%s) = %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := Sniff(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Sniff(missing) error = %v, want ErrNotExist", err)
	}
	if IsDatabase([]byte(Header)) != true || IsDatabase([]byte(Header[:15])) != false {
		t.Error("IsDatabase on the bare header is wrong")
	}
}

func TestSidecars(t *testing.T) {
	got := Sidecars("/a/b.db")
	want := []string{"/a/b.db-wal", "/a/b.db-shm", "/a/b.db-journal"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Sidecars = %q, want %q", got, want)
	}
}

// A live WAL database whose recent commits are only in its -wal: the copy has
// them all, and the -wal is left exactly as it was.
func TestBackupLiveWAL(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "live.db")
	db := open(t, src, "_journal_mode=WAL")
	db.SetMaxOpenConns(1)
	exec1(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	for i := 0; i < 300; i++ {
		exec1(t, db, "INSERT INTO t(v) VALUES(?)", fmt.Sprintf("row %d", i))
	}
	wal := src + "-wal"
	before, err := os.Stat(wal)
	if err != nil {
		t.Fatal(err)
	}
	if before.Size() == 0 {
		t.Fatal("test setup: -wal is empty")
	}
	mainBefore, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(dir, "copy.db")
	info, err := Backup(context.Background(), src, dst, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if info.QuickCheck != nil || info.PageSize != 4096 || info.Pages < 2 {
		t.Errorf("Info = %+v", info)
	}
	after, err := os.Stat(wal)
	if err != nil {
		t.Fatalf("-wal after Backup: %v", err)
	}
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("-wal changed: size %d -> %d, mtime %v -> %v", before.Size(), after.Size(), before.ModTime(), after.ModTime())
	}
	mainAfter, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mainBefore, mainAfter) {
		t.Error("main database file changed (checkpointed?)")
	}
	if st, err := os.Stat(dst); err != nil || st.Size() != int64(info.PageSize*info.Pages) {
		t.Errorf("copy size: %v, %v; want %d", st, err, info.PageSize*info.Pages)
	}

	c := open(t, dst, "mode=ro")
	if n := count(t, c, "SELECT count(*) FROM t"); n != 300 {
		t.Errorf("copy has %d rows, want 300", n)
	}
	// The source is still usable and its data intact.
	if n := count(t, db, "SELECT count(*) FROM t"); n != 300 {
		t.Errorf("source has %d rows, want 300", n)
	}
}

// A closed database in rollback-journal mode: nothing is created beside it.
func TestBackupClosedRollbackDB(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "closed.db")
	db := open(t, src, "_journal_mode=DELETE")
	exec1(t, db, "CREATE TABLE t(x)")
	exec1(t, db, "INSERT INTO t VALUES(1),(2),(3)")
	db.Close()

	dst := filepath.Join(dir, "copy.db")
	if _, err := Backup(context.Background(), src, dst, time.Second); err != nil {
		t.Fatal(err)
	}
	noSidecars(t, src)
	noSidecars(t, dst)
	if err := IntegrityCheck(src); err != nil {
		t.Fatal(err)
	}
	noSidecars(t, src)
	c := open(t, dst, "mode=ro")
	if n := count(t, c, "SELECT sum(x) FROM t"); n != 6 {
		t.Errorf("copy sum = %d, want 6", n)
	}
}

// Names that mean something in a URI reach SQLite intact.
func TestBackupAwkwardNames(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.db")
	makeTable(t, plain)
	src := filepath.Join(dir, "we?ird #%20 name&mode=rwc.db")
	if err := os.Rename(plain, src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "co?py #%41.db")
	info, err := Backup(context.Background(), src, dst, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if info.QuickCheck != nil {
		t.Error(info.QuickCheck)
	}
	if err := IntegrityCheck(dst); err != nil {
		t.Error(err)
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	if want := fmt.Sprint([]string{filepath.Base(dst), filepath.Base(src)}); fmt.Sprint(names) != want {
		t.Errorf("directory holds %q, want %s", names, want)
	}
}

// makeClosedWAL creates a closed WAL-mode database (no -wal or -shm left)
// whose modification time lies an hour back.
func makeClosedWAL(t *testing.T, path string, rows int) {
	t.Helper()
	db := open(t, path, "_journal_mode=WAL")
	exec1(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	for i := 0; i < rows; i++ {
		exec1(t, db, "INSERT INTO t(v) VALUES(?)", fmt.Sprintf("row %d", i))
	}
	db.Close()
	noSidecars(t, path)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// A closed WAL-mode database: a read-only connection would leave -wal and
// -shm files beside it; Backup and IntegrityCheck must not.
func TestBackupClosedWALDB(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "closed.db")
	makeClosedWAL(t, src, 50)

	dst := filepath.Join(dir, "copy.db")
	info, err := Backup(context.Background(), src, dst, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if info.QuickCheck != nil {
		t.Errorf("QuickCheck = %v", info.QuickCheck)
	}
	noSidecars(t, src)
	noSidecars(t, dst)
	if err := IntegrityCheck(src); err != nil {
		t.Fatal(err)
	}
	if err := IntegrityCheck(dst); err != nil {
		t.Fatal(err)
	}
	noSidecars(t, src)
	noSidecars(t, dst)
	c := open(t, dst, "mode=ro&immutable=1")
	if n := count(t, c, "SELECT count(*) FROM t"); n != 50 {
		t.Errorf("copy has %d rows, want 50", n)
	}
	hdr, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if hdr[18] != 2 || hdr[19] != 2 {
		t.Errorf("copy is not marked WAL-mode like its source: bytes 18-19 = %d, %d", hdr[18], hdr[19])
	}
}

// If a closed WAL-mode database comes alive while Backup reads it without
// locks, Backup notices and copies it again with locks.
func TestBackupClosedWALDBChangesDuringCopy(t *testing.T) {
	for _, keepOpen := range []bool{true, false} {
		t.Run(fmt.Sprintf("writerStaysOpen=%v", keepOpen), func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "closed.db")
			makeClosedWAL(t, src, 10)
			calls := 0
			afterImmutableCopy = func() {
				calls++
				if calls > 1 {
					return
				}
				db, err := sql.Open("sqlite3", "file:"+src+"?_journal_mode=WAL")
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := db.Exec("INSERT INTO t(v) VALUES('late')"); err != nil {
					t.Error(err)
				}
				if keepOpen {
					t.Cleanup(func() { db.Close() })
				} else {
					db.Close()
				}
			}
			t.Cleanup(func() { afterImmutableCopy = nil })

			dst := filepath.Join(dir, "copy.db")
			if _, err := Backup(context.Background(), src, dst, time.Second); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Fatalf("lock-free copy ran %d times, want 1", calls)
			}
			c := open(t, dst, "mode=ro&immutable=1")
			if n := count(t, c, "SELECT count(*) FROM t"); n != 11 {
				t.Errorf("copy has %d rows, want 11 (the late row must be in it)", n)
			}
		})
	}
}

// Five backups while a writer in this process commits as fast as it can.
func TestBackupConcurrentWriter(t *testing.T) {
	for _, mode := range []string{"WAL", "DELETE"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "busy.db")
			createCounterDB(t, src, mode)

			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var writes int
			var werr error
			ready := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				writes, werr = writeLoop(ctx, src, mode, func() { close(ready) })
			}()
			defer func() {
				cancel()
				wg.Wait()
			}()
			select {
			case <-ready:
			case <-time.After(10 * time.Second):
				t.Fatal("writer made no commit")
			}
			runBackups(t, dir, src)
			cancel()
			wg.Wait()
			if werr != nil {
				t.Fatalf("writer: %v", werr)
			}
			t.Logf("writer committed %d transactions", writes)
		})
	}
}

// runBackups copies src five times and checks every copy.
func runBackups(t *testing.T, dir, src string) {
	t.Helper()
	var counts []int
	for i := 0; i < 5; i++ {
		dst := filepath.Join(dir, fmt.Sprintf("copy%d.db", i))
		start := time.Now()
		info, err := Backup(context.Background(), src, dst, 5*time.Second)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("Backup %d: %v", i, err)
		}
		if took > 5*time.Second {
			t.Errorf("Backup %d took %v", i, took)
		}
		if info.QuickCheck != nil {
			t.Errorf("Backup %d: QuickCheck = %v", i, info.QuickCheck)
		}
		n := checkCounterCopy(t, dst)
		t.Logf("backup %d: %v, %d pages, %d items", i, took.Round(time.Millisecond), info.Pages, n)
		counts = append(counts, n)
		time.Sleep(50 * time.Millisecond)
	}
	if counts[len(counts)-1] <= counts[0] {
		t.Errorf("writer made no progress between copies: %v", counts)
	}
}

// The same with the writer in another process, which is the real case.
func TestBackupConcurrentWriterProcess(t *testing.T) {
	for _, mode := range []string{"WAL", "DELETE"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "busy.db")
			createCounterDB(t, src, mode)
			stop := startHelper(t, "writer", src, envMode+"="+mode)
			runBackups(t, dir, src)
			if out := stop(); out != "" {
				t.Logf("writer: %s", out)
			}
		})
	}
}

// startHelper runs this test binary as a helper process of the given kind on
// db and waits until it reports ready. The returned stop function ends it and
// returns its last output line.
func startHelper(t *testing.T, kind, db string, env ...string) (stop func() string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), envHelper+"="+kind, envDB+"="+db), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	readyc := make(chan bool, 1)
	go func() {
		for lines.Scan() {
			if lines.Text() == "ready" {
				readyc <- true
				return
			}
		}
		readyc <- false
	}()
	stopped := false
	stop = func() string {
		if stopped {
			return ""
		}
		stopped = true
		stdin.Close()
		done := make(chan error, 1)
		go func() {
			io.Copy(io.Discard, stdout)
			done <- cmd.Wait()
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("helper %s: %v: %s", kind, err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("helper %s did not stop: %s", kind, stderr.String())
		}
		return strings.TrimSpace(lastLine(stderr.String()))
	}
	t.Cleanup(func() { stop() })
	select {
	case ok := <-readyc:
		if !ok {
			cmd.Process.Kill()
			t.Fatalf("helper %s failed: %s", kind, stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("helper %s not ready: %s", kind, stderr.String())
	}
	return stop
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// TestHelperProcess is not a test: startHelper runs it in a child process.
// As "writer" it runs writeLoop on the database; as "holder" it keeps the
// database open. Either prints "ready" and runs until stdin is closed.
func TestHelperProcess(t *testing.T) {
	kind := os.Getenv(envHelper)
	if kind == "" {
		t.Skip("helper process only")
	}
	path := os.Getenv(envDB)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	ready := func() { fmt.Println("ready") }
	switch kind {
	case "writer":
		n, err := writeLoop(ctx, path, os.Getenv(envMode), ready)
		if err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "committed %d transactions\n", n)
	case "holder":
		db, err := sql.Open("sqlite3", "file:"+path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var n int
		if err := db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ready()
		<-ctx.Done()
		db.Close()
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", kind)
		os.Exit(2)
	}
	os.Exit(0)
}

// Copies of an unchanged database differ from it only in page 1, and a small
// update changes only a few pages of the next copy.
func TestBackupPreservesPageLayout(t *testing.T) {
	const pageSize = 4096
	dir := t.TempDir()
	src := filepath.Join(dir, "layout.db")
	db := open(t, src, "_journal_mode=DELETE")
	db.SetMaxOpenConns(1)
	exec1(t, db, fmt.Sprintf("PRAGMA page_size = %d", pageSize))
	exec1(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2000; i++ {
		if _, err := tx.Exec("INSERT INTO t VALUES(?, ?)", i, strings.Repeat(fmt.Sprintf("%05d", i), 80)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	a := filepath.Join(dir, "a.db")
	infoA, err := Backup(context.Background(), src, a, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if infoA.PageSize != pageSize {
		t.Fatalf("page size %d, want %d", infoA.PageSize, pageSize)
	}
	srcBytes, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	aBytes, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffBlocks(t, srcBytes, aBytes, pageSize); len(d) > 1 || (len(d) == 1 && d[0] != 0) {
		t.Errorf("copy of an idle database differs from it in blocks %v; want at most block 0", d)
	}

	for i := 0; i < 10; i++ {
		id := 97 + i*191 // scattered over the table
		exec1(t, db, "UPDATE t SET v = ? WHERE id = ?", strings.Repeat(fmt.Sprintf("%05d", -id), 80), id)
	}
	b := filepath.Join(dir, "b.db")
	if _, err := Backup(context.Background(), src, b, time.Second); err != nil {
		t.Fatal(err)
	}
	bBytes, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	d := diffBlocks(t, aBytes, bBytes, pageSize)
	blocks := len(aBytes) / pageSize
	t.Logf("%d of %d blocks differ: %v", len(d), blocks, d)
	if len(d) == 0 || len(d)*10 >= blocks {
		t.Errorf("%d of %d blocks differ after updating 10 rows; want some but under 10%%", len(d), blocks)
	}
}

// diffBlocks returns the indexes of the size-byte blocks in which a and b differ.
func diffBlocks(t *testing.T, a, b []byte, size int) []int {
	t.Helper()
	if len(a) != len(b) || len(a)%size != 0 {
		t.Fatalf("sizes %d and %d are not equal multiples of %d", len(a), len(b), size)
	}
	var d []int
	for i := 0; i < len(a); i += size {
		if !bytes.Equal(a[i:i+size], b[i:i+size]) {
			d = append(d, i/size)
		}
	}
	return d
}

func TestBackupNotDatabase(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	garbage := make([]byte, 8192)
	rng.Read(garbage)
	files := map[string][]byte{
		"header-garbage": append([]byte(Header), garbage...),
		"header-xs":      append([]byte(Header), bytes.Repeat([]byte("x"), 4000)...),
		"no-header":      garbage,
		"empty":          nil,
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(dir, name)
			if err := os.WriteFile(src, content, 0o644); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(dir, name+".copy")
			_, err := Backup(context.Background(), src, dst, time.Second)
			if !errors.Is(err, ErrNotDatabase) {
				t.Fatalf("Backup error = %v, want ErrNotDatabase", err)
			}
			t.Logf("error: %v", err)
			if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("dst left behind: %v", err)
			}
			noSidecars(t, dst)
			if err := IntegrityCheck(src); !errors.Is(err, ErrNotDatabase) {
				t.Errorf("IntegrityCheck error = %v, want ErrNotDatabase", err)
			}
		})
	}
}

// makeTable creates a rollback-journal database with a multi-page table.
func makeTable(t *testing.T, path string) {
	t.Helper()
	db := open(t, path, "_journal_mode=DELETE")
	db.SetMaxOpenConns(1)
	exec1(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	exec1(t, db, "CREATE INDEX t_v ON t(v)")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		if _, err := tx.Exec("INSERT INTO t(v) VALUES(?)", strings.Repeat(fmt.Sprint(i), 20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func TestIntegrityCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	makeTable(t, good)
	if err := IntegrityCheck(good); err != nil {
		t.Fatalf("IntegrityCheck(good) = %v", err)
	}
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	pages := len(orig) / 4096
	if pages < 10 {
		t.Fatalf("test database has only %d pages", pages)
	}

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Every page after page 1 is a b-tree page (no deletions, no overflow),
	// so flipping the page-type byte and the cell count of one of them
	// damages a b-tree page.
	flipped := bytes.Clone(orig)
	off := (pages / 3) * 4096
	flipped[off] ^= 0xff   // page type: 2, 5, 10 and 13 all become invalid
	flipped[off+3] ^= 0x5a // number of cells
	flipped[off+4] ^= 0xa5
	// A page in the middle overwritten with garbage.
	garbage := bytes.Clone(orig)
	rand.New(rand.NewSource(2)).Read(garbage[(pages/2)*4096 : (pages/2+1)*4096])

	for name, b := range map[string][]byte{"flipped": flipped, "garbage": garbage} {
		t.Run(name, func(t *testing.T) {
			p := write(name+".db", b)
			err := IntegrityCheck(p)
			if err == nil {
				t.Fatal("IntegrityCheck of a damaged database = nil")
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error is not one line: %q", err)
			}
			t.Logf("IntegrityCheck: %v", err)

			// Backup copies the damaged pages as they are and reports the
			// failed quick_check without failing.
			dst := filepath.Join(dir, name+".copy")
			info, err := Backup(context.Background(), p, dst, time.Second)
			if err != nil {
				t.Fatalf("Backup: %v", err)
			}
			if info.QuickCheck == nil {
				t.Error("Backup of a damaged database: QuickCheck = nil")
			}
			t.Logf("QuickCheck: %v", info.QuickCheck)
		})
	}
}

func TestInUse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "held.db")
	makeClosedWAL(t, path, 1)

	inUse := func(scan func() (bool, error)) bool {
		t.Helper()
		b, err := scan()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other := func() (bool, error) { return InUse(path) }
	anyone := func() (bool, error) { return scanProc("/proc", -1, path) }

	if inUse(other) || inUse(anyone) {
		t.Fatal("closed database reported in use")
	}

	// Held by this process: found when we are not skipped, and skipped by InUse.
	db := open(t, path, "")
	if n := count(t, db, "SELECT count(*) FROM t"); n != 1 {
		t.Fatalf("rows = %d", n)
	}
	if !inUse(anyone) {
		t.Error("database held by this process not found")
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if ok, err := scanProc("/proc", -1, link); err != nil || !ok {
		t.Errorf("database held by this process not found through a symlink: %v, %v", ok, err)
	}
	if inUse(other) {
		t.Error("InUse did not skip this process")
	}
	db.Close()
	if inUse(anyone) {
		t.Error("database still reported in use after closing it")
	}

	// Held by another process.
	stop := startHelper(t, "holder", path)
	if !inUse(other) {
		t.Error("database held by a child process not reported in use")
	}
	stop()
	if inUse(other) {
		t.Error("database reported in use after the child exited")
	}
}

func TestBackupCanceled(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	makeTable(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := filepath.Join(dir, "copy.db")
	_, err := Backup(ctx, src, dst, time.Second)
	if err != context.Canceled {
		t.Fatalf("Backup error = %v, want context.Canceled", err)
	}
	if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dst created: %v", err)
	}
}

// A writer holding an exclusive lock on a rollback-journal database keeps
// readers out; Backup gives up after its busy timeout with ErrBusy.
func TestBackupBusy(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "locked.db")
	makeTable(t, src)
	db := open(t, src, "_journal_mode=DELETE")
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	dst := filepath.Join(dir, "copy.db")
	start := time.Now()
	_, err = Backup(context.Background(), src, dst, 300*time.Millisecond)
	took := time.Since(start)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Backup error = %v, want ErrBusy", err)
	}
	t.Logf("error after %v: %v", took.Round(time.Millisecond), err)
	if took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("Backup gave up after %v, want about the 300ms busy timeout", took)
	}
	if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dst left behind: %v", err)
	}
}

func TestBackupDestinationExists(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	makeTable(t, src)
	dst := filepath.Join(dir, "taken")
	if err := os.WriteFile(dst, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(context.Background(), src, dst, time.Second); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Backup error = %v, want ErrExist", err)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "keep me" {
		t.Errorf("existing dst changed: %q, %v", b, err)
	}
}

// BenchmarkBackupWAL50MiB copies a live ~50 MiB WAL database whose last
// commits are still in its -wal.
func BenchmarkBackupWAL50MiB(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "big.db")
	db := open(b, src, "_journal_mode=WAL")
	db.SetMaxOpenConns(1)
	exec1(b, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	for i := 0; i < 50; i++ {
		exec1(b, db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000) INSERT INTO t(v) SELECT randomblob(1000) FROM n")
	}
	st, _ := os.Stat(src)
	wst, _ := os.Stat(src + "-wal")
	b.Logf("database %d MiB, -wal %d MiB", st.Size()>>20, wst.Size()>>20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst := filepath.Join(dir, fmt.Sprintf("copy%d.db", i))
		info, err := Backup(context.Background(), src, dst, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if info.QuickCheck != nil {
			b.Fatal(info.QuickCheck)
		}
		b.SetBytes(int64(info.PageSize * info.Pages))
		b.StopTimer()
		os.Remove(dst)
		b.StartTimer()
	}
}

// SchemaCheck passes a sound database without reading its pages, and
// fails what is not the database: a truncated copy, another file, a
// damaged schema page.
func TestSchemaCheck(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	makeClosedWAL(t, src, 200)
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := SchemaCheck(write("good.db", orig)); err != nil {
		t.Fatalf("SchemaCheck of a sound database: %v", err)
	}
	schemaPage := bytes.Clone(orig)
	for i := 100; i < 4096; i++ { // page 1 after the header: sqlite_schema's root
		schemaPage[i] = 0xee
	}
	for name, b := range map[string][]byte{
		"truncated":  orig[:len(orig)-4096],
		"not-sqlite": bytes.Repeat([]byte("x"), len(orig)),
		"schema":     schemaPage,
	} {
		if err := SchemaCheck(write(name+".db", b)); err == nil {
			t.Errorf("%s: SchemaCheck = nil, want an error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
