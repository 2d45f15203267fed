package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/zeebo/blake3"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/internal/beneath"
	"github.com/cairn-dev/cairn/internal/sqlitefile"
)

// buffers are one worker's reusable memory.
type buffers struct {
	chunk  []byte // the splitter's window, allocated on first use (chunkBuf)
	window int    // its size
	file   []byte // a whole small JSON file
	frame  *frame // new chunks not yet handed to the encoders
	// preloaded closes when the previous version's chunks are known to
	// the index (see run.preload); nil when there is nothing to wait for.
	preloaded <-chan struct{}
}

func (b *buffers) waitPreload() {
	if b.preloaded != nil {
		<-b.preloaded
		b.preloaded = nil
	}
}

// chunkBuf returns the splitter's window. A worker that only meets small
// files (read whole, split in place) never needs it: 1 MiB each with the
// default parameters.
func (b *buffers) chunkBuf() []byte {
	if b.chunk == nil {
		b.chunk = make([]byte, max(b.window, 64<<10))
	}
	return b.chunk
}

// grow returns bufs.file resized to n bytes, reallocating only to grow.
func (b *buffers) grow(n int) []byte {
	if cap(b.file) < n {
		b.file = make([]byte, n)
	}
	b.file = b.file[:n]
	return b.file
}

// captured is what reading one file produced.
type captured struct {
	e         entry // stat of what was actually read
	hash      blobstore.ID
	size      int64
	chunking  string
	chunks    []catalog.ChunkRef
	capture   string
	jsonValid *bool
	jsonCount int64 // see jsonEntries; -1 when unknown
	dbCheck   string
	extra     string
	warnings  []catalog.Warning
}

// jsonInMemory is the largest JSON file validated in memory; larger ones
// are validated by streaming.
const jsonInMemory = 16 << 20

// readRetries bounds how often a file that changes while it is read is
// read again before it is stored as read, with a warning.
const readRetries = 3

// errTorn is a file that changed under every read and no longer holds
// the bytes of the last one: its previous version continues (execute).
var errTorn = errors.New("changed while being read, and the last read is not what the file holds")

// capture reads one changed file and stores its new chunks.
func (s *run) capture(ctx context.Context, e entry, bufs *buffers) (*captured, error) {
	// The first read of a small file trusts the walk's stat (captureSmall);
	// if the file moved since, that read does not count as one of the
	// readRetries.
	walked := true
	for attempt := 1; ; attempt++ {
		c, stable, err := s.captureOnce(ctx, e, bufs, walked)
		if errors.Is(err, errSinceWalk) {
			walked = false
			attempt--
			continue
		}
		walked = false
		if errors.Is(err, sqlitefile.ErrMoved) {
			// SQLite was led to another file than the one opened beneath
			// the source: a directory on the way is being swapped.
			if attempt < readRetries {
				continue
			}
			return nil, fmt.Errorf("%w: %w", errReplaced, err)
		}
		if err != nil || stable {
			return c, err
		}
		if attempt == readRetries {
			// A torn read is stored only if the file still begins with it.
			// One that raced a truncate can hold bytes the file never held:
			// the kernel zeroes the old end's folio past the new end, a read
			// that took the size before the truncate copies those zeros, and
			// the file grows again over them with other bytes (Linux 6.18,
			// ext4: runs of zeros up to a 64 KiB or 2 MiB folio boundary,
			// TestFileChangesWhileRead). A file only appended to still
			// holds its last read; one truncated or rewritten under it keeps
			// its previous version.
			held, err := s.stillHolds(e.rel, c, bufs)
			if err != nil {
				return nil, err
			}
			if !held {
				return nil, errTorn
			}
			c.warnings = append(c.warnings, catalog.Warning{Path: e.rel, Kind: catalog.WarnChangedWhileReading,
				Message: fmt.Sprintf("changed while being read %d times; stored the last read, which may be torn", readRetries)})
			return c, nil
		}
	}
}

