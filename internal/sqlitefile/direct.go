package sqlitefile

import (
	"context"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/internal/beneath"
)

// Direct is a database whose file holds one committed state as it lies, so
// that reading its bytes is a consistent copy: a WAL-mode database with
// neither -wal nor -journal beside it (every committed transaction is in
// the main file, and no connection has it open: one would have a -wal),
// unmodified for quietFor. That is the state Copy reads without locks, in
// SQLite's immutable mode, and then verifies by the file's stat; read
// directly, the copy costs no backup pass, no scratch file written and
// read back, and its pages can be stored as they are read.
//
// The bytes are those of the file itself, where a backup copy differs in
// three header fields (the change counter, the schema cookie and the
// version-valid-for number, which a backup sets from the destination's).
// Once read, [Direct.Unchanged] says whether they are one committed state;
// if not, the caller copies the database with [CopyAt] instead.
type Direct struct {
	src      *source
	q        *quiet
	pageSize int
	size     int64
}

// OpenDirect opens the database at rel ('/'-separated) beneath dir, as
// CopyAt does, for reading it directly. ok is false, with a nil error,
// when the database is not one that can be (see Direct): the caller then
// copies it with CopyAt. Errors are those of opening the file beneath dir.
func OpenDirect(dir *beneath.Dir, rel string) (d *Direct, ok bool, err error) {
	src, err := openSource(dir, rel)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if !ok {
			src.close()
		}
	}()
	hdr, err := src.header()
	if err != nil {
		return nil, false, fmt.Errorf("read header of %s: %w", src.path, err)
	}
	if !IsDatabase(hdr) || len(hdr) < headerSize {
		return nil, false, nil
	}
	pageSize := int(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return nil, false, nil
	}
	q, quiet := src.quietWAL(hdr, true)
	if !quiet {
		return nil, false, nil
	}
	// Only whole pages, and as many as the header records where it
	// records them: a backup copies the pages the header counts, and a
	// restored file of another length would fail its check.
	size := q.st.Size
	if size == 0 || size%int64(pageSize) != 0 || checkHeaderSize(hdr, size) != nil {
		return nil, false, nil
	}
	return &Direct{src: src, q: q, pageSize: pageSize, size: size}, true, nil
}

// PageSize is the database's page size.
func (d *Direct) PageSize() int { return d.pageSize }

// Size is the size of the file when it was opened: the bytes to read.
func (d *Direct) Size() int64 { return d.size }

// Stat is the file's stat when it was opened.
func (d *Direct) Stat() unix.Stat_t { return d.q.st }

// ReadAt reads the database file.
func (d *Direct) ReadAt(b []byte, off int64) (int, error) { return d.src.db.ReadAt(b, off) }

// QuickCheck runs PRAGMA quick_check on the database, in SQLite's
// immutable mode (nothing is created beside it): its verdict holds for the
// bytes read if Unchanged reports true afterwards. The first result is the
// verdict (nil when "ok"); the error is for failing to run it at all, and
// wraps ErrMoved when the name SQLite opened no longer leads to the file
// opened beneath its directory.
func (d *Direct) QuickCheck(ctx context.Context) (problem error, err error) {
	db, conn, err := openCopyDSN(ctx, d.src.path, d.src.dsn(busyPoll, true))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	defer conn.Close()
	// The name was looked up again by SQLite: the file it found must be
	// the one read.
	if err := d.src.verify(); err != nil {
		return nil, err
	}
	problem = runCheck(ctx, conn, "quick_check")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("check %s: %w", d.src.path, err)
	}
	if err := d.src.verify(); err != nil {
		return nil, err
	}
	return problem, nil
}

// Unchanged reports whether the file is still as it was when opened (the
// same file by its name, with the same size and times) and still has no
// -wal or -journal: then the bytes read from it since are the committed
// state it held, and no writer touched them meanwhile.
func (d *Direct) Unchanged() bool {
	var now unix.Stat_t
	if err := unix.Fstat(int(d.src.db.Fd()), &now); err != nil || !sameStat(&now, &d.q.st) {
		return false
	}
	return d.q.unchanged()
}

// Close closes the file and its directory.
func (d *Direct) Close() { d.src.close() }
