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
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/cairn-dev/cairn/internal/beneath"
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

// ErrMoved reports that SQLite, which opens files by name, did not open
// the file the caller opened beneath the source directory: the database
// was replaced in its directory in between. Reading again may succeed.
var ErrMoved = errors.New("sqlitefile: database moved while it was opened")

// ErrBusy reports that no read snapshot of the source could be obtained within
// the busy timeout because other connections held conflicting locks.
var ErrBusy = errors.New("sqlitefile: database busy")

// Info describes a completed copy.
type Info struct {
	PageSize   int   // bytes per page of the copy
	Pages      int   // number of pages in the copy
	QuickCheck error // nil when PRAGMA quick_check on the copy returned "ok"; otherwise an error describing the first problem
	// Recovered is "-journal" or "-wal" when SQLite could not read the
	// original in place and the copy was made from a scratch copy of the
	// database and that sidecar (hot journal rolled back, log replayed).
	Recovered string
	// Unreadable lists sidecar suffixes ("-wal", "-journal") that exist
	// but could not be read: the copy lacks what they held (commits in a
	// -wal; a hot journal's undo, so the copy may be half-written).
	Unreadable []string
}

// IsDatabase reports whether b (the first bytes of a file) starts with Header.
func IsDatabase(b []byte) bool {
	return len(b) >= len(Header) && string(b[:len(Header)]) == Header
}

// Sniff opens path and reports whether it starts with Header. A file shorter
// than Header yields false and a nil error.
func Sniff(path string) (bool, error) {
	// Non-blocking, and only regular files: a FIFO would wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false, fmt.Errorf("sniff %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return false, err
	}
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
	dir, err := beneath.Open(filepath.Dir(src))
	if err != nil {
		return Info{}, fmt.Errorf("open %s: %w", src, err)
	}
	defer dir.Close()
	return CopyAt(ctx, dir, filepath.Base(src), dst, busyTimeout)
}

// CopyAt is Copy for the database at rel ('/'-separated) beneath dir, for
// a caller that must never be led outside dir by a symlink: the database
// and its directory are opened beneath dir without following symlinks,
// and SQLite is handed a name beneath that open directory (not a path it
// would resolve again), so it finds the database and its -wal, -shm and
// -journal there even if a directory on the way is swapped meanwhile. A
// database replaced within its directory before SQLite opened it is
// refused with ErrMoved.
//
// A database SQLite cannot read in place without writing beside it — a
// hot rollback journal left by a crashed writer, a -wal without its -shm,
// a sidecar this user may not write — is copied with its -journal or -wal
// into the directory of dst, and SQLite rolls back or replays that scratch
// copy: dst is then the committed state, and the original is never
// touched. Info.Recovered says when that happened; Info.Unreadable names
// sidecars that could not be read at all (the copy then lacks what they
// held).
func CopyAt(ctx context.Context, dir *beneath.Dir, rel, dst string, busyTimeout time.Duration) (info Info, err error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	src, err := openSource(dir, rel)
	if err != nil {
		return Info{}, err
	}
	defer src.close()
	return copySource(ctx, src, dst, busyTimeout)
}

