package blobstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/zeebo/blake3"
)

const (
	packMagic  = "CAIRNPK1"
	indexMagic = "CAIRNIDX"
	headerLen  = int64(len(packMagic))
	trailerLen = 16 // uint32 footer length, uint32 entry count, indexMagic
	// minEntryLen is an ID plus three one-byte uvarints; it caps the entry
	// count a footer can claim before anything is allocated for it.
	minEntryLen = 32 + 3
	// indexReadAhead is how much of a pack's tail ReadIndex fetches first,
	// enough for the footer of a typical pack in a single read.
	indexReadAhead = 64 << 10
)

// Entry locates one stored blob inside a pack.
type Entry struct {
	ID     ID
	Offset int64 // offset of the stored blob in the pack
	Length int64 // stored length (codec byte + payload)
	Size   int64 // plaintext length
}

// PackInfo describes a committed pack.
type PackInfo struct {
	Name    string // lowercase hex BLAKE3-256 of the whole pack file
	Size    int64
	Entries []Entry
}

// PackWriter appends encoded blobs to one pack. It is not safe for
// concurrent use; callers serialize.
type PackWriter struct {
	up      Upload
	bw      *bufio.Writer
	h       *blake3.Hasher
	off     int64
	entries []Entry
	err     error // sticky: once a write fails the pack is unusable
	done    bool
}

// NewPackWriter starts a pack in s.
func NewPackWriter(ctx context.Context, s Store) (*PackWriter, error) {
	up, err := s.Create(ctx)
	if err != nil {
		return nil, fmt.Errorf("create pack: %w", err)
	}
	h := blake3.New()
	w := &PackWriter{
		up: up,
		h:  h,
		// Hashing behind the buffer feeds BLAKE3 large slices, and keeps
		// thousands of tiny blobs from each costing a write to the upload.
		bw: bufio.NewWriterSize(io.MultiWriter(h, up), 1<<20),
	}
	w.write([]byte(packMagic))
	return w, nil
}

func (w *PackWriter) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("write pack: %w", err)
		return
	}
	w.off += int64(len(b))
}

// Add appends blob, the Encode-d form of a chunk with plaintext length size.
func (w *PackWriter) Add(id ID, size int, blob []byte) (Entry, error) {
	switch {
	case w.done:
		return Entry{}, fmt.Errorf("add chunk %s: pack writer already finished", id)
	case w.err != nil:
		return Entry{}, w.err
	case len(blob) == 0:
		return Entry{}, fmt.Errorf("add chunk %s: empty blob", id)
	case size < 0:
		return Entry{}, fmt.Errorf("add chunk %s: negative size %d", id, size)
	}
	e := Entry{ID: id, Offset: w.off, Length: int64(len(blob)), Size: int64(size)}
	w.write(blob)
	if w.err != nil {
		return Entry{}, w.err
	}
	w.entries = append(w.entries, e)
	return e, nil
}

// Len returns the number of bytes written so far, for deciding when to seal.
func (w *PackWriter) Len() int64 { return w.off }

// Count returns the number of blobs added.
func (w *PackWriter) Count() int { return len(w.entries) }

// Finish writes the footer and commits the pack under the BLAKE3 of its
// bytes. The hash is taken while writing, so the pack is never re-read.
func (w *PackWriter) Finish(ctx context.Context) (PackInfo, error) {
	if w.done {
		return PackInfo{}, errors.New("finish pack: pack writer already finished")
	}
	info, err := w.finish(ctx)
	w.done = true
	if err != nil {
		_ = w.up.Abort() // the commit error is the one worth reporting
		return PackInfo{}, err
	}
	return info, nil
}

func (w *PackWriter) finish(ctx context.Context) (PackInfo, error) {
	if w.err != nil {
		return PackInfo{}, w.err
	}
	if err := ctx.Err(); err != nil {
		return PackInfo{}, fmt.Errorf("finish pack: %w", err)
	}
	var footer []byte
	for _, e := range w.entries {
		footer = append(footer, e.ID[:]...)
		footer = binary.AppendUvarint(footer, uint64(e.Offset))
		footer = binary.AppendUvarint(footer, uint64(e.Length))
		footer = binary.AppendUvarint(footer, uint64(e.Size))
	}
	if len(footer) > math.MaxUint32 {
		return PackInfo{}, fmt.Errorf("finish pack: footer of %d bytes exceeds format limit", len(footer))
	}
	footer = binary.LittleEndian.AppendUint32(footer, uint32(len(footer)))
	footer = binary.LittleEndian.AppendUint32(footer, uint32(len(w.entries)))
	footer = append(footer, indexMagic...)
	w.write(footer)
	if w.err != nil {
		return PackInfo{}, w.err
	}
	if err := w.bw.Flush(); err != nil {
		return PackInfo{}, fmt.Errorf("write pack: %w", err)
	}
	name := hex.EncodeToString(w.h.Sum(nil))
	if err := w.up.Commit(ctx, name); err != nil {
		return PackInfo{}, fmt.Errorf("commit pack %s: %w", name, err)
	}
	return PackInfo{Name: name, Size: w.off, Entries: w.entries}, nil
}

// Abort discards the pack. It does nothing after Finish, so callers can
// always defer it.
func (w *PackWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.up.Abort()
}
