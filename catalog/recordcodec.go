package catalog

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The framing of a record (format version 1):
//
//	byte 0   recordVersion (1)
//	byte 1   kind (recordKind)
//	byte 2   codec: 0 = the body follows as is, 1 = one zstd frame
//	[codec 1: uvarint length of the body, then the frame]
//	body     the kind's fields, in the order its encode writes them:
//	         uvarints, zigzag varints, byte strings as uvarint length +
//	         bytes, hashes as 32 raw bytes
//
// Small records (an unchanged snapshot: ~80 bytes) are stored raw, since
// a zstd frame would only add its header.
//
// Version 2 (every record written since several writers may share a
// repository) begins its body with the writer map: uvarint count, then
// per entry uvarint slot and the writer id as a string; some kinds add
// fields at the end of their body (the ids of the rows they create).
// Version 1 records are read as before, as their log's writer's.
const (
	recordVersion = 2
	codecRaw      = 0
	codecZstd     = 1
	// compressFrom is the body size from which zstd is tried.
	compressFrom = 256
)

// maxRecordBody bounds the decompressed body a record may claim: the
// commit of a first snapshot of 10M files is about 1 GiB. A variable so
// that the fuzz test can lower it.
var maxRecordBody uint64 = 2 << 30

// SpeedFastest: on the record of a first snapshot of 1M files (a 124 MB
// body, mostly hashes that do not compress) it wrote 71.6 MB in 0.62 CPU
// s, where SpeedDefault wrote 73.2 MB in 0.88 s.
var recordEncoder = sync.OnceValue(func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithZeroFrames(true),
		// The record is authenticated by its seal (metalog), which covers
		// what the frame CRC would.
		zstd.WithEncoderCRC(false),
	)
	if err != nil {
		panic("catalog: create zstd encoder: " + err.Error()) // constant options; cannot happen
	}
	return enc
})

// streamEncoders compress big records as they are encoded
// (encodeStreamed), with recordEncoder's settings. Each holds a window of
// history: 4 MiB, where the default 8 MiB compressed the record of 1M
// small files no better.
var streamEncoders = sync.Pool{New: func() any {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(4<<20),
		zstd.WithEncoderCRC(false),
	)
	if err != nil {
		panic("catalog: create zstd encoder: " + err.Error()) // constant options; cannot happen
	}
	return enc
}}

// appendWriter is an io.Writer appending to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

var recordDecoder = sync.OnceValue(func() *zstd.Decoder {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		panic("catalog: create zstd decoder: " + err.Error()) // constant options; cannot happen
	}
	return dec
})

// frameRecord wraps an encoded body in the record's framing, compressing
// it when that pays.
func frameRecord(kind recordKind, body []byte) []byte {
	if len(body) >= compressFrom {
		out := make([]byte, 0, 16+len(body)/2)
		out = append(out, recordVersion, byte(kind), codecZstd)
		out = binary.AppendUvarint(out, uint64(len(body)))
		head := len(out)
		out = recordEncoder().EncodeAll(body, out)
		if len(out)-head < len(body) {
			return out
		}
	}
	out := make([]byte, 0, 3+len(body))
	out = append(out, recordVersion, byte(kind), codecRaw)
	return append(out, body...)
}

// errBadRecord is wrapped by every decoding failure.
var errBadRecord = fmt.Errorf("%w: damaged", ErrRecord)

// unframeRecord checks the framing and returns the kind and body.
func unframeRecord(b []byte) (byte, recordKind, []byte, error) {
	if len(b) < 3 {
		return 0, 0, nil, fmt.Errorf("%w: %d bytes", errBadRecord, len(b))
	}
	version := b[0]
	if version < 1 || version > recordVersion {
		return 0, 0, nil, fmt.Errorf("%w: record version %d, this cairn knows %d (written by a newer cairn?)", ErrRecord, b[0], recordVersion)
	}
	kind := recordKind(b[1])
	switch b[2] {
	case codecRaw:
		return version, kind, b[3:], nil
	case codecZstd:
		n, l := binary.Uvarint(b[3:])
		if l <= 0 || n > maxRecordBody {
			return 0, 0, nil, fmt.Errorf("%w: bad body length", errBadRecord)
		}
		body, err := recordDecoder().DecodeAll(b[3+l:], make([]byte, 0, n))
		if err != nil {
			return 0, 0, nil, fmt.Errorf("%w: %v", errBadRecord, err)
		}
		if uint64(len(body)) != n {
			return 0, 0, nil, fmt.Errorf("%w: body is %d bytes, header says %d", errBadRecord, len(body), n)
		}
		return version, kind, body, nil
	default:
		return 0, 0, nil, fmt.Errorf("%w: unknown codec %d", ErrRecord, b[2])
	}
}

