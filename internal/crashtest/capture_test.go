package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// sqliteLockEnv makes the test binary hold an exclusive SQLite lock on a
// database (the byte-range locks SQLite's unix VFS uses), so that readers
// wait in their busy handler, until its stdin closes.
const sqliteLockEnv = "CAIRN_CRASHTEST_SQLITE_LOCK"

func init() {
	if p := os.Getenv(sqliteLockEnv); p != "" {
		os.Exit(sqliteLockMain(p))
	}
}

func sqliteLockMain(path string) int {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlite lock:", err)
		return 1
	}
	// SQLite's lock bytes: PENDING at 1 GiB, RESERVED after it, then the
	// 510-byte SHARED range. A write lock on all of them is EXCLUSIVE.
	const pending = 0x40000000
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: pending, Len: 512}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		fmt.Fprintln(os.Stderr, "sqlite lock:", err)
		return 1
	}
	fmt.Println("locked")
	buf := make([]byte, 1)
	os.Stdin.Read(buf)
	// f is not used after the lock: without this a GC may finalize it,
	// closing the descriptor and with it the lock, and the reader the
	// test means to block does not wait.
	runtime.KeepAlive(f)
	return 0
}

// lockSQLite holds an exclusive lock on the database at path until the
// returned function is called.
func lockSQLite(t *testing.T, path string) (release func()) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), sqliteLockEnv+"="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("sqlite lock holder: %q", line)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			stdin.Close()
			cmd.Wait()
		})
	}
	t.Cleanup(release)
	return release
}

// startEnv runs cairn like env.start, with extra environment variables
// and, when wrap is set, under another program (setpriv).
func (e *env) startEnv(extra []string, wrap []string, args ...string) *proc {
	e.t.Helper()
	full := append(append(wrap, cairnBin, "--repo", e.repo), args...)
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	p := &proc{cancel: cancel, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, full[0], full[1:]...)
	p.cmd.Env = append(append(os.Environ(), "HOME="+e.scratch, "XDG_DATA_HOME="+e.scratch, "CAIRN_REPO="), extra...)
	p.cmd.Dir = e.scratch
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.res.args = args
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		e.t.Fatalf("start cairn %v: %v", args, err)
	}
	go func() {
		p.cmd.Wait()
		p.res.dur = time.Since(p.start)
		p.res.stdout, p.res.stderr = p.stdout.String(), p.stderr.String()
		p.res.code = p.cmd.ProcessState.ExitCode()
		cancel()
		close(p.done)
	}()
	return p
}

// waitOpen waits until process pid has a descriptor on path (the walk is
// over once a file is opened for reading).
func waitOpen(t *testing.T, p *proc, path string) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && l == path {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("cairn exited before opening %s: %v", path, p.wait())
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("cairn never opened %s", path)
}

// exitWithin waits for p for at most d; a process still running then is
// killed and the test fails.
func exitWithin(t *testing.T, p *proc, d time.Duration, what string) result {
	t.Helper()
	select {
	case <-p.done:
		return p.wait()
	case <-time.After(d):
		p.cmd.Process.Signal(syscall.SIGKILL)
		t.Fatalf("%s: cairn still running after %v: %v", what, d, p.wait())
	}
	return result{}
}

// makeDB writes a small rollback-journal SQLite database: cairn is the
// only SQLite user in this package, so it is a copy of a catalog cairn
// made, switched out of WAL mode (header bytes 18 and 19).
func (e *env) makeDB(t *testing.T, path string) { e.makeDBOf(t, path, 1) }

