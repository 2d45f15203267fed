package blobstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-dev/cairn/keys"
)

// testCodec is a format-2 codec from a fixed master key (seed), for the
// repository repoID.
func testCodec(t testing.TB, seed byte, repoID string) *Codec {
	t.Helper()
	var m keys.Master
	for i := range m {
		m[i] = seed + byte(i)
	}
	k, err := keys.Derive(m)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCodec(k, repoID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const testRepoID = "0123456789abcdef0123456789abcdef"

// writeSealedPack writes chunks into a format-2 pack: the first three
// together as one blob, the rest one blob each.
func writeSealedPack(t *testing.T, s Store, c *Codec, chunks [][]byte) PackInfo {
	t.Helper()
	ctx := context.Background()
	w, err := NewPackWriter(ctx, s, c)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	var plain []byte
	var parts []Part
	for _, ch := range chunks[:3] {
		parts = append(parts, Part{ID: c.Sum(ch), PlainOffset: int64(len(plain)), Size: int64(len(ch))})
		plain = append(plain, ch...)
	}
	if _, err := w.AddBlob(parts, c.Encode(nil, plain)); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks[3:] {
		if _, err := w.Add(c.Sum(ch), len(ch), c.Encode(nil, ch)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestCodecIDs(t *testing.T) {
	c := testCodec(t, 1, testRepoID)
	data := []byte("a chunk of plaintext")
	var nilCodec *Codec
	if nilCodec.Sum(data) != Sum(data) || nilCodec.Sealed() || nilCodec.Format() != 1 {
		t.Error("the nil codec is not format 1")
	}
	if c.Sum(data) == Sum(data) {
		t.Error("format-2 chunk id is the unkeyed BLAKE3")
	}
	if c.Sum(data) != c.Sum(bytes.Clone(data)) || c.Sum(data) != ID(c.keys.ChunkID(data)) {
		t.Error("format-2 chunk id is not the keyed BLAKE3 of the key set")
	}
	// Pooled hashers are Reset per chunk: a long chunk before a short one
	// does not change the short one's id.
	c.Sum(bytes.Repeat(data, 1000))
	if c.Sum(data) != ID(c.keys.ChunkID(data)) {
		t.Error("a pooled hasher kept state from the previous chunk")
	}
	if other := testCodec(t, 2, testRepoID); other.Sum(data) == c.Sum(data) {
		t.Error("two master keys give one chunk id")
	}
	if _, ok := nilCodec.GearSeed(); ok {
		t.Error("format 1 has a secret gear seed")
	}
	if seed, ok := c.GearSeed(); !ok || seed != c.keys.GearSeed() {
		t.Error("format 2 gear seed is not the key set's")
	}
	if _, err := NewCodec(nil, testRepoID); err == nil {
		t.Error("NewCodec took no keys")
	}
}

func TestCodecEncodeDecode(t *testing.T) {
	c := testCodec(t, 1, testRepoID)
	for _, plain := range [][]byte{nil, []byte("short"), compressible(100 << 10), randBytes(3, 70000)} {
		id := c.Sum(plain)
		stored := c.Encode([]byte("prefix"), plain)
		if string(stored[:6]) != "prefix" {
			t.Fatal("Encode overwrote dst")
		}
		stored = stored[6:]
		if len(plain) >= 16 && bytes.Contains(stored, plain[:16]) {
			t.Error("sealed blob holds plaintext")
		}
		got, err := c.Decode([]byte("d"), bytes.Clone(stored), id, len(plain))
		if err != nil || !bytes.Equal(got[1:], plain) {
			t.Fatalf("round trip of %d bytes: %v", len(plain), err)
		}
		// Another repository's codec (same keys) and another key set
		// refuse it: the associated data names the repository.
		for _, other := range []*Codec{testCodec(t, 1, "ffffffffffffffffffffffffffffffff"), testCodec(t, 9, testRepoID)} {
			if _, err := other.Decode(nil, bytes.Clone(stored), id, len(plain)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("blob opened under another repository or key: %v", err)
			}
		}
		bad := bytes.Clone(stored)
		bad[len(bad)/2] ^= 1
		if _, err := c.Decode(nil, bad, id, len(plain)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("flipped byte: %v", err)
		}
	}
}

func TestSealedPack(t *testing.T) {
	ctx := context.Background()
	l, dir := newTestLocal(t)
	c := testCodec(t, 1, testRepoID)
	chunks := testChunks(12)
	info := writeSealedPack(t, l, c, chunks)
	raw, err := os.ReadFile(filepath.Join(dir, info.Name[:2], info.Name+".pack"))
	if err != nil {
		t.Fatal(err)
	}
	if Sum(raw).String() != info.Name {
		t.Error("a format-2 pack is not named by the BLAKE3 of its bytes")
	}
	if string(raw[:8]) != packMagicSealed || string(raw[len(raw)-8:]) != footerMagicSealed {
		t.Errorf("magics %q %q", raw[:8], raw[len(raw)-8:])
	}
	for i, ch := range chunks {
		if bytes.Contains(raw, ch[:16]) {
			t.Errorf("chunk %d's plaintext is in the pack", i)
		}
		if id := c.Sum(ch); bytes.Contains(raw, id[:]) {
			t.Errorf("chunk %d's keyed id is in the clear", i)
		}
		if id := Sum(ch); bytes.Contains(raw, id[:]) || bytes.Contains(raw, []byte(hex.EncodeToString(id[:]))) {
			t.Errorf("chunk %d's unkeyed id is in the pack", i)
		}
	}
	if err := VerifyPack(ctx, l, c, info.Name); err != nil {
		t.Errorf("VerifyPack: %v", err)
	}

	entries, err := ReadIndex(ctx, l, c, info.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(info.Entries) {
		t.Fatalf("ReadIndex: %d entries, want %d", len(entries), len(info.Entries))
	}
	r := NewReader(l, c)
	for i, e := range entries {
		if e != info.Entries[i] {
			t.Fatalf("entry %d = %+v, Finish said %+v", i, e, info.Entries[i])
		}
		for round := range 2 { // the second read of a shared blob is cached
			got, err := r.ReadChunk(ctx, info.Name, e, nil)
			if err != nil || !bytes.Equal(got, chunks[i]) {
				t.Fatalf("Reader chunk %d round %d: %v", i, round, err)
			}
		}
		if got, err := ReadChunk(ctx, l, c, info.Name, e, nil); err != nil || !bytes.Equal(got, chunks[i]) {
			t.Fatalf("ReadChunk %d: %v", i, err)
		}
		// The format-1 reader cannot read it, nor another repository's.
		if _, err := ReadChunk(ctx, l, nil, info.Name, e, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("format-1 read of a sealed chunk: %v", err)
		}
		if _, err := ReadChunk(ctx, l, testCodec(t, 1, "other"), info.Name, e, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("another repository read a sealed chunk: %v", err)
		}
	}
	if _, err := ReadIndex(ctx, l, nil, info.Name); !errors.Is(err, ErrFormat) || !errors.Is(err, ErrCorrupt) {
		t.Errorf("format-1 ReadIndex of a sealed pack: %v", err)
	}
	if _, err := ReadIndex(ctx, l, testCodec(t, 1, "other"), info.Name); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ReadIndex under another repository id: %v", err)
	}
	plainPack := writePack(t, l, testChunks(3))
	if _, err := ReadIndex(ctx, l, c, plainPack.Name); !errors.Is(err, ErrFormat) {
		t.Errorf("format-2 ReadIndex of a format-1 pack: %v", err)
	}
	if err := VerifyPack(ctx, l, nil, plainPack.Name); err != nil {
		t.Errorf("VerifyPack of a format-1 pack: %v", err)
	}
}

// Every byte of a sealed pack is covered: a flip in a blob fails that
// chunk, a flip in the footer or trailer fails ReadIndex, and any flip
// fails VerifyPack.
func TestSealedPackFlippedBytes(t *testing.T) {
	ctx := context.Background()
	l, dir := newTestLocal(t)
	c := testCodec(t, 1, testRepoID)
	chunks := testChunks(6)
	info := writeSealedPack(t, l, c, chunks)
	path := filepath.Join(dir, info.Name[:2], info.Name+".pack")
	last := info.Entries[len(info.Entries)-1]
	blobEnd := last.Offset + last.Length
	for _, off := range []int64{info.Entries[0].Offset + 3, last.Offset + last.Length - 1, blobEnd + 5, info.Size - 12, info.Size - 15} {
		flipByte(t, path, off)
		if err := VerifyPack(ctx, l, c, info.Name); !errors.Is(err, ErrCorrupt) {
			t.Errorf("flip at %d: VerifyPack = %v", off, err)
		}
		_, ierr := ReadIndex(ctx, l, c, info.Name)
		var cerr error
		for _, e := range info.Entries {
			if _, err := NewReader(l, c).ReadChunk(ctx, info.Name, e, nil); err != nil {
				cerr = err
			}
		}
		if off < blobEnd {
			if ierr != nil || !errors.Is(cerr, ErrCorrupt) {
				t.Errorf("flip at %d in a blob: ReadIndex %v, chunks %v", off, ierr, cerr)
			}
		} else if !errors.Is(ierr, ErrCorrupt) || cerr != nil {
			t.Errorf("flip at %d in the footer: ReadIndex %v, chunks %v", off, ierr, cerr)
		}
		flipByte(t, path, off)
	}
}

// A footer bound to its pack: the footer of one pack spliced onto the
// blobs of another (same length, renamed to its hash) still authenticates
// and parses, but VerifyPack finds that it describes other blobs.
func TestSealedFooterSpliced(t *testing.T) {
	ctx := context.Background()
	l, dir := newTestLocal(t)
	c := testCodec(t, 1, testRepoID)
	a := writeSealedPack(t, l, c, [][]byte{[]byte("aaaaaaaaaaaaaaaaaaaaaaaa1"), []byte("b1"), []byte("c1"), []byte("d1")})
	b := writeSealedPack(t, l, c, [][]byte{[]byte("aaaaaaaaaaaaaaaaaaaaaaaa2"), []byte("b2"), []byte("c2"), []byte("d2")})
	read := func(p PackInfo) []byte {
		raw, err := os.ReadFile(filepath.Join(dir, p.Name[:2], p.Name+".pack"))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	ra, rb := read(a), read(b)
	if len(ra) != len(rb) {
		t.Fatalf("packs of %d and %d bytes", len(ra), len(rb))
	}
	last := a.Entries[len(a.Entries)-1]
	blobEnd := last.Offset + last.Length
	spliced := append(bytes.Clone(rb[:blobEnd]), ra[blobEnd:]...)
	up, err := l.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	up.Write(spliced)
	name := Sum(spliced).String()
	if err := up.Commit(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadIndex(ctx, l, c, name); err != nil {
		t.Fatalf("ReadIndex of the spliced pack: %v", err)
	}
	if err := VerifyPack(ctx, l, c, name); !errors.Is(err, ErrCorrupt) {
		t.Errorf("VerifyPack of a spliced pack: %v", err)
	}
	// Its chunks fail their keyed ids: the blobs are b's, the ids a's.
	if _, err := ReadChunk(ctx, l, c, name, a.Entries[3], nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("chunk of a spliced pack: %v", err)
	}
}

func TestSealedPackEmpty(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	c := testCodec(t, 1, testRepoID)
	w, err := NewPackWriter(ctx, l, c)
	if err != nil {
		t.Fatal(err)
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadIndex(ctx, l, c, info.Name); err != nil || len(got) != 0 {
		t.Errorf("empty sealed pack: %v, %v", got, err)
	}
}

// sealedTail returns the whole bytes of a sealed pack, for the fuzzer.
func sealedTail(t testing.TB, c *Codec, chunks [][]byte) []byte {
	ctx := context.Background()
	root := t.TempDir()
	s, err := NewLocal(filepath.Join(root, "packs"), filepath.Join(root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := NewPackWriter(ctx, s, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks {
		if _, err := w.Add(c.Sum(ch), len(ch), c.Encode(nil, ch)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, info.Size)
	if err := s.ReadAt(ctx, info.Name, raw, 0); err != nil {
		t.Fatal(err)
	}
	return raw
}

func FuzzParseIndexSealed(f *testing.F) {
	c := testCodec(f, 1, testRepoID)
	whole := sealedTail(f, c, testChunks(5))
	f.Add(whole, int64(len(whole)))
	f.Add(whole[len(whole)-100:], int64(len(whole)))
	f.Add(sealedTail(f, c, nil), int64(len(sealedTail(f, c, nil))))
	f.Add([]byte(footerMagicSealed), int64(16))
	f.Fuzz(func(t *testing.T, tail []byte, packSize int64) {
		for _, size := range []int64{packSize, int64(len(tail))} {
			entries, err := ParseIndex(c, tail, size)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
				continue
			}
			next := int64(8)
			var prev Entry
			for i, e := range entries {
				shared := i > 0 && e.Offset == prev.Offset && e.Length == prev.Length
				if !shared && e.Offset < next || e.Length < 1 || e.Offset+e.Length > size-16 {
					t.Fatalf("entry %d %+v out of bounds in pack of %d bytes", i, e, size)
				}
				if !c.plausible(e.Length, e.PlainOffset+e.Size) {
					t.Fatalf("entry %d %+v has an impossible size", i, e)
				}
				next, prev = e.Offset+e.Length, e
			}
		}
	})
}

func FuzzDecodeSealed(f *testing.F) {
	c := testCodec(f, 1, testRepoID)
	f.Add(c.Encode(nil, compressible(1000)), 1000)
	f.Add(c.Encode(nil, []byte("raw chunk")), 9)
	f.Add([]byte{}, 0)
	f.Add(make([]byte, keys.Overhead), 0)
	f.Fuzz(func(t *testing.T, stored []byte, size int) {
		if size > 4<<20 && size/maxZstdRatio <= len(stored) {
			return
		}
		id := c.Sum(stored)
		got, err := c.Decode([]byte("dst"), bytes.Clone(stored), id, size)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || string(got) != "dst" {
				t.Fatalf("error %v does not wrap ErrCorrupt, or dst changed", err)
			}
		} else if len(got) != 3+size || c.Sum(got[3:]) != id {
			t.Fatalf("Decode succeeded with %d bytes that do not match", len(got)-3)
		}
		plain, err := c.Decode(nil, c.Encode(nil, stored), id, len(stored))
		if err != nil || !bytes.Equal(plain, stored) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// The cost of format 2 per byte, against format 1 on the same input: a
// 128 KiB frame of text (what snapshot compresses as one blob), and chunk
// ids of 4 KiB (SQLite pages) and 128 KiB.
func BenchmarkCodec(b *testing.B) {
	frame := compressible(128 << 10)
	sealer := testCodec(b, 1, testRepoID)
	b.Run("seal", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		var out []byte
		for b.Loop() {
			out = sealer.keys.Seal(out[:0], frame, sealer.blobAD)
		}
	})
	b.Run("blake3", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		for b.Loop() {
			Sum(frame)
		}
	})
	for _, tc := range []struct {
		name string
		c    *Codec
	}{{"format1", nil}, {"format2", testCodec(b, 1, testRepoID)}} {
		b.Run("encode/"+tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			var out []byte
			for b.Loop() {
				out = tc.c.Encode(out[:0], frame)
			}
		})
		stored := tc.c.Encode(nil, frame)
		id := tc.c.Sum(frame)
		b.Run("decode/"+tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			buf := make([]byte, len(stored))
			var out []byte
			for b.Loop() {
				copy(buf, stored)
				var err error
				if out, err = tc.c.Decode(out[:0], buf, id, len(frame)); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, n := range []int{4 << 10, 128 << 10} {
			data := randBytes(5, n)
			b.Run(fmt.Sprintf("sum%dk/%s", n>>10, tc.name), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					tc.c.Sum(data)
				}
			})
		}
	}
}
