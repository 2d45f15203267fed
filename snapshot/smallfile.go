package snapshot

import (
	"bytes"
	"context"
	"io/fs"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/catalog"
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
func (s *run) captureSmall(ctx context.Context, e entry, bufs *buffers) (c *captured, stable, handled bool, err error) {
	var before unix.Stat_t
	fd, err := s.src.OpenFd(e.rel, &before)
	if err != nil {
		return nil, false, true, readError(err)
	}
	defer unix.Close(fd)
	if before.Size > smallMax {
		return nil, false, false, nil
	}
	// One byte more than the stat said, so that a file that grew shows.
	buf := bufs.grow(int(before.Size) + 1)
	n := 0
	for n < len(buf) {
		k, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, false, true, sourceError{&fs.PathError{Op: "read", Path: e.rel, Err: err}}
		}
		if k == 0 {
			break
		}
		n += k
		if n == int(before.Size) {
			break // all of it, as far as the stat knows; the one after tells
		}
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
	var after unix.Stat_t
	if err := unix.Fstat(fd, &after); err != nil {
		return nil, false, true, sourceError{&fs.PathError{Op: "fstat", Path: e.rel, Err: err}}
	}
	stable = after.Size == before.Size && after.Mtim == before.Mtim && c.size == before.Size
	return c, stable, true, nil
}
