package snapshot

import (
	"bytes"
	"context"
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/beneath"
	"github.com/cairn-dev/cairn/internal/sqlitefile"
)

// smallMax is the largest file read whole with one read(2) into the
// worker's buffer. Most files of the trees cairn keeps are small, and for
// them the system calls were the cost: an os.File, a header read, a seek
// and a read to EOF made 12 calls per file (a first snapshot of 100k
// 100-byte files spent 1.2 of 6.1 CPU s in read(2) alone); this path
// makes 5: openat2, fstat, read, fstat, close.
var smallMax int64 = 256 << 10 // a variable so that a test can turn the path off

// captureSmall reads a small file whole and stores it. handled is false
// when the file is not one for this path (it grew past smallMax, or is a
// database, whose capture goes through SQLite): the caller then reads it
// the ordinary way.
//
// With walked set, the walk's stat of the file (e) stands for the one
// before the read, which saves an fstat per file (5 system calls became
// 4: openat2, read, fstat, close); the fstat after the read must then
// agree with the walk's on every fingerprint field, or the read counts as
// unstable and the caller reads again with walked unset. The descriptor
// is checked to be a regular file after the read, before anything of it
// is used.
func (s *run) captureSmall(ctx context.Context, e entry, bufs *buffers, walked bool) (c *captured, stable, handled bool, err error) {
	var before unix.Stat_t
	var fd int
	if walked {
		fd, err = s.src.OpenFdUnchecked(e.rel)
	} else {
		fd, err = s.src.OpenFd(e.rel, &before)
	}
	if err != nil {
		return nil, false, true, readError(err)
	}
	defer unix.Close(fd)
	size := before.Size
	if walked {
		size = e.size
	}
	if size > smallMax {
		return nil, false, false, nil
	}
	// One byte more than the stat said, so that a file that grew shows.
	buf := bufs.grow(int(size) + 1)
	n := 0
	var readErr error
	for n < len(buf) {
		k, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// Unless walked, the descriptor is a regular file; if it is
			// not (a FIFO, a directory swapped in), the fstat says so.
			readErr = sourceError{&fs.PathError{Op: "read", Path: e.rel, Err: err}}
			break
		}
		if k == 0 {
			break
		}
		n += k
		if n == int(size) {
			break // all of it, as far as the stat knows; the one after tells
		}
	}
	var after unix.Stat_t
	if err := unix.Fstat(fd, &after); err != nil {
		return nil, false, true, sourceError{&fs.PathError{Op: "fstat", Path: e.rel, Err: err}}
	}
	if walked {
		if after.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, false, true, readError(&fs.PathError{Op: "open", Path: e.rel, Err: beneath.ErrNotRegular})
		}
		if readErr == nil && (n != int(e.size) || !sameFingerprint(statEntryAt(e.rel, &after), e)) {
			return nil, false, true, errSinceWalk
		}
		before = after // what was read is described by the stat after it
	}
	if readErr != nil {
		return nil, false, true, readErr
	}
	data := buf[:n]
	if sqlitefile.IsDatabase(data[:min(n, len(sqlitefile.Header))]) {
		return nil, false, false, nil
	}
	c = &captured{e: statEntryAt(e.rel, &before), capture: catalog.CaptureRaw, chunking: "cdc", jsonCount: -1}
	switch {
	case isJSON(e.rel):
		valid, count := checkJSON(data)
		c.jsonValid, c.jsonCount = &valid, count
	case isJSONLines(e.rel):
		valid, err := streamValid(bytes.NewReader(data), true)
		if err != nil {
			return nil, false, true, err
		}
		c.jsonValid = &valid
	}
	if err := s.storeBytes(ctx, c, data, bufs); err != nil {
		return nil, false, true, err
	}
	stable = walked || after.Size == before.Size && after.Mtim == before.Mtim && c.size == before.Size
	return c, stable, true, nil
}

// errSinceWalk is a small file whose stat after the read is not the
// walk's: it changed since, and is read again with a stat of its own
// (capture), a read that does not count as one of readRetries.
var errSinceWalk = errors.New("changed since the walk")

// sameFingerprint reports whether two stats of a file agree on everything
// change detection records of it.
func sameFingerprint(a, b entry) bool {
	return a.size == b.size && a.mtimeNs == b.mtimeNs && a.ctimeNs == b.ctimeNs && a.ino == b.ino &&
		a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.typ == b.typ
}
