package blobstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
)

// ReadIndex reads and validates the footer of pack name, written in c's
// format (a sealed footer is authenticated). Corruption errors wrap
// ErrCorrupt (and ErrFormat for a pack of the other format); all errors
// name the pack.
func ReadIndex(ctx context.Context, s Store, c *Codec, name string) ([]Entry, error) {
	size, err := s.Stat(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read index of pack %s: %w", name, err)
	}
	if size < headerLen+trailerLen {
		_, err := parseIndex(c, nil, size)
		return nil, fmt.Errorf("read index of pack %s: %w", name, err)
	}
	tail := make([]byte, min(size, indexReadAhead))
	if err := readTail(ctx, s, name, tail, size); err != nil {
		return nil, err
	}
	if n := int64(len(tail)); knownMagic(string(tail[n-8:])) {
		// A footer bigger than the read-ahead needs a second, exact read.
		// Bounding need by size keeps a garbage length from allocating.
		need := trailerLen + int64(binary.LittleEndian.Uint32(tail[n-trailerLen:]))
		if need > n && need <= size {
			tail = make([]byte, need)
			if err := readTail(ctx, s, name, tail, size); err != nil {
				return nil, err
			}
		}
	}
	entries, err := parseIndex(c, tail, size)
	if err != nil {
		return nil, fmt.Errorf("read index of pack %s: %w", name, err)
	}
	return entries, nil
}

func knownMagic(m string) bool {
	return m == indexMagic || m == indexMagicV1 || m == footerMagicSealed
}

func readTail(ctx context.Context, s Store, name string, tail []byte, size int64) error {
	if err := s.ReadAt(ctx, name, tail, size-int64(len(tail))); err != nil {
		return fmt.Errorf("read index of pack %s: %w", name, err)
	}
	return nil
}

// ParseIndex parses the footer and trailer at the end of tail, the last
// len(tail) bytes of a pack of packSize bytes in c's format. It checks that
// every entry lies inside the blob area, in order and without overlap
// (chunks of one blob share its offset and length, in order inside its
// plaintext), so callers can trust the offsets it returns.
func ParseIndex(c *Codec, tail []byte, packSize int64) ([]Entry, error) {
	entries, err := parseIndex(c, tail, packSize)
	if err != nil {
		return nil, fmt.Errorf("parse pack index: %w", err)
	}
	return entries, nil
}

func parseIndex(c *Codec, tail []byte, packSize int64) ([]Entry, error) {
	f, err := parseTrailer(c, tail, packSize)
	if err != nil {
		return nil, err
	}
	footer, count, fields, blobEnd := f.entries, f.count, f.fields, f.blobEnd
	if count > int64(len(footer))/minEntryLen {
		return nil, fmt.Errorf("%d entries cannot fit in footer of %d bytes: %w", count, len(footer), ErrCorrupt)
	}
	entries := make([]Entry, count)
	next := headerLen
	var prev Entry
	for i := range entries {
		e := &entries[i]
		if len(footer) < len(e.ID) {
			return nil, fmt.Errorf("entry %d: truncated: %w", i, ErrCorrupt)
		}
		footer = footer[copy(e.ID[:], footer):]
		var v [4]uint64
		for j := range fields {
			x, n := binary.Uvarint(footer)
			if n <= 0 {
				return nil, fmt.Errorf("entry %d: bad varint: %w", i, ErrCorrupt)
			}
			v[j], footer = x, footer[n:]
		}
		off, length, size, plainOff := v[0], v[1], v[2], v[3]
		if size > MaxBlobPlain || plainOff > MaxBlobPlain || length > uint64(c.maxStored()) {
			return nil, fmt.Errorf("entry %d: size %d at %d in %d stored bytes too large: %w", i, size, plainOff, length, ErrCorrupt)
		}
		sameBlob := i > 0 && int64(off) == prev.Offset && int64(length) == prev.Length
		switch {
		case sameBlob:
			if int64(plainOff) < prev.PlainOffset+prev.Size {
				return nil, fmt.Errorf("entry %d: chunk at %d overlaps the one before in its blob: %w", i, plainOff, ErrCorrupt)
			}
		// Unsigned comparisons so that huge varints cannot overflow.
		case off < uint64(next) || off > uint64(blobEnd) || length == 0 || length > uint64(blobEnd)-off:
			return nil, fmt.Errorf("entry %d: blob at %d+%d outside %d..%d or overlapping: %w", i, off, length, next, blobEnd, ErrCorrupt)
		}
		if !c.plausible(int64(length), int64(plainOff+size)) {
			return nil, fmt.Errorf("entry %d: size %d at %d impossible for %d stored bytes: %w", i, size, plainOff, length, ErrCorrupt)
		}
		*e = Entry{ID: e.ID, Offset: int64(off), Length: int64(length), Size: int64(size), PlainOffset: int64(plainOff)}
		next = e.Offset + e.Length
		prev = *e
	}
	if len(footer) != 0 {
		return nil, fmt.Errorf("%d stray bytes after %d entries: %w", len(footer), count, ErrCorrupt)
	}
	return entries, nil
}

