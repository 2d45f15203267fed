package blobstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/cairn-dev/cairn/keys"
)

// Codec is how a repository names chunks and stores blobs and footers: the
// one value every reader and writer of packs is handed. The nil *Codec is
// format 1: plain BLAKE3 chunk ids, blobs and footers in the clear. One made
// by NewCodec is format 2: chunk ids are keyed BLAKE3, every blob is sealed
// after compression and every footer is sealed, each with associated data
// naming the repository (see the package doc). Its methods are safe for
// concurrent use, also on nil.
type Codec struct {
	keys     *keys.Set
	blobAD   []byte // associated data of every blob
	footerAD []byte // prefix of every footer's associated data
	hashers  sync.Pool
}

// Labels that start the associated data, so a sealed blob can never be
// opened as a footer (or a log record) and the other way round. They are
// part of the format.
const (
	adBlob   = "cairn v2 blob\x00"
	adFooter = "cairn v2 pack footer\x00"
)

// sealNonce is the nonce keys.Seal puts in front of the ciphertext (the
// 16-byte tag goes behind it).
const sealNonce = 24

// NewCodec returns the format-2 codec of the repository with id repoID
// whose keys are k.
func NewCodec(k *keys.Set, repoID string) (*Codec, error) {
	if k == nil || repoID == "" {
		return nil, errors.New("blobstore: a format-2 codec needs keys and a repository id")
	}
	c := &Codec{
		keys:     k,
		blobAD:   append([]byte(adBlob), repoID...),
		footerAD: append(append([]byte(adFooter), repoID...), 0),
	}
	c.hashers.New = func() any { return k.NewIDHasher() }
	return c, nil
}

// Sealed reports whether c is format 2.
func (c *Codec) Sealed() bool { return c != nil }

// Format is the pack format c writes: 1 or 2.
func (c *Codec) Format() int {
	if c == nil {
		return 1
	}
	return 2
}

// Sum returns the id of the chunk data: BLAKE3-256 in format 1, keyed
// BLAKE3-256 in format 2. Keyed hashers are pooled and Reset per chunk,
// since making one costs more than hashing a small chunk.
func (c *Codec) Sum(data []byte) ID {
	if c == nil {
		return Sum(data)
	}
	h := c.hashers.Get().(*blake3.Hasher)
	h.Reset()
	h.Write(data)
	var id ID
	h.Sum(id[:0])
	c.hashers.Put(h)
	return id
}

// GearSeed returns the seed of the chunker's gear table for format 2; ok is
// false for format 1, which uses the public table.
func (c *Codec) GearSeed() (seed [32]byte, ok bool) {
	if c == nil {
		return seed, false
	}
	return c.keys.GearSeed(), true
}

// overhead is what the codec adds to every blob and footer.
func (c *Codec) overhead() int {
	if c == nil {
		return 0
	}
	return keys.Overhead
}

// maxStored bounds the stored length of one blob.
func (c *Codec) maxStored() int64 { return MaxBlobPlain + 1 + int64(c.overhead()) }

// Encode appends the stored form of plain to dst: Encode's (a codec byte,
// then the plaintext or one zstd frame of it), sealed in format 2. The
// compressed form is sealed where it lies, without a copy.
func (c *Codec) Encode(dst, plain []byte) []byte {
	if c == nil {
		return Encode(dst, plain)
	}
	start := len(dst)
	// Room for the nonce, the raw form and the tag: Seal then writes the
	// nonce in front and encrypts in place (the exact overlap an AEAD
	// allows), whatever zstd made.
	dst = slices.Grow(dst, keys.Overhead+1+len(plain))
	body := Encode(dst[:start+sealNonce], plain)
	return c.keys.Seal(body[:start], body[start+sealNonce:], c.blobAD)
}

