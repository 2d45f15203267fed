package snapshot

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/catalog"
)

// makeRowsDB creates a rollback-journal database with n committed rows.
func makeRowsDB(t testing.TB, path string, n int) {
	t.Helper()
	db := openDB(t, path, "_journal_mode=DELETE")
	mustExec(t, db, "CREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT)")
	mustExec(t, db, "INSERT INTO item(body) SELECT 'committed ' || value FROM (WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c WHERE value < ?) SELECT value FROM c)", n)
	db.Close()
}

// TestCrashHelperProcess is not a test: TestHotJournal runs it as a child
// that starts a big transaction, spills it into the database file (so the
// -journal is hot) and waits to be killed.
func TestCrashHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "crash" {
		t.Skip("helper process only")
	}
	db := openDB(t, os.Getenv(envDB), "_journal_mode=DELETE&cache_size=1")
	mustExec(t, db, "PRAGMA cache_size = 1") // spill dirty pages to the file at once
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO item(body) SELECT 'uncommitted ' || hex(randomblob(500)) FROM (WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c WHERE value < 3000) SELECT value FROM c)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE item SET body = 'overwritten' WHERE id <= 50"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	select {} // killed here, mid-transaction
}

// crashMidTransaction leaves the database at path with a hot journal: a
// child process is killed with SIGKILL inside a transaction that already
// wrote into the database file.
func crashMidTransaction(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"=crash", envDB+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("crash helper: %q %s", sc.Text(), stderr.String())
	}
	cmd.Process.Kill()
	cmd.Wait()
	if fi, err := os.Stat(path + "-journal"); err != nil || fi.Size() == 0 {
		t.Fatalf("no hot journal after the crash: %v", err)
	}
}

func readAll(t testing.TB, paths ...string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			m[p] = b
		}
	}
	return m
}

func sameFiles(t testing.TB, before, after map[string][]byte) {
	t.Helper()
	for p, b := range before {
		if !bytes.Equal(after[p], b) {
			t.Errorf("%s was changed by the snapshot", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s was created by the snapshot", p)
		}
	}
}

// A database whose writer crashed mid-transaction (a hot rollback journal)
// is captured in its committed state, the rest of the source with it, and
// the original database and journal are left exactly as they were.
func TestHotJournal(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "notes.txt"), "notes")
	db := filepath.Join(src, "app.db")
	makeRowsDB(t, db, 100)
	crashMidTransaction(t, db)
	backdate(t, src, time.Hour)
	files := []string{db, db + "-journal", db + "-wal", db + "-shm"}
	before := readAll(t, files...)

	res := r.snap(t, src, Options{})
	if res.New != 3 || len(res.Unreadable) != 0 {
		t.Errorf("snapshot: %+v, want 3 new and nothing unreadable", res)
	}
	got := r.restoreTo(t, res.ID, "app.db")
	integrityOK(t, got)
	if n := countRows(t, got, "SELECT count(*) FROM item WHERE body LIKE 'committed %'"); n != 100 {
		t.Errorf("captured %d committed rows, want 100", n)
	}
	if n := countRows(t, got, "SELECT count(*) FROM item"); n != 100 {
		t.Errorf("captured %d rows, want the 100 committed ones only", n)
	}
	if rows := r.query(t, "SELECT capture, db_check FROM version WHERE path = 'app.db'"); len(rows) != 1 || rows[0] != "sqlite ok" {
		t.Errorf("app.db version = %v, want sqlite ok", rows)
	}
	sameFiles(t, before, readAll(t, files...))
}

// A stray -journal (not one SQLite wrote for this database) makes a
// read-only open fail just like a hot one; the database is still captured.
func TestStrayJournal(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	db := filepath.Join(src, "app.db")
	makeRowsDB(t, db, 10)
	writeFile(t, db+"-journal", "\x01not a journal at all, but not empty either")
	backdate(t, src, time.Hour)
	before := readAll(t, db, db+"-journal")
	res := r.snap(t, src, Options{})
	got := r.restoreTo(t, res.ID, "app.db")
	integrityOK(t, got)
	if n := countRows(t, got, "SELECT count(*) FROM item"); n != 10 {
		t.Errorf("captured %d rows, want 10", n)
	}
	sameFiles(t, before, readAll(t, db, db+"-journal", db+"-shm", db+"-wal"))
}

