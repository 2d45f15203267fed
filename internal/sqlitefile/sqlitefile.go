// Package sqlitefile recognises SQLite database files and copies them consistently while other processes write.
//
// Copying the bytes of a live database beside its write-ahead log gives a
// torn copy, so [Backup] goes through SQLite's online backup API instead: it
// opens the source read-only, pins one read snapshot and copies every page of
// that snapshot in a single step. The copy keeps the source's page size and
// page order, so unchanged data yields byte-identical pages from one snapshot
// to the next.
package sqlitefile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Header is the 16-byte magic at the start of every SQLite 3 database.
const Header = "SQLite format 3\x00"

// headerSize is the size of the database header stored at the start of page 1.
const headerSize = 100

// quietFor is how long a WAL-mode database without a -wal file must have gone
// unmodified before Backup reads it without locks (see openPlan). It is far
// larger than any file system's timestamp granularity that matters here, so a
// write that lands during the copy always moves the modification time.
const quietFor = 2 * time.Second

// ErrNotDatabase reports a file that SQLite refuses to read as a database:
// the header is missing, or SQLite finds the file corrupt, encrypted or
// otherwise not a database.
var ErrNotDatabase = errors.New("sqlitefile: not a database")

// ErrBusy reports that no read snapshot of the source could be obtained within
// the busy timeout because other connections held conflicting locks.
var ErrBusy = errors.New("sqlitefile: database busy")

// Info describes a completed copy.
type Info struct {
	PageSize   int   // bytes per page of the copy
	Pages      int   // number of pages in the copy
	QuickCheck error // nil when PRAGMA quick_check on the copy returned "ok"; otherwise an error describing the first problem
}

// IsDatabase reports whether b (the first bytes of a file) starts with Header.
func IsDatabase(b []byte) bool {
	return len(b) >= len(Header) && string(b[:len(Header)]) == Header
}

// Sniff opens path and reports whether it starts with Header. A file shorter
// than Header yields false and a nil error.
func Sniff(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("sniff %s: %w", path, err)
	}
	defer f.Close()
	b := make([]byte, len(Header))
	if _, err := io.ReadFull(f, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, fmt.Errorf("sniff %s: %w", path, err)
	}
	return IsDatabase(b), nil
}

// Sidecars returns the names of the files SQLite keeps beside the database at
// path: its write-ahead log, its shared-memory index and its rollback journal.
func Sidecars(path string) []string {
	return []string{path + "-wal", path + "-shm", path + "-journal"}
}

// afterImmutableCopy, when set by tests, runs after a lock-free copy and
// before it is verified.
var afterImmutableCopy func()

// Backup copies the database at src into dst, a path that must not exist yet
// in an existing directory, as one consistent committed state of src, even
// while other connections or processes write and commit to it in WAL or
// rollback-journal mode.
//
// The source is opened read-only with the given busy timeout; Backup pins one
// read transaction on it and copies every page in a single backup step, so it
// finishes in bounded time under a busy writer. It never checkpoints,
// truncates or deletes the source's WAL. A WAL-mode database whose -wal file
// is absent and which has not been modified recently is read without locks
// (SQLite's immutable mode) so that no -wal or -shm file is created beside it;
// if the file changes during that copy, Backup copies again the ordinary way.
//
// The copy keeps the source's page size and page order. After copying, Backup
// runs PRAGMA quick_check on dst and reports the result in Info; a failing
// check is not an error. dst is fsynced before Backup returns. On any error
// dst is removed. Errors wrap ErrNotDatabase when SQLite refuses the source,
// ErrBusy when no read snapshot could be had within busyTimeout, and
// ctx.Err() when ctx ends first.
func Backup(ctx context.Context, src, dst string, busyTimeout time.Duration) (info Info, err error) {
	info, err = Copy(ctx, src, dst, busyTimeout)
	if err != nil {
		return Info{}, err
	}
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()
	if info.QuickCheck, err = QuickCheck(ctx, dst); err != nil {
		return Info{}, err
	}
	if err := syncFile(dst); err != nil {
		return Info{}, err
	}
	return info, nil
}

