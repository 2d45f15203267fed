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
	packMagic = "CAIRNPK1"
	// packMagicSealed starts a format-2 pack: sealed blobs, a sealed
	// footer, ended by footerMagicSealed.
	packMagicSealed   = "CAIRNPK2"
	footerMagicSealed = "CAIRNSF1"
	// indexMagic ends packs whose footer entries carry a plaintext offset
	// (blobs that hold several chunks); indexMagicV1 ends packs written
	// before that, one chunk per blob, which stay readable.
	indexMagic   = "CAIRNID2"
	indexMagicV1 = "CAIRNIDX"
	headerLen    = int64(len(packMagic))
	trailerLen   = 16 // uint32 footer length, uint32 entry count, indexMagic
	// minEntryLen is an ID plus three one-byte uvarints (the first
	// format's entry; the current one has four); it caps the entry count a
	// footer can claim before anything is allocated for it.
	minEntryLen = 32 + 3
	// indexReadAhead is how much of a pack's tail ReadIndex fetches first,
	// enough for the footer of a typical pack in a single read.
	indexReadAhead = 64 << 10
)

// Entry locates one chunk inside a pack: the stored blob that holds it and
// where in that blob's plaintext it lies. A blob holds one chunk or several
// consecutive ones, compressed together (see the package doc).
type Entry struct {
	ID          ID
	Offset      int64 // offset of the stored blob in the pack
	Length      int64 // stored length of the blob (codec byte + payload)
	Size        int64 // plaintext length of the chunk
	PlainOffset int64 // where the chunk starts in the blob's plaintext
}

// Part is one chunk of a blob being added: its ID, where it starts in the
// blob's plaintext, and its plaintext length.
type Part struct {
	ID          ID
	PlainOffset int64
	Size        int64
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
	c       *Codec
	up      Upload
	bw      *bufio.Writer
	h       *blake3.Hasher
	off     int64
	entries []Entry
	err     error // sticky: once a write fails the pack is unusable
	done    bool
}

// NewPackWriter starts a pack in s, in c's format: blobs added to it must
// be c.Encode-d.
func NewPackWriter(ctx context.Context, s Store, c *Codec) (*PackWriter, error) {
	up, err := s.Create(ctx)
	if err != nil {
		return nil, fmt.Errorf("create pack: %w", err)
	}
	h := blake3.New()
	w := &PackWriter{
		c:  c,
		up: up,
		h:  h,
		// Hashing behind the buffer feeds BLAKE3 large slices, and keeps
		// thousands of tiny blobs from each costing a write to the upload.
		bw: bufio.NewWriterSize(io.MultiWriter(h, up), 256<<10),
	}
	if c.Sealed() {
		w.write([]byte(packMagicSealed))
	} else {
		w.write([]byte(packMagic))
	}
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

// Add appends blob, the Codec.Encode-d form of a chunk with plaintext length size.
func (w *PackWriter) Add(id ID, size int, blob []byte) (Entry, error) {
	entries, err := w.AddBlob([]Part{{ID: id, Size: int64(size)}}, blob)
	if err != nil {
		return Entry{}, err
	}
	return entries[0], nil
}

// AddBlob appends blob, the Codec.Encode-d form of a plaintext that holds parts,
// which must be in order and must not overlap. It returns one entry per
// part; the slice is the caller's to read, not to keep past the next call.
func (w *PackWriter) AddBlob(parts []Part, blob []byte) ([]Entry, error) {
	name := "blob"
	if len(parts) > 0 {
		name = "chunk " + parts[0].ID.String()
	}
	switch {
	case w.done:
		return nil, fmt.Errorf("add %s: pack writer already finished", name)
	case w.err != nil:
		return nil, w.err
	case len(blob) == 0:
		return nil, fmt.Errorf("add %s: empty blob", name)
	case len(parts) == 0:
		return nil, errors.New("add blob: no chunks")
	}
	next := int64(0)
	for _, p := range parts {
		if p.Size < 0 || p.PlainOffset < next {
			return nil, fmt.Errorf("add chunk %s: size %d at %d overlaps or is negative", p.ID, p.Size, p.PlainOffset)
		}
		next = p.PlainOffset + p.Size
	}
	if next > MaxBlobPlain || int64(len(blob)) > w.c.maxStored() {
		return nil, fmt.Errorf("add %s: %d bytes of chunks in %d stored bytes exceed the %d a blob may hold", name, next, len(blob), MaxBlobPlain)
	}
	start := len(w.entries)
	for _, p := range parts {
		w.entries = append(w.entries, Entry{ID: p.ID, Offset: w.off, Length: int64(len(blob)), Size: p.Size, PlainOffset: p.PlainOffset})
	}
	w.write(blob)
	if w.err != nil {
		w.entries = w.entries[:start]
		return nil, w.err
	}
	return w.entries[start:], nil
}

// Len returns the number of bytes written so far, for deciding when to seal.
func (w *PackWriter) Len() int64 { return w.off }

// Count returns the number of chunks added.
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
	if w.c.Sealed() {
		// The sealed footer begins with the BLAKE3 of every byte before
		// it, which binds it to its pack's blobs (a reader of the whole
		// pack can verify it: VerifyPack), and holds its entry count.
		if err := w.bw.Flush(); err != nil {
			return PackInfo{}, fmt.Errorf("write pack: %w", err)
		}
		footer = w.h.Sum(footer)
		footer = binary.AppendUvarint(footer, uint64(len(w.entries)))
	}
	for _, e := range w.entries {
		footer = append(footer, e.ID[:]...)
		footer = binary.AppendUvarint(footer, uint64(e.Offset))
		footer = binary.AppendUvarint(footer, uint64(e.Length))
		footer = binary.AppendUvarint(footer, uint64(e.Size))
		footer = binary.AppendUvarint(footer, uint64(e.PlainOffset))
	}
	count, magic := uint32(len(w.entries)), indexMagic
	if w.c.Sealed() {
		footer = w.c.keys.Seal(nil, footer, w.c.footerAAD(w.off))
		count, magic = 0, footerMagicSealed // the count is inside
	}
	if len(footer) > math.MaxUint32 {
		return PackInfo{}, fmt.Errorf("finish pack: footer of %d bytes exceeds format limit", len(footer))
	}
	footer = binary.LittleEndian.AppendUint32(footer, uint32(len(footer)))
	footer = binary.LittleEndian.AppendUint32(footer, count)
	footer = append(footer, magic...)
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
