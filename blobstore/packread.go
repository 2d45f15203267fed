package blobstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// ReadIndex reads and validates the footer of pack name. Corruption errors
// wrap ErrCorrupt; all errors name the pack.
func ReadIndex(ctx context.Context, s Store, name string) ([]Entry, error) {
	size, err := s.Stat(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read index of pack %s: %w", name, err)
	}
	if size < headerLen+trailerLen {
		_, err := parseIndex(nil, size)
		return nil, fmt.Errorf("read index of pack %s: %w", name, err)
	}
	tail := make([]byte, min(size, indexReadAhead))
	if err := readTail(ctx, s, name, tail, size); err != nil {
		return nil, err
	}
	if n := int64(len(tail)); string(tail[n-8:]) == indexMagic {
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
	entries, err := parseIndex(tail, size)
	if err != nil {
		return nil, fmt.Errorf("read index of pack %s: %w", name, err)
	}
	return entries, nil
}

func readTail(ctx context.Context, s Store, name string, tail []byte, size int64) error {
	if err := s.ReadAt(ctx, name, tail, size-int64(len(tail))); err != nil {
		return fmt.Errorf("read index of pack %s: %w", name, err)
	}
	return nil
}

// ParseIndex parses the footer and trailer at the end of tail, the last
// len(tail) bytes of a pack of packSize bytes. It checks that every entry
// lies inside the blob area, in order and without overlap, so callers can
// trust the offsets it returns.
func ParseIndex(tail []byte, packSize int64) ([]Entry, error) {
	entries, err := parseIndex(tail, packSize)
	if err != nil {
		return nil, fmt.Errorf("parse pack index: %w", err)
	}
	return entries, nil
}

func parseIndex(tail []byte, packSize int64) ([]Entry, error) {
	if packSize < headerLen+trailerLen {
		return nil, fmt.Errorf("pack of %d bytes is too short: %w", packSize, ErrCorrupt)
	}
	if int64(len(tail)) > packSize || len(tail) < trailerLen {
		return nil, fmt.Errorf("tail of %d bytes does not fit pack of %d bytes: %w", len(tail), packSize, ErrCorrupt)
	}
	trailer := tail[len(tail)-trailerLen:]
	if string(trailer[8:]) != indexMagic {
		return nil, fmt.Errorf("bad index magic %q: %w", trailer[8:], ErrCorrupt)
	}
	footerLen := int64(binary.LittleEndian.Uint32(trailer[0:4]))
	count := int64(binary.LittleEndian.Uint32(trailer[4:8]))
	blobEnd := packSize - trailerLen - footerLen
	if blobEnd < headerLen {
		return nil, fmt.Errorf("footer of %d bytes exceeds pack of %d bytes: %w", footerLen, packSize, ErrCorrupt)
	}
	if footerLen > int64(len(tail)-trailerLen) {
		return nil, fmt.Errorf("footer of %d bytes exceeds tail of %d bytes: %w", footerLen, len(tail), ErrCorrupt)
	}
	if count > footerLen/minEntryLen {
		return nil, fmt.Errorf("%d entries cannot fit in footer of %d bytes: %w", count, footerLen, ErrCorrupt)
	}
	footer := tail[int64(len(tail))-trailerLen-footerLen : len(tail)-trailerLen]
	entries := make([]Entry, count)
	next := headerLen
	for i := range entries {
		e := &entries[i]
		if len(footer) < len(e.ID) {
			return nil, fmt.Errorf("entry %d: truncated: %w", i, ErrCorrupt)
		}
		footer = footer[copy(e.ID[:], footer):]
		var v [3]uint64
		for j := range v {
			x, n := binary.Uvarint(footer)
			if n <= 0 {
				return nil, fmt.Errorf("entry %d: bad varint: %w", i, ErrCorrupt)
			}
			v[j], footer = x, footer[n:]
		}
		off, length, size := v[0], v[1], v[2]
		// Unsigned comparisons so that huge varints cannot overflow.
		if off < uint64(next) || off > uint64(blobEnd) || length == 0 || length > uint64(blobEnd)-off {
			return nil, fmt.Errorf("entry %d: blob at %d+%d outside %d..%d or overlapping: %w", i, off, length, next, blobEnd, ErrCorrupt)
		}
		if size > math.MaxInt64 || !plausibleSize(int64(length), int64(size)) {
			return nil, fmt.Errorf("entry %d: size %d impossible for %d stored bytes: %w", i, size, length, ErrCorrupt)
		}
		*e = Entry{ID: e.ID, Offset: int64(off), Length: int64(length), Size: int64(size)}
		next = e.Offset + e.Length
	}
	if len(footer) != 0 {
		return nil, fmt.Errorf("%d stray bytes after %d entries: %w", len(footer), count, ErrCorrupt)
	}
	return entries, nil
}

// blobBufs recycles the stored-form buffers of ReadChunk, which live only
// until the chunk is decoded.
var blobBufs = sync.Pool{New: func() any { return new([]byte) }}

// ReadChunk reads the blob at e from pack name, decodes it, verifies it and
// appends the plaintext to dst. Errors name the chunk and the pack; on error
// dst is returned unchanged.
func ReadChunk(ctx context.Context, s Store, name string, e Entry, dst []byte) ([]byte, error) {
	if e.Offset < headerLen || e.Length > math.MaxInt || e.Size > math.MaxInt || !plausibleSize(e.Length, e.Size) {
		return dst, fmt.Errorf("read chunk %s in pack %s: bad entry at %d+%d size %d: %w", e.ID, name, e.Offset, e.Length, e.Size, ErrCorrupt)
	}
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
		return dst, fmt.Errorf("read chunk %s in pack %s: %w", e.ID, name, err)
	}
	out, err := decode(dst, blob, e.ID, int(e.Size))
	if err != nil {
		return dst, fmt.Errorf("read chunk %s in pack %s: %w", e.ID, name, err)
	}
	return out, nil
}