// makeDBOf is makeDB with the catalog of a tree of files files: the more,
// the larger the database.
func (e *env) makeDBOf(t *testing.T, path string, files int) {
	t.Helper()
	tmp := filepath.Join(e.scratch, "dbmaker")
	os.RemoveAll(tmp)
	os.MkdirAll(filepath.Join(tmp, "src"), 0o755)
	for i := range files {
		os.WriteFile(filepath.Join(tmp, "src", fmt.Sprintf("x%d", i)), []byte(fmt.Sprint(i)), 0o644)
	}
	cmd := exec.Command(cairnBin, "--repo", filepath.Join(tmp, "repo"), "snap", filepath.Join(tmp, "src"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make a database: %v %s", err, out)
	}
	b, err := os.ReadFile(catalogFile(filepath.Join(tmp, "repo")))
	if err != nil {
		t.Fatal(err)
	}
	b[18], b[19] = 1, 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A file swapped for a FIFO after the walk listed it used to hang snap
// for ever (open(2) of a FIFO waits for a writer), deaf to SIGTERM while
// it held the locks. Now the read never blocks: the FIFO is refused and
// the snapshot completes. The window is made wide by a database read
// first that waits on a lock another process holds: with GOMAXPROCS=1
// one file over 256 KiB is read at a time, files of 1 MiB and more first,
// so z.txt (over 256 KiB, under 1 MiB) waits for the database (over
// 1 MiB). A small z.txt would be read beside it, before the swap.
func TestFIFOSwappedInDoesNotHang(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	db := filepath.Join(e.src, "app.db")
	e.makeDBOf(t, db, 5000)
	if fi, err := os.Stat(db); err != nil {
		t.Fatal(err)
	} else if fi.Size() < 1<<20 {
		t.Fatalf("database of %d bytes: the test needs one of 1 MiB or more", fi.Size())
	}
	z := filepath.Join(e.src, "z.txt")
	os.WriteFile(z, bytes.Repeat([]byte("plain\n"), 100_000), 0o644)
	release := lockSQLite(t, db)
	p := e.startEnv([]string{"GOMAXPROCS=1"}, nil, "snap", e.src)
	waitOpen(t, p, db)
	if err := os.Remove(z); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(z, 0o644); err != nil {
		t.Fatal(err)
	}
	release()
	r := exitWithin(t, p, 30*time.Second, "FIFO swapped in")
	if r.code != 0 {
		t.Fatalf("snap with a FIFO swapped in: %v", r)
	}
	if !strings.Contains(r.stderr, "z.txt") {
		t.Errorf("no warning names z.txt: %v", r)
	}
	// Nothing is left locked: gc and another snap run.
	os.Remove(z)
	e.must("gc")
	e.must("snap", e.src)
}

// SIGTERM and SIGINT stop a snapshot cleanly and quickly, exit 130, and
// release the locks: the next snapshot runs. Once while it waits for a
// database another process has locked, once while it waits for the
// repository lock.
func TestSignalStopsSnap(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String()+"/busy-database", func(t *testing.T) {
			e := newEnv(t)
			db := filepath.Join(e.src, "app.db")
			e.makeDB(t, db)
			os.WriteFile(filepath.Join(e.src, "z.txt"), []byte("plain\n"), 0o644)
			release := lockSQLite(t, db)
			p := e.startEnv([]string{"GOMAXPROCS=1"}, nil, "snap", e.src)
			waitOpen(t, p, db)
			time.Sleep(200 * time.Millisecond) // inside SQLite's busy wait
			p.cmd.Process.Signal(sig)
			r := exitWithin(t, p, 3*time.Second, sig.String())
			if r.code != 130 || !strings.Contains(r.stderr, "interrupted") {
				t.Fatalf("after %v: want exit 130 and \"interrupted\": %v", sig, r)
			}
			release()
			e.must("snap", e.src)
		})
		t.Run(sig.String()+"/lock-wait", func(t *testing.T) {
			e := newEnv(t)
			os.WriteFile(filepath.Join(e.src, "a.txt"), []byte("a\n"), 0o644)
			e.must("snap", e.src)
			h := startHolder(t, 0, false, filepath.Join(e.repo, "local", "lock"))
			p := e.start("snap", e.src)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(p.stderr.String(), "waiting for") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			p.cmd.Process.Signal(sig)
			r := exitWithin(t, p, 3*time.Second, sig.String())
			if r.code != 130 {
				t.Fatalf("after %v while waiting for a lock: want exit 130: %v", sig, r)
			}
			h.kill()
			e.must("snap", e.src)
		})
	}
}