// A WAL database with its -wal but no -shm (copied from elsewhere, or the
// -shm was removed) is captured with the commits in its -wal, and no -shm
// is created beside it.
func TestWALWithoutShm(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	work := t.TempDir()
	live := filepath.Join(work, "live.db")
	w := openDB(t, live, "_journal_mode=WAL")
	mustExec(t, w, "PRAGMA wal_autocheckpoint = 0")
	mustExec(t, w, "CREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT)")
	mustExec(t, w, "INSERT INTO item(body) SELECT 'row ' || value FROM (WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c WHERE value < 70) SELECT value FROM c)")
	db := filepath.Join(src, "app.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(live + suffix)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, db+suffix, string(b))
	}
	w.Close()
	backdate(t, src, time.Hour)
	before := readAll(t, db, db+"-wal")
	res := r.snap(t, src, Options{})
	if got := r.livePaths(t, src); len(got) != 2 || got[1] != "app.db" {
		t.Errorf("live paths = %v, want . and app.db", got)
	}
	got := r.restoreTo(t, res.ID, "app.db")
	integrityOK(t, got)
	if n := countRows(t, got, "SELECT count(*) FROM item"); n != 70 {
		t.Errorf("captured %d rows, want the 70 committed in the -wal", n)
	}
	sameFiles(t, before, readAll(t, db, db+"-wal", db+"-shm", db+"-journal"))
}

// tornWriter plays a process that changes a file while the snapshot reads
// it (through readHook): it appends a block as each read of the file
// starts, so that every read is torn, and during the last of them, if
// truncateAt is set, truncates the file there and writes it back, and
// gives that read what Linux gives a read racing such a truncate: zeros
// from the truncation to the end of the folio.
type tornWriter struct {
	t          *testing.T
	path       string
	master     []byte
	size       int64
	truncateAt int64
	reads      int
}

func (w *tornWriter) hook(off int64, b []byte) {
	if off == 0 {
		w.reads++
		w.write(w.size, w.size+64<<10)
	}
	end := off + int64(len(b))
	if w.reads != readRetries || w.truncateAt == 0 || w.truncateAt < off || w.truncateAt >= end {
		return
	}
	if err := os.Truncate(w.path, w.truncateAt); err != nil {
		w.t.Error(err)
	}
	folioEnd := (w.truncateAt | (64<<10 - 1)) + 1
	clear(b[w.truncateAt-off : min(folioEnd, end)-off])
	w.write(w.truncateAt, w.size)
}

// write writes master[from:to] at from.
func (w *tornWriter) write(from, to int64) {
	f, err := os.OpenFile(w.path, os.O_WRONLY, 0)
	if err != nil {
		w.t.Error(err)
		return
	}
	defer f.Close()
	if _, err := f.WriteAt(w.master[from:to], from); err != nil {
		w.t.Error(err)
	}
	w.size = max(w.size, to)
}

// A file that changes under every read is stored as last read only if it
// still holds those bytes: one appended to does, while a read that raced a
// truncate may hold zeros the file never had (TestFileChangesWhileRead in
// internal/crashtest caught such a snapshot), and then the previous
// version continues, or the file waits for the next snapshot if it is new.
func TestTornRead(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	master := make([]byte, 8<<20)
	for i := range master {
		master[i] = byte(rng.UintN(255)) + 1 // no zeros: none can be the file's
	}
	for _, tc := range []struct {
		name       string
		previous   bool  // a version was stored before
		truncateAt int64 // 0: only appended to
		want       string
	}{
		{"appended", true, 0, "stored the last read"},
		{"truncated", true, 5<<20 + 1000, "the previous version continues"},
		{"truncated new file", false, 5<<20 + 1000, "not in this snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t, t.TempDir())
			src := t.TempDir()
			path := filepath.Join(src, "big.log")
			writeFile(t, filepath.Join(src, "other.txt"), "other")
			if tc.previous {
				writeFile(t, path, string(master[:4<<20]))
				backdate(t, src, time.Hour)
				r.snap(t, src, Options{})
			}
			writeFile(t, path, string(master[:6<<20]))
			w := &tornWriter{t: t, path: path, master: master, size: 6 << 20, truncateAt: tc.truncateAt}
			readHook = w.hook
			res := r.snap(t, src, Options{})
			readHook = nil
			if w.reads != readRetries {
				t.Fatalf("big.log read %d times, want %d", w.reads, readRetries)
			}
			var msg string
			for _, x := range res.Warnings {
				if x.Path == "big.log" && x.Kind == catalog.WarnChangedWhileReading {
					msg = x.Message
				}
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("warning %q, want one saying %q (%+v)", msg, tc.want, res.Warnings)
			}
			if len(res.Unreadable) != 0 {
				t.Errorf("unreadable %v: a torn file is not an unreadable one", res.Unreadable)
			}
			if !tc.previous && tc.truncateAt != 0 {
				if got := r.livePaths(t, src); slices.Contains(got, "big.log") {
					t.Errorf("live paths %v: a new file whose every read was torn is not stored", got)
				}
				return
			}
			got, err := os.ReadFile(r.restoreTo(t, res.ID, "big.log"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, master[:len(got)]) {
				i := 0
				for got[i] == master[i] {
					i++
				}
				t.Fatalf("restored big.log (%d bytes) differs from every state the file had from byte %d on (%x)", len(got), i, got[i:min(i+8, len(got))])
			}
			wantLen := 4 << 20 // the previous version
			if tc.truncateAt == 0 {
				wantLen = int(w.size) // the last read, which saw the last append
			}
			if len(got) != wantLen {
				t.Errorf("restored big.log has %d bytes, want %d", len(got), wantLen)
			}
		})
	}
}