// Copy is Backup without the quick_check and without the fsync: for a
// scratch copy that is read once and deleted, whose check the caller runs
// itself (with QuickCheck, perhaps while it reads the copy). Info.QuickCheck
// is nil.
func Copy(ctx context.Context, src, dst string, busyTimeout time.Duration) (info Info, err error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	src, err = resolve(src)
	if err != nil {
		return Info{}, fmt.Errorf("resolve source: %w", err)
	}
	dst, err = filepath.Abs(dst)
	if err != nil {
		return Info{}, fmt.Errorf("resolve destination: %w", err)
	}
	hdr, err := readHeader(src)
	if err != nil {
		return Info{}, fmt.Errorf("read header of %s: %w", src, err)
	}
	if !IsDatabase(hdr) {
		return Info{}, fmt.Errorf("read header of %s: %w: no SQLite header", src, ErrNotDatabase)
	}

	// Claim dst atomically: it must not exist, and whatever else is there
	// must not be removed by the cleanup below.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Info{}, fmt.Errorf("create %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(dst)
		return Info{}, fmt.Errorf("create %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()

	done := false
	if q, ok := quietWAL(src, hdr, true); ok {
		err = copyDatabase(ctx, src, dst, busyTimeout, true)
		if hook := afterImmutableCopy; hook != nil {
			hook()
		}
		if q.unchanged() {
			if err != nil {
				return Info{}, err
			}
			done = true
		} else {
			// The source moved under the lock-free copy: start again from an
			// empty destination with locks.
			if err := os.Truncate(dst, 0); err != nil {
				return Info{}, fmt.Errorf("truncate %s: %w", dst, err)
			}
		}
	}
	if !done {
		if err := copyDatabase(ctx, src, dst, busyTimeout, false); err != nil {
			return Info{}, err
		}
	}

	return geometry(ctx, dst)
}

// copyDatabase copies one read snapshot of src into the existing empty file
// dst with the online backup API.
func copyDatabase(ctx context.Context, src, dst string, busyTimeout time.Duration, immutable bool) (err error) {
	sdb, err := sql.Open("sqlite3", sourceDSN(src, busyTimeout, immutable))
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer sdb.Close()
	sconn, err := sdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, ctxOr(ctx, classify(err)))
	}
	defer sconn.Close()

	// The destination needs no journal: it is ours alone, and a failed
	// copy is removed. Durability comes from the fsync at the end.
	ddb, err := sql.Open("sqlite3", uri(dst, "mode=rw&_journal_mode=OFF&_synchronous=OFF"))
	if err != nil {
		return fmt.Errorf("open %s: %w", dst, err)
	}
	defer ddb.Close()
	dconn, err := ddb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", dst, ctxOr(ctx, err))
	}
	defer dconn.Close()

	// Pin one read snapshot of the source. The first read waits for locks
	// up to the busy timeout; the backup step below then runs inside this
	// transaction, so it copies exactly this committed state and never has
	// to restart because a writer committed meanwhile.
	if _, err := sconn.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("begin read of %s: %w", src, ctxOr(ctx, classify(err)))
	}
	defer func() {
		if _, rerr := sconn.ExecContext(context.Background(), "ROLLBACK"); rerr != nil && err == nil {
			err = fmt.Errorf("end read of %s: %w", src, rerr)
		}
	}()
	var tables int
	if err := sconn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return fmt.Errorf("begin read of %s: %w", src, ctxOr(ctx, classify(err)))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("back up %s: %w", src, err)
	}

	err = dconn.Raw(func(d any) error {
		dc, ok := d.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("open %s: unexpected driver connection %T", dst, d)
		}
		return sconn.Raw(func(s any) error {
			sc, ok := s.(*sqlite3.SQLiteConn)
			if !ok {
				return fmt.Errorf("open %s: unexpected driver connection %T", src, s)
			}
			return backupStep(dc, sc)
		})
	})
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// backupStep copies all pages of the source's main database into the
// destination's in one sqlite3_backup_step call.
func backupStep(dc, sc *sqlite3.SQLiteConn) error {
	bk, err := dc.Backup("main", sc, "main")
	if err != nil {
		return fmt.Errorf("start backup: %w", classify(err))
	}
	// go-sqlite3's Step reports SQLITE_BUSY and SQLITE_LOCKED as
	// (false, nil); with nPage = -1 every other non-error outcome is DONE.
	done, err := bk.Step(-1)
	ferr := bk.Finish()
	switch {
	case err != nil:
		return fmt.Errorf("step backup: %w", classify(err))
	case !done:
		return fmt.Errorf("step backup: %w: source or destination locked", ErrBusy)
	case ferr != nil:
		return fmt.Errorf("finish backup: %w", classify(ferr))
	}
	return nil
}