// copySource is CopyAt for a database already opened beneath its
// directory.
func copySource(ctx context.Context, src *source, dst string, busyTimeout time.Duration) (info Info, err error) {
	dst, err = filepath.Abs(dst)
	if err != nil {
		return Info{}, fmt.Errorf("resolve destination: %w", err)
	}
	hdr, err := src.header()
	if err != nil {
		return Info{}, fmt.Errorf("read header of %s: %w", src.path, err)
	}
	if !IsDatabase(hdr) {
		return Info{}, fmt.Errorf("read header of %s: %w: no SQLite header", src.path, ErrNotDatabase)
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

	var recovered string
	var unreadable []string
	switch {
	case src.exists("-wal") && !src.exists("-shm"):
		// Reading it in place would create a -shm beside it (as whoever
		// runs cairn) or fail: replay the -wal in a scratch copy.
		recovered, unreadable, err = copyViaScratch(ctx, src, dst, busyTimeout)
	default:
		err = copyInPlace(ctx, src, hdr, dst, busyTimeout)
		if err != nil && ctx.Err() == nil && needsWrite(err) {
			if terr := os.Truncate(dst, 0); terr != nil {
				return Info{}, fmt.Errorf("truncate %s: %w", dst, terr)
			}
			recovered, unreadable, err = copyViaScratch(ctx, src, dst, busyTimeout)
		}
	}
	if err != nil {
		return Info{}, err
	}
	info, err = geometry(ctx, dst)
	info.Recovered, info.Unreadable = recovered, unreadable
	return info, err
}

// copyInPlace copies the database with SQLite reading the original: the
// only way to a consistent copy while other processes write to it.
func copyInPlace(ctx context.Context, src *source, hdr []byte, dst string, busyTimeout time.Duration) error {
	if q, ok := src.quietWAL(hdr, true); ok {
		err := copyDatabase(ctx, src, src.path, src.dsn(busyPoll, true), dst, busyTimeout)
		if hook := afterImmutableCopy; hook != nil {
			hook()
		}
		if q.unchanged() {
			return err
		}
		// The source moved under the lock-free copy: start again from an
		// empty destination with locks.
		if err := os.Truncate(dst, 0); err != nil {
			return fmt.Errorf("truncate %s: %w", dst, err)
		}
	}
	return copyDatabase(ctx, src, src.path, src.dsn(busyPoll, false), dst, busyTimeout)
}

// needsWrite reports whether SQLite refused a read-only open because it
// would have had to write: roll back a hot journal, rebuild a -shm, or
// open a sidecar it may not.
func needsWrite(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrReadonly || se.Code == sqlite3.ErrCantOpen || se.Code == sqlite3.ErrPerm ||
			se.Code == sqlite3.ErrIoErr || se.Code == sqlite3.ErrAuth
	}
	return errors.Is(err, fs.ErrPermission)
}

// scratchRetries bounds how often a scratch copy is taken again because
// the database changed while its files were copied.
const scratchRetries = 3

// copyViaScratch copies the database's bytes and its -journal or -wal
// next to dst, lets SQLite open that copy read-write (rolling back the hot
// journal or replaying the log, as the application would on its next
// open), and backs the result up into dst. The original is only read.
func copyViaScratch(ctx context.Context, src *source, dst string, busyTimeout time.Duration) (recovered string, unreadable []string, err error) {
	scratch := dst + ".scratch"
	defer func() {
		for _, p := range append([]string{scratch}, Sidecars(scratch)...) {
			os.Remove(p)
		}
	}()
	for attempt := 1; ; attempt++ {
		var stable bool
		recovered, unreadable, stable, err = src.copyFiles(ctx, scratch)
		if err != nil {
			return "", nil, err
		}
		if stable {
			break
		}
		if attempt == scratchRetries {
			return "", nil, fmt.Errorf("copy %s: %w: it kept changing while its files were copied", src.path, ErrBusy)
		}
	}
	dsn := uri(scratch, fmt.Sprintf("mode=rw&_busy_timeout=%d", busyPoll.Milliseconds()))
	if err := copyDatabase(ctx, nil, scratch, dsn, dst, busyTimeout); err != nil {
		return "", nil, err
	}
	return recovered, unreadable, nil
}

// copyDatabase copies one read snapshot of src into the existing empty file
// dst with the online backup API.
//
// orig, when set, is the original the DSN names: once SQLite has it open,
// the name it opened must still lead to the file orig opened beneath its
// directory (see source.verify).
func copyDatabase(ctx context.Context, orig *source, src, dsn, dst string, busy time.Duration) (err error) {
	sdb, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer sdb.Close()
	// Pin one read snapshot of the source. The first read waits for locks
	// up to the busy timeout; the backup step below then runs inside this
	// transaction, so it copies exactly this committed state and never has
	// to restart because a writer committed meanwhile.
	//
	// SQLite's own busy handler sleeps without looking at ctx (an
	// interrupted snapshot waited out the whole timeout), so each attempt
	// waits at most busyPoll and the retries, up to busy, happen here.
	deadline := time.Now().Add(busy)
	var sconn *sql.Conn
	for {
		sconn, err = sdb.Conn(ctx)
		if err == nil {
			if err = pinRead(ctx, sconn); err == nil {
				break
			}
			sconn.ExecContext(context.Background(), "ROLLBACK") // end a half-begun read; an error only says there was none
			sconn.Close()
		} else {
			err = ctxOr(ctx, classify(err))
		}
		if !errors.Is(err, ErrBusy) || ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("open %s: %w", src, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("open %s: %w", src, ctx.Err())
		case <-time.After(busyPoll):
		}
	}
	defer sconn.Close()
	defer func() {
		if _, rerr := sconn.ExecContext(context.Background(), "ROLLBACK"); rerr != nil && err == nil {
			err = fmt.Errorf("end read of %s: %w", src, rerr)
		}
	}()

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

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("back up %s: %w", src, err)
	}
	if orig != nil {
		if err := orig.verify(); err != nil {
			return err
		}
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

// busyPoll is how long one attempt to begin a read waits in SQLite's busy
// handler, and then between attempts: short enough that an interrupt is
// noticed at once.
const busyPoll = 50 * time.Millisecond

// pinRead begins a read transaction and reads the schema, which takes the
// shared lock and pins the snapshot the backup copies.
func pinRead(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return ctxOr(ctx, classify(err))
	}
	var tables int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return ctxOr(ctx, classify(err))
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
	return openCopyDSN(ctx, path, uri(path, "mode=ro&immutable=1"))
}