// Swapping a directory of the source for a symlink to an outside
// directory while snapshots run must never store outside content under an
// inside name. (It did: 5 of 200 snapshots held an outside file, because
// only the last component was opened with O_NOFOLLOW.)
func TestSwappedParentNeverLeaksOutside(t *testing.T) {
	if testing.Short() {
		t.Skip("race test")
	}
	t.Parallel()
	e := newEnv(t)
	outside := filepath.Join(e.scratch, "outside")
	sub := filepath.Join(e.src, "sub")
	os.MkdirAll(outside, 0o755)
	os.MkdirAll(sub, 0o755)
	const files = 40
	for i := 0; i < files; i++ {
		name := fmt.Sprintf("f%02d.txt", i)
		os.WriteFile(filepath.Join(sub, name), []byte("inside\n"), 0o644)
		os.WriteFile(filepath.Join(outside, name), []byte("SECRET-OUTSIDE\n"), 0o644)
	}
	os.WriteFile(filepath.Join(outside, "only-outside.txt"), []byte("SECRET-OUTSIDE\n"), 0o644)
	os.WriteFile(filepath.Join(e.src, "top.txt"), []byte("top\n"), 0o644)
	// Databases SQLite reads in place (a rollback one, a WAL one with its
	// -wal and -shm) and one read through a scratch copy (a -wal without
	// its -shm), each with an outside twin whose rows say SECRET-OUTSIDE.
	// (It leaked them: SQLite opens by path, and the check afterwards
	// looked for any descriptor on the inside file, which the snapshot's
	// own read of the header always was.)
	db := filepath.Join(sub, "app.db")
	e.makeDB(t, db)
	outsideDB := filepath.Join(outside, "app.db")
	e.makeDB(t, outsideDB)
	// Mark the outside database so a leak of it is visible in the bytes.
	{
		b, _ := os.ReadFile(outsideDB)
		b = append(b[:len(b)-64], []byte(strings.Repeat("SECRET-OUTSIDE!!", 4))...)
		os.WriteFile(outsideDB, b, 0o644)
	}
	dbs := []string{db}
	// More rollback databases: the kind that leaked, copies of the two
	// above (SQLite's open is the window, so more of them widen it).
	for _, name := range []string{"app1.db", "app2.db", "app3.db"} {
		for from, to := range map[string]string{db: filepath.Join(sub, name), outsideDB: filepath.Join(outside, name)} {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(to, b, 0o644)
		}
		dbs = append(dbs, filepath.Join(sub, name))
	}
	for _, name := range []string{"wal.db", "noshm.db"} {
		shm := name == "wal.db"
		makeWALRows(t, filepath.Join(sub, name), 50, "inside", shm)
		makeWALRows(t, filepath.Join(outside, name), 50, "SECRET-OUTSIDE", shm)
		dbs = append(dbs, filepath.Join(sub, name))
	}

	var stop atomic.Bool
	var swaps atomic.Int64
	done := make(chan struct{})
	real := filepath.Join(e.src, ".sub-real")
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			// Touch the inside files so that each snapshot reads them.
			now := time.Now()
			for j := 0; j < files; j += 7 {
				os.Chtimes(filepath.Join(sub, fmt.Sprintf("f%02d.txt", j)), now, now)
			}
			for _, p := range dbs {
				os.Chtimes(p, now, now)
			}
			if os.Rename(sub, real) != nil {
				continue
			}
			os.Symlink(outside, sub)
			time.Sleep(time.Duration(50+i%200) * time.Microsecond)
			os.Remove(sub)
			os.Rename(real, sub)
			swaps.Add(1)
			time.Sleep(time.Duration(i%300) * time.Microsecond)
		}
	}()
	n := 40
	var ids int
	for i := 0; i < n; i++ {
		r := e.run("snap", e.src)
		if r.code != 0 {
			continue // a swap that caught the walk itself may fail a snap; it must never leak
		}
		ids++
	}
	stop.Store(true)
	<-done
	if swaps.Load() == 0 || ids == 0 {
		t.Fatalf("no race happened: %d swaps, %d snapshots", swaps.Load(), ids)
	}
	t.Logf("%d snapshots against %d swaps", ids, swaps.Load())
	// Databases went through SQLite (not stored as raw bytes), the way
	// whose confinement is under test: under sub/, or under the name the
	// swap gives the directory for a moment. (Which ones, and how often,
	// is up to the race: the walk often finds sub a symlink.)
	r := e.must("sql", "SELECT count(*) FROM files WHERE path GLOB '*sub*/*.db' AND capture = 'sqlite'")
	if f := strings.Fields(r.stdout); len(f) != 2 || f[1] == "0" {
		t.Fatalf("no database was captured through SQLite: %v", r)
	} else {
		t.Logf("%s database captures through SQLite", f[1])
	}
	if r := e.must("sql", "SELECT count(*) FROM files WHERE path LIKE '%only-outside%'"); !strings.Contains(r.stdout, "\n0\n") {
		t.Errorf("an outside name was listed under the source: %v", r)
	}
	// Restore every snapshot and look for the outside bytes.
	r = e.must("sql", "SELECT id FROM snapshots ORDER BY id")
	for _, id := range strings.Fields(r.stdout)[1:] {
		to := e.fresh("restore-" + id)
		rr := e.run("restore", "--snapshot", id, e.src, "--to", to)
		if rr.code != 0 {
			t.Errorf("restore snapshot %s: %v", id, rr)
			continue
		}
		filepath.Walk(to, func(p string, fi os.FileInfo, err error) error {
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), "SECRET-OUTSIDE") {
				t.Errorf("snapshot %s stored outside content as %s", id, p)
			}
			return nil
		})
	}
}