// open returns the Encode-d form inside a stored blob, decrypted in place
// over stored. Format 1 returns stored itself.
func (c *Codec) open(stored []byte) ([]byte, error) {
	if c == nil {
		return stored, nil
	}
	n := sealNonce
	if len(stored) < keys.Overhead {
		return nil, fmt.Errorf("sealed blob of %d bytes is too short: %w", len(stored), ErrCorrupt)
	}
	plain, err := c.keys.Open(stored[n:n], stored, c.blobAD)
	if err != nil {
		return nil, fmt.Errorf("open sealed blob: %w: %w", err, ErrCorrupt)
	}
	return plain, nil
}

// Decode appends the plaintext of a stored blob that holds exactly one
// chunk to dst, and verifies that it is size bytes long and has the id
// want. It is Decode for the codec's format; stored is decrypted in place
// (its bytes are garbage afterwards). Every failure wraps ErrCorrupt and
// names the chunk; on failure dst is returned unchanged.
func (c *Codec) Decode(dst, stored []byte, want ID, size int) ([]byte, error) {
	blob, err := c.open(stored)
	if err != nil {
		return dst, fmt.Errorf("chunk %s: %w", want, err)
	}
	return decode(c, dst, blob, want, size)
}

// footerAAD is the associated data of the footer of a pack whose blobs
// end at blobEnd: the repository, and the footer's place in its pack.
func (c *Codec) footerAAD(blobEnd int64) []byte {
	return binary.LittleEndian.AppendUint64(slices.Clip(c.footerAD), uint64(blobEnd))
}

// plausible reports whether a stored blob of stored bytes could hold size
// bytes of plaintext in c's format.
func (c *Codec) plausible(stored, size int64) bool {
	return plausibleSize(stored-int64(c.overhead()), size)
}

// VerifyPack reads all of pack name and checks what needs no catalog: that
// its bytes hash to its name (which needs no key, so any copy of a
// repository can be checked), that its footer parses in c's format and,
// for a sealed footer, that the hash it holds of the blob area matches the
// blobs (the footer belongs to this pack). Errors wrap ErrCorrupt, or
// ErrNotFound, and name the pack.
func VerifyPack(ctx context.Context, s Store, c *Codec, name string) error {
	size, err := s.Stat(ctx, name)
	if err != nil {
		return fmt.Errorf("verify pack %s: %w", name, err)
	}
	var blobEnd int64 = -1
	var blobsHash []byte
	if c.Sealed() && size >= headerLen+trailerLen {
		var trailer [trailerLen]byte
		if err := s.ReadAt(ctx, name, trailer[:], size-trailerLen); err != nil {
			return fmt.Errorf("verify pack %s: %w", name, err)
		}
		if footerLen := int64(binary.LittleEndian.Uint32(trailer[:4])); footerLen <= size-headerLen-trailerLen {
			tail := make([]byte, trailerLen+footerLen)
			if err := s.ReadAt(ctx, name, tail, size-int64(len(tail))); err != nil {
				return fmt.Errorf("verify pack %s: %w", name, err)
			}
			f, err := parseTrailer(c, tail, size)
			if err != nil {
				return fmt.Errorf("verify pack %s: %w", name, err)
			}
			blobsHash, blobEnd = f.blobsHash, f.blobEnd
		}
	}
	if _, err := ReadIndex(ctx, s, c, name); err != nil {
		return fmt.Errorf("verify %w", err)
	}
	h := blake3.New()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(len(buf)), size-off)
		if blobEnd > off && blobEnd < off+n {
			n = blobEnd - off // stop there to take the blob area's hash
		}
		if err := s.ReadAt(ctx, name, buf[:n], off); err != nil {
			return fmt.Errorf("verify pack %s: %w", name, err)
		}
		h.Write(buf[:n])
		off += n
		if off == blobEnd && !bytes.Equal(h.Sum(nil), blobsHash) {
			return fmt.Errorf("verify pack %s: its footer describes other blobs: %w", name, ErrCorrupt)
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != name {
		return fmt.Errorf("verify pack %s: its bytes hash to %s: %w", name, got, ErrCorrupt)
	}
	return nil
}