// openCopyDSN is openCopy for the database at path named by dsn.
func openCopyDSN(ctx context.Context, path, dsn string) (*sql.DB, *sql.Conn, error) {
	db, err := sql.Open("sqlite3", dsn)
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
func IntegrityCheck(path string) error { return check(path, true) }

// SchemaCheck is IntegrityCheck without reading every page: it checks the
// header (the page count it records, when valid, must match the file's
// size) and reads the whole schema. It is for a database whose bytes are
// already proven, by hash, to be a copy that passed its check: it still
// catches a file that is not that database (the wrong content, a torn
// write) without a second full pass over it. Restoring a 200 MiB database
// spent about 0.45 s of CPU in integrity_check.
func SchemaCheck(path string) error { return check(path, false) }

func check(path string, full bool) error {
	const busy = 5 * time.Second
	p, err := resolve(path)
	if err != nil {
		return fmt.Errorf("check integrity of %s: %w", path, err)
	}
	dir, err := beneath.Open(filepath.Dir(p))
	if err != nil {
		return fmt.Errorf("check integrity of %s: %w", p, err)
	}
	defer dir.Close()
	src, err := openSource(dir, filepath.Base(p))
	if err != nil {
		return fmt.Errorf("check integrity of %s: %w", p, err)
	}
	defer src.close()
	hdr, err := src.header()
	if err != nil {
		return fmt.Errorf("check integrity of %s: %w", p, err)
	}
	if !IsDatabase(hdr) {
		return fmt.Errorf("check integrity of %s: %w: no SQLite header", p, ErrNotDatabase)
	}
	if !full {
		if err := checkHeaderSize(hdr, src.dbStat.Size); err != nil {
			return fmt.Errorf("check integrity of %s: %w", p, err)
		}
	}
	if q, ok := src.quietWAL(hdr, false); ok {
		err := integrity(p, src.dsn(busy, true), full)
		// A lock-free read is trusted when the file did not change, and a
		// failure only if it was also quiet beforehand (so that a change
		// within the file system's timestamp granularity cannot hide).
		if q.unchanged() && (err == nil || q.quiet) {
			return err
		}
	}
	return integrity(p, src.dsn(busy, false), full)
}

// checkHeaderSize checks that the page count the header records matches the
// file's size, where the header says the count is valid (SQLite 3.7.0 and
// later: bytes 92-95 equal the change counter at 24-27).
func checkHeaderSize(hdr []byte, size int64) error {
	if len(hdr) < headerSize || !bytes.Equal(hdr[24:28], hdr[92:96]) {
		return nil
	}
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	pages := int64(binary.BigEndian.Uint32(hdr[28:32]))
	if pages == 0 {
		return nil
	}
	if pages*pageSize != size {
		return fmt.Errorf("%w: the header records %d pages of %d bytes, the file holds %d bytes", ErrNotDatabase, pages, pageSize, size)
	}
	return nil
}

func integrity(path, dsn string, full bool) error {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, classify(err))
	}
	defer conn.Close()
	if !full {
		// Preparing it reads the schema's b-tree and parses every
		// CREATE statement; no data page is read.
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			return fmt.Errorf("check schema of %s: %w", path, classify(err))
		}
		return nil
	}
	if err := runCheck(ctx, conn, "integrity_check"); err != nil {
		return fmt.Errorf("check integrity of %s: %w", path, err)
	}
	return nil
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

// readOnlyQuery is the URI query of a read-only connection.
func readOnlyQuery(busy time.Duration, immutable bool) string {
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
	return q
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