func (s *run) captureOnce(ctx context.Context, e entry, bufs *buffers, walked bool) (c *captured, stable bool, err error) {
	if e.size <= smallMax {
		if c, stable, handled, err := s.captureSmall(ctx, e, bufs, walked); handled {
			return c, stable, err
		}
	}
	// Opened beneath the source, following no symlink on the way, and
	// without blocking: a FIFO swapped in since the walk is refused, not
	// waited on for ever.
	f, err := s.src.OpenFile(e.rel)
	if err != nil {
		return nil, false, readError(err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, false, sourceError{err}
	}
	c = &captured{e: statEntry(e.rel, before), capture: catalog.CaptureRaw, chunking: "cdc", jsonCount: -1}
	head := make([]byte, len(sqlitefile.Header))
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, false, sourceError{err}
	}
	head = head[:n]
	if sqlitefile.IsDatabase(head) {
		done, err := s.captureDatabase(ctx, c, bufs)
		if done || err != nil {
			return c, true, err
		}
		// SQLite could not open it: store the bytes, and say so.
		c.capture = catalog.CaptureSQLiteRaw
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, false, sourceError{err}
	}
	var r io.Reader = sourceReader{f}
	switch {
	case isJSON(e.rel) && before.Size() <= jsonInMemory:
		// Read into the worker's buffer: JSON files are many and small,
		// and a fresh slice each would be most of their cost.
		n, err := io.ReadFull(f, bufs.grow(int(before.Size())+1))
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return nil, false, sourceError{err}
		}
		data := bufs.file[:n]
		valid, count := checkJSON(data)
		c.jsonValid, c.jsonCount = &valid, count
		r = bytes.NewReader(data)
	case isJSON(e.rel), isJSONLines(e.rel):
		valid, err := streamValid(sourceReader{f}, isJSONLines(e.rel))
		if err != nil {
			return nil, false, err
		}
		c.jsonValid = &valid
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, false, sourceError{err}
		}
	}
	if err := s.store(ctx, c, chunker.NewWithTable(r, s.params, s.gear, bufs.chunkBuf()), bufs); err != nil {
		return nil, false, err
	}
	after, err := f.Stat()
	if err != nil {
		return nil, false, sourceError{err}
	}
	stable = after.Size() == before.Size() && after.ModTime().Equal(before.ModTime()) && c.size == before.Size()
	return c, stable, nil
}

// stillHolds reports whether the file at rel begins with the bytes c was
// read as: the same size of them, with the same hash.
func (s *run) stillHolds(rel string, c *captured, bufs *buffers) (bool, error) {
	f, err := s.src.OpenFile(rel)
	if err != nil {
		return false, readError(err)
	}
	defer f.Close()
	h := blake3.New()
	n, err := io.CopyBuffer(h, io.NewSectionReader(sourceReaderAt{f}, 0, c.size), bufs.chunkBuf())
	s.stats.bytesRead.Add(n)
	if err != nil {
		return false, err
	}
	var sum blobstore.ID
	copy(sum[:], h.Sum(nil))
	return n == c.size && sum == c.hash, nil
}

// sourceError marks a failure to read the source file itself (permission,
// I/O error), as opposed to a failure of the repository: the first makes
// the file unreadable and the snapshot incomplete, the second stops it.
type sourceError struct{ err error }

func (e sourceError) Error() string { return e.err.Error() }
func (e sourceError) Unwrap() error { return e.err }

// sourceReader tags the read errors of a source file.
type sourceReader struct{ f *os.File }

// readHook, set by a test, sees the bytes each read of a source file
// returns and where they lie in it, and may change them and the file: it
// plays another process racing the read.
var readHook func(off int64, b []byte)

func (r sourceReader) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	if readHook != nil && n > 0 {
		end, _ := r.f.Seek(0, io.SeekCurrent)
		readHook(end-int64(n), b[:n])
	}
	if err != nil && err != io.EOF {
		err = sourceError{err}
	}
	return n, err
}

// sourceReaderAt tags the read errors of a source file read at offsets.
type sourceReaderAt struct{ f io.ReaderAt }

func (r sourceReaderAt) ReadAt(b []byte, off int64) (int, error) {
	n, err := r.f.ReadAt(b, off)
	if err != nil && err != io.EOF {
		err = sourceError{err}
	}
	return n, err
}

// readError classifies a failure to open a source file: a path that no
// longer leads to a regular file beneath the source (gone, or a FIFO,
// socket or symlink swapped in) has vanished; anything else is unreadable.
func readError(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, beneath.ErrNotRegular) || errors.Is(err, syscall.ELOOP) ||
		errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", errReplaced, err)
	}
	return sourceError{err}
}

var errReplaced = errors.New("removed or replaced by something that is not a regular file")