// encoder appends a record's fields.
type encoder struct {
	b  []byte
	v2 bool // record version 2 (checkpoints use version 1's value encoding)
	// w, when set, compresses the body as it is encoded: spill hands it
	// what b holds once that is spillAt bytes, and n counts what it got.
	w *zstd.Encoder
	n int64
}

// spillAt is how much body an encoder with a writer holds at most (plus
// one element).
const spillAt = 1 << 20

// spill passes what e holds to its writer, if it has one and spillAt
// bytes are held; the loops over a record's rows call it.
func (e *encoder) spill() {
	if e.w != nil && len(e.b) >= spillAt {
		e.flush()
	}
}

// flush passes what e holds to its writer.
func (e *encoder) flush() {
	e.w.Write(e.b) // to an appendWriter, which never fails
	e.n += int64(len(e.b))
	e.b = e.b[:0]
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) byte(c byte)      { e.b = append(e.b, c) }
func (e *encoder) hash(h [32]byte)  { e.b = append(e.b, h[:]...) }
func (e *encoder) count(n int)      { e.uvarint(uint64(n)) }
func (e *encoder) float(f float64)  { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f)) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) strs(ss []string) {
	e.count(len(ss))
	for _, s := range ss {
		e.str(s)
	}
}

// ids writes a list of ids as zigzag deltas: ids of rows written together
// are close, so most take a byte.
func (e *encoder) ids(ids []int64) {
	e.count(len(ids))
	var prev int64
	for _, id := range ids {
		e.varint(id - prev)
		prev = id
	}
}

// packName writes a pack name, 32 raw bytes when it is the usual 64
// lowercase hex digits.
func (e *encoder) packName(name string) {
	if h, ok := hexName(name); ok {
		e.byte(0)
		e.hash(h)
		return
	}
	e.byte(1)
	e.str(name)
}

func hexName(name string) (h [32]byte, ok bool) {
	if len(name) != 64 {
		return h, false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return h, false
		}
	}
	_, err := hex.Decode(h[:], []byte(name))
	return h, err == nil
}

// decoder reads a record's fields. The first failure sticks: every later
// read returns zero values, and err says what was wrong. It never panics
// and never allocates more than the input can fill (a count is checked
// against the bytes left, each element taking at least one).
type decoder struct {
	b   []byte
	err error
	v2  bool // a record of version 2
}

var errShort = errors.New("truncated")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) hash() (h [32]byte) {
	if len(d.b) < 32 {
		d.fail(errShort)
		return h
	}
	copy(h[:], d.b)
	d.b = d.b[32:]
	return h
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail(errShort)
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return f
}

// count reads a number of elements that each take at least min bytes.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.fail(fmt.Errorf("count %d exceeds the %d bytes left", n, len(d.b)))
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail(errShort)
	}
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) ids() []int64 {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]int64, n)
	var prev int64
	for i := range out {
		prev += d.varint()
		out[i] = prev
	}
	return out
}

func (d *decoder) packName() string {
	switch d.byte() {
	case 0:
		h := d.hash()
		return hex.EncodeToString(h[:])
	case 1:
		return d.str()
	default:
		d.fail(errors.New("bad pack name"))
		return ""
	}
}

// bool01 reads a byte that must be 0 or 1.
func (d *decoder) bool01() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail(errors.New("bad boolean"))
		return false
	}
}

// finish reports the first failure, or bytes left over.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("%w: %v", errBadRecord, d.err)
	}
	return nil
}