// openCopy opens a finished, closed copy immutable: nothing is created
// beside it even when it is in WAL mode.
func openCopy(ctx context.Context, path string) (*sql.DB, *sql.Conn, error) {
	db, err := sql.Open("sqlite3", uri(path, "mode=ro&immutable=1"))
	if err != nil {
		return nil, nil, fmt.Errorf("open copy %s: %w", path, err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("open copy %s: %w", path, ctxOr(ctx, classify(err)))
	}
	return db, conn, nil
}

// geometry reads the page size and count of a finished copy.
func geometry(ctx context.Context, dst string) (Info, error) {
	db, conn, err := openCopy(ctx, dst)
	if err != nil {
		return Info{}, err
	}
	defer db.Close()
	defer conn.Close()
	var info Info
	if err := conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&info.PageSize); err != nil {
		return Info{}, fmt.Errorf("read page size of %s: %w", dst, ctxOr(ctx, classify(err)))
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&info.Pages); err != nil {
		return Info{}, fmt.Errorf("read page count of %s: %w", dst, ctxOr(ctx, classify(err)))
	}
	return info, nil
}

// QuickCheck runs PRAGMA quick_check on a copy made by Copy. The first
// result is the check's verdict (nil when "ok"); the error is for failing to
// run it at all.
func QuickCheck(ctx context.Context, path string) (problem error, err error) {
	db, conn, err := openCopy(ctx, path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	defer conn.Close()
	problem = runCheck(ctx, conn, "quick_check")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("check %s: %w", path, err)
	}
	return problem, nil
}

// runCheck runs PRAGMA pragma (quick_check or integrity_check) and returns
// nil when it reports "ok", else a one-line error quoting the first problem.
// An SQLite error while checking counts as a problem.
func runCheck(ctx context.Context, conn *sql.Conn, pragma string) error {
	rows, err := conn.QueryContext(ctx, "PRAGMA "+pragma)
	if err != nil {
		return fmt.Errorf("%s: %w", pragma, classify(err))
	}
	defer rows.Close()
	var first string
	n := 0
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("%s: %w", pragma, err)
		}
		if n == 0 {
			first = s
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", pragma, classify(err))
	}
	switch {
	case n == 0:
		return fmt.Errorf("%s: no result", pragma)
	case n == 1 && first == "ok":
		return nil
	case n == 1:
		return fmt.Errorf("%s: %s", pragma, oneLine(first))
	default:
		return fmt.Errorf("%s: %s (and %d more problems)", pragma, oneLine(first), n-1)
	}
}

// IntegrityCheck opens the database at path read-only and runs PRAGMA
// integrity_check. It returns nil when the check reports "ok", else an error
// quoting the first problem on one line. Like Backup, it avoids creating -wal
// and -shm files beside a closed WAL-mode database.
func IntegrityCheck(path string) error {
	const busy = 5 * time.Second
	p, err := resolve(path)
	if err != nil {
		return fmt.Errorf("check integrity of %s: %w", path, err)
	}
	hdr, err := readHeader(p)
	if err != nil {
		return fmt.Errorf("check integrity of %s: %w", p, err)
	}
	if !IsDatabase(hdr) {
		return fmt.Errorf("check integrity of %s: %w: no SQLite header", p, ErrNotDatabase)
	}
	if q, ok := quietWAL(p, hdr, false); ok {
		err := integrity(p, busy, true)
		// A lock-free read is trusted when the file did not change, and a
		// failure only if it was also quiet beforehand (so that a change
		// within the file system's timestamp granularity cannot hide).
		if q.unchanged() && (err == nil || q.quiet) {
			return err
		}
	}
	return integrity(p, busy, false)
}