// footerInfo is what the trailer and, for a sealed footer, its first
// fields say: the encoded entries, how many there are, the fields per
// entry, where the blob area ends, and the hash of the blob area (sealed
// footers only).
type footerInfo struct {
	entries   []byte
	count     int64
	fields    int
	blobEnd   int64
	blobsHash []byte
}

// parseTrailer checks the trailer at the end of tail and opens a sealed
// footer.
func parseTrailer(c *Codec, tail []byte, packSize int64) (footerInfo, error) {
	var f footerInfo
	fail := func(format string, args ...any) (footerInfo, error) {
		return footerInfo{}, fmt.Errorf(format, args...)
	}
	if packSize < headerLen+trailerLen {
		return fail("pack of %d bytes is too short: %w", packSize, ErrCorrupt)
	}
	if int64(len(tail)) > packSize || len(tail) < trailerLen {
		return fail("tail of %d bytes does not fit pack of %d bytes: %w", len(tail), packSize, ErrCorrupt)
	}
	trailer := tail[len(tail)-trailerLen:]
	f.fields = 4 // offset, length, size, plaintext offset
	sealed := false
	switch string(trailer[8:]) {
	case indexMagic:
	case indexMagicV1:
		f.fields = 3
	case footerMagicSealed:
		sealed = true
	default:
		return fail("bad index magic %q: %w", trailer[8:], ErrCorrupt)
	}
	if sealed != c.Sealed() {
		return fail("pack is format %d, the repository's is format %d: %w: %w", 3-c.Format(), c.Format(), ErrFormat, ErrCorrupt)
	}
	footerLen := int64(binary.LittleEndian.Uint32(trailer[0:4]))
	f.count = int64(binary.LittleEndian.Uint32(trailer[4:8]))
	f.blobEnd = packSize - trailerLen - footerLen
	if f.blobEnd < headerLen {
		return fail("footer of %d bytes exceeds pack of %d bytes: %w", footerLen, packSize, ErrCorrupt)
	}
	if footerLen > int64(len(tail)-trailerLen) {
		return fail("footer of %d bytes exceeds tail of %d bytes: %w", footerLen, len(tail), ErrCorrupt)
	}
	f.entries = tail[int64(len(tail))-trailerLen-footerLen : len(tail)-trailerLen]
	if !sealed {
		return f, nil
	}
	if f.count != 0 {
		return fail("sealed footer with a count of %d in the clear: %w", f.count, ErrCorrupt)
	}
	plain, err := c.keys.Open(nil, f.entries, c.footerAAD(f.blobEnd))
	if err != nil {
		return fail("open footer: %w: %w", err, ErrCorrupt)
	}
	if len(plain) < len(ID{}) {
		return fail("sealed footer of %d bytes is too short: %w", len(plain), ErrCorrupt)
	}
	f.blobsHash, plain = plain[:len(ID{})], plain[len(ID{}):]
	n, k := binary.Uvarint(plain)
	if k <= 0 || n > math.MaxUint32 {
		return fail("sealed footer: bad entry count: %w", ErrCorrupt)
	}
	f.entries, f.count = plain[k:], int64(n)
	return f, nil
}

// blobBufs recycles the stored-form buffers of ReadChunk, which live only
// until the chunk is decoded.
var blobBufs = sync.Pool{New: func() any { return new([]byte) }}

// ReadChunk reads the blob at e from pack name, opens and decodes it in
// c's format, verifies the chunk by c's id and appends its plaintext to dst. Errors name the chunk and the
// pack; on error dst is returned unchanged. A Reader does the same and
// decompresses a blob of several chunks once for all of them.
func ReadChunk(ctx context.Context, s Store, c *Codec, name string, e Entry, dst []byte) ([]byte, error) {
	return readChunk(ctx, s, c, name, e, dst, nil)
}

// readChunk is ReadChunk; keep, if set, is handed the whole plaintext of a
// blob that holds more than this chunk.
func readChunk(ctx context.Context, s Store, c *Codec, name string, e Entry, dst []byte, keep func(plain []byte)) ([]byte, error) {
	if err := checkEntry(c, e); err != nil {
		return dst, &ChunkError{Chunk: e.ID, Pack: name, Err: err}
	}
	start := len(dst)
	out, err := readBlob(ctx, s, c, name, e, dst)
	if err != nil {
		return dst, err
	}
	plain := out[start:]
	if err := verifyPart(c, plain, e); err != nil {
		return dst, &ChunkError{Chunk: e.ID, Pack: name, Err: err}
	}
	if int64(len(plain)) != e.Size {
		// A blob of several chunks: keep just this one.
		if keep != nil {
			keep(plain)
		}
		copy(plain, plain[e.PlainOffset:e.PlainOffset+e.Size])
		out = out[:start+int(e.Size)]
	}
	return out, nil
}