// A quiet WAL-mode database (closed, no -wal) is stored as it lies, not
// through a backup copy: what restores is the very file, byte for byte
// (a backup copy differs in its header's change counter and schema
// cookie), and the catalog records it as a checked SQLite capture.
func TestQuietDatabaseStoredAsItLies(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	dbPath := filepath.Join(src, "app.db")
	db := openDB(t, dbPath, "_journal_mode=WAL")
	mustExec(t, db, "CREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT)")
	mustExec(t, db, "INSERT INTO item(body) SELECT hex(randomblob(300)) FROM (WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c WHERE value < 2000) SELECT value FROM c)")
	db.Close()
	backdate(t, src, time.Hour)
	want, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	res := r.snap(t, src, Options{})
	if got := r.query(t, `SELECT v.capture, c.chunking, v.db_check FROM version v JOIN content c ON c.id = v.content_id
		WHERE v.path = 'app.db'`); !slices.Equal(got, []string{"sqlite fixed:8192 ok"}) {
		t.Errorf("app.db capture, chunking, check = %v", got)
	}
	restored := r.restoreTo(t, res.ID, "app.db")
	got, err := os.ReadFile(restored)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the restored database (%d bytes) is not the file (%d bytes) byte for byte", len(got), len(want))
	}
	if n := countRows(t, restored, "SELECT count(*) FROM item"); n != 2000 {
		t.Errorf("restored %d rows, want 2000", n)
	}
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(dbPath + side); err == nil {
			t.Errorf("the snapshot left %s beside the database", side)
		}
	}
}

// A writer that commits while a quiet database is read directly sends it
// through the backup API after all: what is stored is one committed state
// (here the one with the writer's row), never the bytes read before.
func TestQuietDatabaseWrittenDuringRead(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	dbPath := filepath.Join(src, "app.db")
	db := openDB(t, dbPath, "_journal_mode=WAL")
	mustExec(t, db, "CREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT)")
	mustExec(t, db, "INSERT INTO item(body) VALUES ('first')")
	db.Close()
	backdate(t, src, time.Hour)
	calls := 0
	afterDirectRead = func(rel string) {
		if calls++; calls > 1 {
			return
		}
		w := openDB(t, dbPath, "_journal_mode=WAL")
		mustExec(t, w, "INSERT INTO item(body) VALUES ('late')")
		w.Close() // checkpointed into the main file, the -wal removed
	}
	t.Cleanup(func() { afterDirectRead = nil })
	res := r.snap(t, src, Options{})
	if calls != 1 {
		t.Fatalf("the direct read ran %d times, want 1 (then the backup copy)", calls)
	}
	restored := r.restoreTo(t, res.ID, "app.db")
	integrityOK(t, restored)
	if n := countRows(t, restored, "SELECT count(*) FROM item"); n != 2 {
		t.Errorf("restored %d rows, want 2 (the late commit)", n)
	}
	if got := r.query(t, "SELECT capture, db_check FROM version WHERE path = 'app.db'"); !slices.Equal(got, []string{"sqlite ok"}) {
		t.Errorf("app.db capture, check = %v", got)
	}
}