func integrity(path string, busy time.Duration, immutable bool) error {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", sourceDSN(path, busy, immutable))
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, classify(err))
	}
	defer conn.Close()
	if err := runCheck(ctx, conn, "integrity_check"); err != nil {
		return fmt.Errorf("check integrity of %s: %w", path, err)
	}
	return nil
}

// quiet records the state of a WAL-mode database file that has no -wal file,
// so that a lock-free read of it can be verified afterwards.
type quiet struct {
	path  string
	fi    os.FileInfo
	quiet bool // unmodified for at least quietFor before the read
}

// quietWAL reports whether the database at path, whose header is hdr, can be
// read without locks (SQLite's immutable mode) instead of with a read-only
// connection, which on a WAL-mode database creates -wal and -shm files beside
// it and cannot remove them afterwards. That holds for a WAL-mode database
// with neither -wal nor -journal file: all committed data is in the main
// file. If needQuiet, the file must also have gone unmodified for quietFor, so
// that any write during the read changes its modification time.
func quietWAL(path string, hdr []byte, needQuiet bool) (*quiet, bool) {
	if len(hdr) < headerSize || (hdr[18] != 2 && hdr[19] != 2) {
		return nil, false
	}
	if exists(path+"-wal") || exists(path+"-journal") {
		return nil, false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, false
	}
	age := time.Since(fi.ModTime())
	q := &quiet{path: path, fi: fi, quiet: age >= quietFor}
	if needQuiet && !q.quiet {
		return nil, false
	}
	return q, true
}

// unchanged reports whether the file is still the one recorded, with the
// same size and modification time, and still has no -wal or -journal file.
func (q *quiet) unchanged() bool {
	if exists(q.path+"-wal") || exists(q.path+"-journal") {
		return false
	}
	fi, err := os.Stat(q.path)
	if err != nil {
		return false
	}
	return os.SameFile(q.fi, fi) && fi.Size() == q.fi.Size() && fi.ModTime().Equal(q.fi.ModTime())
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil || !errors.Is(err, os.ErrNotExist)
}

// resolve returns the absolute path of path with symbolic links resolved, as
// SQLite resolves them before naming the -wal, -shm and -journal files.
func resolve(path string) (string, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(p)
}

// readHeader returns up to the first 100 bytes of the file at path.
func readHeader(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, headerSize)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return b[:n], nil
}

// sourceDSN names the database at path for a read-only connection.
func sourceDSN(path string, busy time.Duration, immutable bool) string {
	ms := busy.Milliseconds()
	if ms <= 0 && busy > 0 {
		ms = 1
	}
	if ms < 0 {
		ms = 0
	}
	q := fmt.Sprintf("mode=ro&_busy_timeout=%d", ms)
	if immutable {
		q += "&immutable=1"
	}
	return uri(path, q)
}

// uri returns an SQLite URI filename for the absolute path with the query q.
func uri(path, query string) string {
	p := filepath.ToSlash(path)
	p = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letters: file:/C:/...
	}
	return "file:" + p + "?" + query
}

// classify wraps SQLite errors that mean "not a database" or "busy" in
// ErrNotDatabase or ErrBusy, keeping SQLite's message.
func classify(err error) error {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrNotADB, sqlite3.ErrCorrupt:
		return fmt.Errorf("%w: %w", ErrNotDatabase, err)
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return err
}

// ctxOr returns ctx's error, wrapping err, when ctx has ended (SQLite then
// reports an interrupt), else err.
func ctxOr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

// oneLine folds a multi-line SQLite message into one line.
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "; ")
}

// syncFile flushes the file at path, and best effort its directory entry, to
// stable storage.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // not every file system can sync a directory
		d.Close()
	}
	return nil
}