// nobody returns the prefix that runs cairn as an unprivileged user, with
// the test's directories opened up so that user can reach them and the
// repository made its own. Without root the tests run as the current
// (already unprivileged) user.
func (e *env) nobody(t *testing.T) []string {
	t.Helper()
	if os.Getuid() != 0 {
		return nil
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("running as root without setpriv: no way to read as an unprivileged user")
	}
	for _, d := range []string{e.base, filepath.Dir(e.base), e.scratch, filepath.Dir(e.scratch), filepath.Dir(cairnBin)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(e.repo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(e.repo, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
}

// A file cairn cannot read makes the snapshot incomplete: committed, with
// an "unreadable" warning per file, the files listed on stderr, exit 3,
// and the snapshot marked in the catalog. An unreadable file is neither
// new nor deleted: its previous version (and everything beneath an
// unreadable directory) continues, so restoring it gives the last good
// copy.
func TestUnreadableFilesMakeSnapshotIncomplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	as := e.nobody(t)
	write := func(rel, data string) {
		p := filepath.Join(e.src, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.txt", "a\n")
	write("secret.txt", "good copy\n")
	write("locked/inner.txt", "inner\n")
	run := func(args ...string) result {
		r := e.startEnv(nil, as, args...).wait()
		assertNoPanic(t, r)
		return r
	}
	if r := run("snap", e.src); r.code != 0 {
		t.Fatalf("first snapshot: %v", r)
	}
	write("secret.txt", "changed, and then made unreadable\n")
	write("new.txt", "never readable\n")
	for _, p := range []string{"secret.txt", "new.txt", "locked"} {
		os.Chmod(filepath.Join(e.src, p), 0)
	}
	defer os.Chmod(filepath.Join(e.src, "locked"), 0o755)
	r := run("snap", e.src)
	if r.code != 3 {
		t.Fatalf("snapshot with unreadable files: want exit 3: %v", r)
	}
	for _, p := range []string{"secret.txt", "new.txt", "locked"} {
		if !strings.Contains(r.stderr, "\n  "+p+"\n") {
			t.Errorf("stderr does not list %s: %v", p, r)
		}
	}
	if !strings.Contains(r.stderr, "snapshot 2 is incomplete: 3 files could not be read") {
		t.Errorf("stderr does not say the snapshot is incomplete: %v", r)
	}
	if !strings.Contains(r.stdout, "; 0 paths new,") {
		t.Errorf("an unreadable file was counted as new: %v", r)
	}
	q := run("sql", "SELECT id, incomplete, unreadable FROM snapshots ORDER BY id")
	if !strings.Contains(q.stdout, "\n1   0           0\n2   1           3\n") {
		t.Errorf("snapshots view: %v", q)
	}
	q = run("sql", "SELECT path FROM warnings WHERE kind = 'unreadable' ORDER BY path")
	if got := strings.Fields(q.stdout); strings.Join(got, " ") != "path locked new.txt secret.txt" {
		t.Errorf("unreadable warnings: %v", q)
	}
	q = run("sql", "SELECT path FROM files WHERE snapshot_id = 2 AND type = 'file' ORDER BY path")
	if got := strings.Fields(q.stdout); strings.Join(got, " ") != "path a.txt locked/inner.txt secret.txt" {
		t.Errorf("files of the incomplete snapshot: %v", q)
	}
	if c := run("cat", "--snapshot", "2", filepath.Join(e.src, "secret.txt")); c.code != 0 || c.stdout != "good copy\n" {
		t.Errorf("cat of the unreadable file from the incomplete snapshot: %v", c)
	}
}

// makeWALFiles writes a WAL database with rows committed to its -wal (and
// its -shm) at path, as a live writer leaves them.
func makeWALFiles(t *testing.T, path string, rows int) {
	t.Helper()
	makeWALRows(t, path, rows, "row", true)
}

// makeWALRows is makeWALFiles with rows whose bodies start with body,
// and without the -shm unless shm.
func makeWALRows(t *testing.T, path string, rows int, body string, shm bool) {
	t.Helper()
	live := filepath.Join(t.TempDir(), "live.db")
	db, err := sql.Open("sqlite3", "file:"+live+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA wal_autocheckpoint = 0", "CREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT)",
		fmt.Sprintf("INSERT INTO item(body) SELECT '%s ' || value FROM (WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c WHERE value < %d) SELECT value FROM c)", body, rows)} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	suffixes := []string{"", "-wal", "-shm"}
	if !shm {
		suffixes = suffixes[:2]
	}
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

func rowCount(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM item").Scan(&n); err != nil {
		t.Fatalf("count rows of %s: %v", path, err)
	}
	return n
}

// A read-only backup user (one who may read the source but write nothing
// in it) meets databases SQLite cannot open read-only in place: a WAL
// database whose -shm it may not write, and one whose -wal it may not
// read. The first is captured with every commit; the second is captured
// as of its last checkpoint and the snapshot says its -wal was
// unreadable (exit 3), as does a database whose -journal it may not read.
// None stops the rest, and nothing is created in the source.
func TestReadOnlyUserDatabases(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	as := e.nobody(t)
	os.WriteFile(filepath.Join(e.src, "notes.txt"), []byte("notes\n"), 0o644)
	makeWALFiles(t, filepath.Join(e.src, "shm.db"), 30)
	makeWALFiles(t, filepath.Join(e.src, "wal.db"), 40)
	os.Chmod(filepath.Join(e.src, "wal.db-wal"), 0)
	// A rollback database with a journal this user may not read: whether
	// it is hot cannot be told, so the snapshot says it was unreadable.
	e.makeDB(t, filepath.Join(e.src, "journal.db"))
	os.WriteFile(filepath.Join(e.src, "journal.db-journal"), []byte("\x01 not readable by the backup user"), 0)
	before, _ := os.ReadDir(e.src)
	r := e.startEnv(nil, as, "snap", e.src).wait()
	assertNoPanic(t, r)
	if r.code != 3 || !strings.Contains(r.stderr, "\n  wal.db-wal\n") || !strings.Contains(r.stderr, "\n  journal.db-journal\n") {
		t.Fatalf("want exit 3 naming wal.db-wal and journal.db-journal: %v", r)
	}
	after, _ := os.ReadDir(e.src)
	if len(after) != len(before) {
		t.Errorf("the snapshot created files in the source: %v -> %v", before, after)
	}
	to := e.fresh("restore")
	if rr := e.run("restore", "--snapshot", "1", e.src, "--to", to); rr.code != 0 {
		t.Fatalf("restore: %v", rr)
	}
	if n := rowCount(t, filepath.Join(to, "shm.db")); n != 30 {
		t.Errorf("shm.db: %d rows, want the 30 committed in its -wal", n)
	}
	if n, err := os.ReadFile(filepath.Join(to, "notes.txt")); err != nil || string(n) != "notes\n" {
		t.Errorf("notes.txt: %q %v", n, err)
	}
	// wal.db is there, as of its last checkpoint (before the table was
	// made: all of it is in the unreadable -wal), and sound.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(to, "wal.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA quick_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("wal.db: quick_check %q %v", check, err)
	}
}