func checkEntry(c *Codec, e Entry) error {
	if e.Offset < headerLen || e.Length > c.maxStored() || e.Size < 0 || e.PlainOffset < 0 ||
		e.Size > MaxBlobPlain || e.PlainOffset > MaxBlobPlain || !c.plausible(e.Length, e.PlainOffset+e.Size) {
		return fmt.Errorf("bad entry at %d+%d size %d at %d: %w", e.Offset, e.Length, e.Size, e.PlainOffset, ErrCorrupt)
	}
	return nil
}

// readBlob reads the blob at e and appends its whole plaintext to dst.
func readBlob(ctx context.Context, s Store, c *Codec, name string, e Entry, dst []byte) ([]byte, error) {
	bp := blobBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 16<<20 {
			blobBufs.Put(bp)
		}
	}()
	blob := slices.Grow((*bp)[:0], int(e.Length))[:e.Length]
	*bp = blob
	if err := s.ReadAt(ctx, name, blob, e.Offset); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The catalog or footer points past the pack's end.
			err = fmt.Errorf("%w: %w", err, ErrCorrupt)
		}
		return dst, &ChunkError{Chunk: e.ID, Pack: name, Err: err}
	}
	opened, err := c.open(blob)
	if err != nil {
		return dst, &ChunkError{Chunk: e.ID, Pack: name, Err: err}
	}
	out, err := expand(dst, opened, e.PlainOffset+e.Size)
	if err != nil {
		return dst, &ChunkError{Chunk: e.ID, Pack: name, Err: err}
	}
	return out, nil
}

// verifyPart checks that the blob plaintext plain holds e's chunk.
func verifyPart(c *Codec, plain []byte, e Entry) error {
	if e.PlainOffset+e.Size > int64(len(plain)) {
		return fmt.Errorf("blob holds %d bytes, chunk ends at %d: %w", len(plain), e.PlainOffset+e.Size, ErrCorrupt)
	}
	if c.Sum(plain[e.PlainOffset:e.PlainOffset+e.Size]) != e.ID {
		return fmt.Errorf("hash mismatch: %w", ErrCorrupt)
	}
	return nil
}

// Reader reads chunks from a store and keeps the plaintext of the last
// few blobs that hold several chunks, so that reading those chunks in
// order decompresses each blob once. Safe for concurrent use.
type Reader struct {
	s Store
	c *Codec

	mu     sync.Mutex
	recent []cachedBlob
	next   int // slot the next blob replaces
}

type cachedBlob struct {
	pack  string
	off   int64
	plain []byte
}

// NewReader returns a Reader of chunks in s, stored in c's format. It keeps two blobs per CPU
// (at least 8): enough for every goroutine reading a file to keep its own
// blob while the others read theirs.
func NewReader(s Store, c *Codec) *Reader {
	return &Reader{s: s, c: c, recent: make([]cachedBlob, max(8, 2*runtime.GOMAXPROCS(0)))}
}

// ReadChunk is blobstore.ReadChunk through the Reader's cache.
func (r *Reader) ReadChunk(ctx context.Context, name string, e Entry, dst []byte) ([]byte, error) {
	if err := checkEntry(r.c, e); err != nil {
		return dst, &ChunkError{Chunk: e.ID, Pack: name, Err: err}
	}
	start := len(dst)
	if out, ok := r.cached(name, e, dst); ok {
		if int64(len(out)-start) != e.Size || r.c.Sum(out[start:]) != e.ID {
			return dst, fmt.Errorf("read chunk %s in pack %s: hash mismatch: %w", e.ID, name, ErrCorrupt)
		}
		return out, nil
	}
	return readChunk(ctx, r.s, r.c, name, e, dst, func(plain []byte) { r.keep(name, e.Offset, plain) })
}

// cached appends e's chunk to dst if the Reader holds its blob. The
// caller verifies it.
func (r *Reader) cached(name string, e Entry, dst []byte) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.recent {
		if c.plain != nil && c.off == e.Offset && c.pack == name {
			if e.PlainOffset+e.Size > int64(len(c.plain)) {
				return dst, true // fails verification
			}
			return append(dst, c.plain[e.PlainOffset:e.PlainOffset+e.Size]...), true
		}
	}
	return dst, false
}

func (r *Reader) keep(name string, off int64, plain []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &r.recent[r.next]
	r.next = (r.next + 1) % len(r.recent)
	c.pack, c.off, c.plain = name, off, append(c.plain[:0], plain...)
}