// captureDatabase copies a SQLite database through the online backup API
// and stores the copy in page-sized chunks. It returns false when SQLite
// cannot open the file, so the caller stores raw bytes instead.
func (s *run) captureDatabase(ctx context.Context, c *captured, bufs *buffers) (bool, error) {
	if done, err := s.captureDirect(ctx, c, bufs); done || err != nil {
		return done, err
	}
	tmp, err := os.MkdirTemp(s.TmpDir, "db-")
	if err != nil {
		return false, fmt.Errorf("capture database %s: %w", c.e.rel, err)
	}
	defer os.RemoveAll(tmp)
	copyPath := filepath.Join(tmp, "copy.db")
	info, err := sqlitefile.CopyAt(ctx, s.src, c.e.rel, copyPath, s.busyTimeout)
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case errors.Is(err, sqlitefile.ErrMoved):
		return false, err // read again (see capture)
	case err != nil && errors.Is(readError(err), errReplaced):
		return false, readError(err)
	case err != nil:
		// Whatever kept SQLite from it, the bytes are still worth keeping:
		// one database must never stop the snapshot of the rest.
		c.warnings = append(c.warnings, catalog.Warning{Path: c.e.rel, Kind: catalog.WarnDatabaseUnreadable,
			Message: fmt.Sprintf("stored as raw bytes, may be inconsistent: %v", err)})
		return false, nil
	}
	for _, suffix := range info.Unreadable {
		msg := "could not be read; the database was captured without the commits it holds"
		if suffix == "-journal" {
			msg = "could not be read; the database was captured without it and may hold a half-written transaction"
		}
		c.warnings = append(c.warnings, catalog.Warning{Path: c.e.rel + suffix, Kind: KindUnreadable, Message: msg})
	}
	c.capture = catalog.CaptureSQLite
	// quick_check reads the whole copy, as chunking does: run them side
	// by side rather than one after the other.
	type verdict struct{ problem, err error }
	checked := make(chan verdict, 1)
	go func() {
		problem, err := sqlitefile.QuickCheck(ctx, copyPath)
		checked <- verdict{problem, err}
	}()
	storeErr := func() error {
		f, err := os.Open(copyPath)
		if err != nil {
			return fmt.Errorf("capture database %s: %w", c.e.rel, err)
		}
		defer f.Close()
		page := pageChunk(info.PageSize)
		c.chunking = fmt.Sprintf("fixed:%d", page)
		return s.store(ctx, c, chunker.NewFixed(f, page, bufs.chunkBuf()), bufs)
	}()
	v := <-checked
	if storeErr != nil {
		return false, storeErr
	}
	if v.err != nil {
		return false, fmt.Errorf("check database %s: %w", c.e.rel, v.err)
	}
	c.dbCheck = "ok"
	if v.problem != nil {
		c.dbCheck = v.problem.Error()
		c.warnings = append(c.warnings, catalog.Warning{Path: c.e.rel, Kind: catalog.WarnDatabaseCheck,
			Message: fmt.Sprintf("quick_check failed on the captured copy: %v", v.problem)})
	}
	return true, nil
}

// captureDirect stores a database that holds one committed state as it
// lies (sqlitefile.Direct: WAL mode, no -wal or -journal, quiet) straight
// from its file, with quick_check reading it alongside. done is false when
// the database is not such a one, or changed while it was read, or could
// not be checked: the caller then copies it through the backup API, which
// also says what is wrong with it. On the first snapshot of a 200 MiB
// database, the backup copy into a scratch file was a serial second before
// the first of its chunks could be compressed.
func (s *run) captureDirect(ctx context.Context, c *captured, bufs *buffers) (done bool, err error) {
	d, ok, err := sqlitefile.OpenDirect(s.src, c.e.rel)
	if err != nil || !ok {
		return false, nil
	}
	defer d.Close()
	type verdict struct{ problem, err error }
	checked := make(chan verdict, 1)
	go func() {
		problem, err := d.QuickCheck(ctx)
		checked <- verdict{problem, err}
	}()
	page := pageChunk(d.PageSize())
	storeErr := s.store(ctx, c, chunker.NewFixed(io.NewSectionReader(sourceReaderAt{d}, 0, d.Size()), page, bufs.chunkBuf()), bufs)
	v := <-checked
	if afterDirectRead != nil {
		afterDirectRead(c.e.rel)
	}
	switch {
	case storeErr != nil:
		return false, storeErr
	case ctx.Err() != nil:
		return false, ctx.Err()
	case v.err != nil, !d.Unchanged():
		// A writer came, or SQLite could not check it: the backup API
		// copies what is committed, and its check says what is wrong.
		return false, nil
	}
	st := d.Stat()
	c.e = statEntryAt(c.e.rel, &st)
	c.capture = catalog.CaptureSQLite
	c.chunking = fmt.Sprintf("fixed:%d", page)
	c.dbCheck = "ok"
	if v.problem != nil {
		c.dbCheck = v.problem.Error()
		c.warnings = append(c.warnings, catalog.Warning{Path: c.e.rel, Kind: catalog.WarnDatabaseCheck,
			Message: fmt.Sprintf("quick_check failed on the database as read: %v", v.problem)})
	}
	return true, nil
}

// afterDirectRead, set by a test, runs once a database read directly has
// been stored and checked, before the read is judged: it plays a writer
// that comes meanwhile.
var afterDirectRead func(rel string)

// dbChunk is the smallest chunk for a database: pages never shift, so
// page-aligned chunks keep dedup exact, and the size trades dedup against
// compression (zstd does worse on small inputs) and catalog rows. Measured
// (first capture stored / added by updating 1% of the rows at scattered
// places): on a 227 MiB database of large rows, 4 KiB 91.9/2.7 MiB, 8 KiB
// 80.6/4.7, 16 KiB 73.4/8.2, FastCDC 128 KiB 64.4/44.9; on an 18.7 MiB
// table of 100k small random rows the update added 17.7% of the database
// with 4 KiB, 19.0% with 8 KiB, 31.2% with 16 KiB. 8 KiB is the knee.
const dbChunk = 8 << 10

// pageChunk is the chunk size for a database with the given page size: a
// whole number of pages, at least dbChunk.
func pageChunk(pageSize int) int {
	if pageSize <= 0 {
		pageSize = 4096
	}
	size := pageSize
	for size < dbChunk {
		size *= 2
	}
	return size
}
