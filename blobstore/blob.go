package blobstore

import (
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Codec bytes: the first byte of every stored blob.
const (
	CodecRaw  byte = 0 // stored as-is (compression didn't help)
	CodecZstd byte = 1
)

const (
	// minCompress is the smallest input handed to zstd: below it the frame
	// header eats most of any saving, and zstd leaves the content size out
	// of the header, which readers of a blob holding several chunks need.
	minCompress = 256
	// maxZstdRatio bounds how much plaintext one stored byte can expand to.
	// The densest zstd construct is an RLE block: 3 header bytes plus one
	// byte yield at most 128 KiB. It lets Decode and ParseIndex reject an
	// impossible size before allocating for it.
	maxZstdRatio = (128 << 10) / 4
	// MaxBlobPlain bounds the plaintext of one blob, a chunk or a run of
	// chunks compressed together: the chunker's largest chunk (64 MiB).
	// Writers refuse anything larger and readers refuse it before
	// allocating for it.
	MaxBlobPlain = 64 << 20
)

// The encoder runs one EncodeAll per pooled encoder, so its concurrency is
// the number of chunks that can compress in parallel; with 1 every caller
// would queue on a single encoder.
var encoder = sync.OnceValue(func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(0),
		zstd.WithZeroFrames(true),
		// A blob holds at most a few hundred KiB: a bigger window buys
		// nothing, and the default 8 MiB one costs that much memory per
		// encoder for every input over one block (128 KiB).
		zstd.WithWindowSize(512<<10),
		zstd.WithLowerEncoderMem(true),
		// The BLAKE3 check in Decode covers what the frame CRC would.
		zstd.WithEncoderCRC(false),
	)
	if err != nil {
		panic("blobstore: create zstd encoder: " + err.Error()) // constant options; cannot happen
	}
	return enc
})

// The decoder bounds each DecodeAll by the capacity of its destination, which
// Decode sets to the expected plaintext size; a shared decoder cannot take a
// per-call WithDecoderMaxMemory.
var decoder = sync.OnceValue(func() *zstd.Decoder {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		panic("blobstore: create zstd decoder: " + err.Error()) // constant options; cannot happen
	}
	return dec
})

// Encode appends the format-1 stored form of plain to dst: one codec byte,
// then the payload (Codec.Encode seals it for format 2). Data that zstd shrinks by less than about 3% is stored raw, since
// decompressing it would cost time for no real saving. Safe for concurrent
// use.
func Encode(dst, plain []byte) []byte {
	// Room for the raw form means the fallback never reallocates.
	dst = slices.Grow(dst, 1+len(plain))
	start := len(dst)
	if len(plain) >= minCompress {
		dst = append(dst, CodecZstd)
		dst = encoder().EncodeAll(plain, dst)
		if len(dst)-start-1 <= len(plain)-len(plain)/32 {
			return dst
		}
		dst = dst[:start]
	}
	dst = append(dst, CodecRaw)
	return append(dst, plain...)
}

// Decode appends the plaintext of blob, a format-1 blob, to dst and
// verifies that it is size bytes long and hashes to want: a blob that
// holds exactly one chunk (Codec.Decode reads either format).
// Every failure wraps ErrCorrupt and names the chunk; on failure dst is
// returned unchanged. Safe for concurrent use.
func Decode(dst, blob []byte, want ID, size int) ([]byte, error) {
	return decode(nil, dst, blob, want, size)
}

// decode is Decode of an opened blob, with c's chunk ids.
func decode(c *Codec, dst, blob []byte, want ID, size int) ([]byte, error) {
	if size < 0 {
		return dst, fmt.Errorf("chunk %s: negative size %d: %w", want, size, ErrCorrupt)
	}
	start := len(dst)
	out, err := expand(dst, blob, int64(size))
	if err == nil && len(out)-start != size {
		err = fmt.Errorf("blob holds %d bytes, want %d: %w", len(out)-start, size, ErrCorrupt)
	}
	if err == nil && c.Sum(out[start:]) != want {
		err = fmt.Errorf("hash mismatch: %w", ErrCorrupt)
	}
	if err != nil {
		return dst, fmt.Errorf("chunk %s: %w", want, err)
	}
	return out, nil
}

// expand appends the whole plaintext of blob to dst, which must hold at
// least need bytes (a blob can hold several chunks). The zstd frame header
// gives the full size; every failure wraps ErrCorrupt, and on failure dst
// is returned unchanged. The caller verifies the chunks it takes.
func expand(dst, blob []byte, need int64) ([]byte, error) {
	if len(blob) == 0 {
		return dst, fmt.Errorf("empty blob: %w", ErrCorrupt)
	}
	start := len(dst)
	switch codec, payload := blob[0], blob[1:]; codec {
	case CodecRaw:
		if int64(len(payload)) < need {
			return dst, fmt.Errorf("stored %d bytes, want at least %d: %w", len(payload), need, ErrCorrupt)
		}
		return append(dst, payload...), nil
	case CodecZstd:
		// Frames Encode writes (minCompress bytes and more) state their
		// size. One that does not is taken to hold exactly need bytes,
		// as blobs of one chunk did before blobs could hold several.
		total := need
		var h zstd.Header
		if h.Decode(payload) == nil && !h.Skippable && h.HasFCS {
			if h.FrameContentSize < uint64(need) || h.FrameContentSize > MaxBlobPlain {
				return dst, fmt.Errorf("frame holds %d bytes, want %d: %w", h.FrameContentSize, need, ErrCorrupt)
			}
			total = int64(h.FrameContentSize)
		}
		if total > MaxBlobPlain || !plausibleSize(int64(len(blob)), total) {
			return dst, fmt.Errorf("size %d impossible for %d stored bytes: %w", total, len(blob), ErrCorrupt)
		}
		n := int(total)
		// zstd's spare room past the end: with exactly n of capacity the
		// decoder takes its bounds-checked sequence decoder for the last
		// block, that is for every small blob (20% of a full restore's
		// CPU). The capacity limit still stops a hostile frame from
		// decompressing more than overAlloc beyond total, and the length
		// check below refuses anything but total.
		const overAlloc = 16
		full := slices.Grow(dst, n+overAlloc)[:start+n]
		out, err := decoder().DecodeAll(payload, full[:start:start+n+overAlloc])
		if err != nil {
			return dst, fmt.Errorf("decompress: %w: %w", err, ErrCorrupt)
		}
		if len(out) != start+n {
			return dst, fmt.Errorf("decompressed %d bytes, want %d: %w", len(out)-start, n, ErrCorrupt)
		}
		if n == 0 || &out[start] == &full[start] {
			return full, nil // keep the capacity the limit hid
		}
		return out, nil
	default:
		return dst, fmt.Errorf("unknown codec %d: %w", codec, ErrCorrupt)
	}
}

// plausibleSize reports whether a stored blob of stored bytes (codec byte
// included) could hold size bytes of plaintext under any codec.
func plausibleSize(stored, size int64) bool {
	if stored < 1 || size < 0 {
		return false
	}
	payload := stored - 1
	if payload > (1<<63-1)/maxZstdRatio {
		return true
	}
	return size <= payload*maxZstdRatio
}
