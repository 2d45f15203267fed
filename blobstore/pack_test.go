package blobstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newTestLocal(t *testing.T) (*Local, string) {
	t.Helper()
	root := t.TempDir()
	l, err := NewLocal(filepath.Join(root, "packs"), filepath.Join(root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, filepath.Join(root, "packs")
}

func writePack(t *testing.T, s Store, chunks [][]byte) PackInfo {
	t.Helper()
	ctx := context.Background()
	w, err := NewPackWriter(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, c := range chunks {
		if _, err := w.Add(Sum(c), len(c), Encode(nil, c)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func testChunks(n int) [][]byte {
	var cs [][]byte
	for i := range n {
		if i%2 == 0 {
			cs = append(cs, compressible(100+i*37))
		} else {
			cs = append(cs, randBytes(uint64(i), 50+i*11))
		}
	}
	return cs
}

func TestPackLayout(t *testing.T) {
	l, dir := newTestLocal(t)
	chunks := testChunks(10)
	info := writePack(t, l, chunks)
	raw, err := os.ReadFile(filepath.Join(dir, info.Name[:2], info.Name+".pack"))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(raw)) != info.Size || Sum(raw).String() != info.Name {
		t.Fatalf("pack file of %d bytes does not match info %s/%d", len(raw), info.Name, info.Size)
	}
	if string(raw[:8]) != "CAIRNPK1" || string(raw[len(raw)-8:]) != "CAIRNID2" {
		t.Errorf("magic = %q ... %q", raw[:8], raw[len(raw)-8:])
	}
	footerLen := binary.LittleEndian.Uint32(raw[len(raw)-16:])
	if count := binary.LittleEndian.Uint32(raw[len(raw)-12:]); count != uint32(len(chunks)) {
		t.Errorf("trailer count = %d; want %d", count, len(chunks))
	}
	next := int64(8)
	for i, e := range info.Entries {
		if e.Offset != next {
			t.Errorf("entry %d at %d; want %d (blobs back to back)", i, e.Offset, next)
		}
		if !bytes.Equal(raw[e.Offset:e.Offset+e.Length], Encode(nil, chunks[i])) {
			t.Errorf("entry %d does not hold the encoded chunk", i)
		}
		next = e.Offset + e.Length
	}
	if next+int64(footerLen)+16 != info.Size {
		t.Errorf("footer of %d bytes does not start right after the blobs", footerLen)
	}

	// ParseIndex accepts the whole file or just footer and trailer.
	for _, tail := range [][]byte{raw, raw[next:]} {
		got, err := ParseIndex(nil, tail, info.Size)
		if err != nil {
			t.Fatalf("ParseIndex(%d tail bytes): %v", len(tail), err)
		}
		if len(got) != len(info.Entries) {
			t.Fatalf("ParseIndex returned %d entries; want %d", len(got), len(info.Entries))
		}
		for i := range got {
			if got[i] != info.Entries[i] {
				t.Errorf("entry %d = %+v; want %+v", i, got[i], info.Entries[i])
			}
		}
	}
	if _, err := ParseIndex(nil, raw[next+1:], info.Size); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ParseIndex of too short a tail: %v; want ErrCorrupt", err)
	}
}

// TestReadIndexLargeFooter needs a second read: the footer is bigger than
// the read-ahead.
func TestReadIndexLargeFooter(t *testing.T) {
	l, _ := newTestLocal(t)
	var chunks [][]byte
	for i := range 3000 {
		chunks = append(chunks, binary.LittleEndian.AppendUint32(nil, uint32(i)))
	}
	info := writePack(t, l, chunks)
	got, err := ReadIndex(context.Background(), l, nil, info.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(chunks) || got[2999] != info.Entries[2999] {
		t.Errorf("ReadIndex returned %d entries; want %d matching Finish", len(got), len(chunks))
	}
}

func TestPackWriterEmpty(t *testing.T) {
	l, _ := newTestLocal(t)
	info := writePack(t, l, nil)
	got, err := ReadIndex(context.Background(), l, nil, info.Name)
	if err != nil || len(got) != 0 || info.Size != 8+16 {
		t.Errorf("empty pack: ReadIndex = %v, %v; size %d", got, err, info.Size)
	}
}

func TestPackWriterLifecycle(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	w, err := NewPackWriter(ctx, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w.Len() != 8 || w.Count() != 0 {
		t.Errorf("new writer: Len %d Count %d; want 8, 0", w.Len(), w.Count())
	}
	c := []byte("chunk")
	blob := Encode(nil, c)
	if _, err := w.Add(Sum(c), len(c), nil); err == nil {
		t.Error("Add of an empty blob succeeded")
	}
	if _, err := w.Add(Sum(c), -1, blob); err == nil {
		t.Error("Add with negative size succeeded")
	}
	e, err := w.Add(Sum(c), len(c), blob)
	if err != nil || e.Offset != 8 || e.Length != int64(len(blob)) || e.Size != int64(len(c)) {
		t.Errorf("Add = %+v, %v", e, err)
	}
	if w.Len() != 8+int64(len(blob)) || w.Count() != 1 {
		t.Errorf("Len %d Count %d after one Add", w.Len(), w.Count())
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add(Sum(c), len(c), blob); err == nil {
		t.Error("Add after Abort succeeded")
	}
	if _, err := w.Finish(ctx); err == nil {
		t.Error("Finish after Abort succeeded")
	}
	l.List(ctx, func(name string, _ int64) error {
		t.Errorf("aborted pack %s listed", name)
		return nil
	})

	info := writePack(t, l, [][]byte{c})
	if _, err := ReadIndex(ctx, l, nil, info.Name); err != nil {
		t.Errorf("ReadIndex: %v", err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestReadChunkDetectsFlippedByte(t *testing.T) {
	ctx := context.Background()
	l, dir := newTestLocal(t)
	chunks := testChunks(6)
	info := writePack(t, l, chunks)
	path := filepath.Join(dir, info.Name[:2], info.Name+".pack")
	for k, e := range info.Entries {
		flipByte(t, path, e.Offset+e.Length-1) // last byte: payload, never a header bit
		_, err := ReadChunk(ctx, l, nil, info.Name, e, nil)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("chunk %d: %v; want ErrCorrupt", k, err)
		}
		want := "read chunk " + e.ID.String() + " in pack " + info.Name + ": "
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
		flipByte(t, path, e.Offset+e.Length-1)
		got, err := ReadChunk(ctx, l, nil, info.Name, e, nil)
		if err != nil || !bytes.Equal(got, chunks[k]) {
			t.Fatalf("chunk %d after repair: %v", k, err)
		}
	}
}

func TestReadChunkBadEntry(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	info := writePack(t, l, testChunks(2))
	e := info.Entries[1]
	for _, bad := range []Entry{
		{ID: e.ID, Offset: info.Size, Length: e.Length, Size: e.Size},
		{ID: e.ID, Offset: info.Size - 2, Length: e.Length, Size: e.Size},
		{ID: e.ID, Offset: 0, Length: e.Length, Size: e.Size},
		{ID: e.ID, Offset: e.Offset, Length: 0, Size: e.Size},
		{ID: e.ID, Offset: e.Offset, Length: e.Length, Size: -1},
		{ID: e.ID, Offset: e.Offset, Length: e.Length, Size: 1 << 50},
		{ID: e.ID, Offset: e.Offset - 1, Length: e.Length, Size: e.Size},
		{ID: e.ID, Offset: e.Offset, Length: 1 << 40, Size: e.Size}, // refused before allocating
		{ID: e.ID, Offset: e.Offset, Length: e.Length, Size: e.Size, PlainOffset: MaxBlobPlain},
	} {
		dst := []byte("keep")
		got, err := ReadChunk(ctx, l, nil, info.Name, bad, dst)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), info.Name) {
			t.Errorf("ReadChunk(%+v): %v; want ErrCorrupt naming the pack", bad, err)
		}
		if string(got) != "keep" {
			t.Errorf("ReadChunk changed dst on error: %q", got)
		}
	}
	missing := Sum([]byte("no such pack")).String()
	if _, err := ReadChunk(ctx, l, nil, missing, e, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadChunk in missing pack: %v; want ErrNotFound", err)
	}
}

func TestReadIndexTruncated(t *testing.T) {
	ctx := context.Background()
	l, dir := newTestLocal(t)
	info := writePack(t, l, testChunks(5))
	path := filepath.Join(dir, info.Name[:2], info.Name+".pack")
	for _, size := range []int64{info.Size - 1, info.Size - 16, info.Size - 17, 30, 23, 8, 0} {
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		_, err := ReadIndex(ctx, l, nil, info.Name)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), info.Name) {
			t.Errorf("truncated to %d: %v; want ErrCorrupt naming the pack", size, err)
		}
	}
	if _, err := ReadIndex(ctx, l, nil, Sum(nil).String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadIndex of missing pack: %v; want ErrNotFound", err)
	}
}

// footerOf builds a footer and trailer in the first format (one chunk per
// blob, "CAIRNIDX"); count overrides the entry count when not negative.
func footerOf(entries []Entry, count int, extra []byte) []byte {
	return buildFooter(entries, count, extra, false)
}

// footerV2Of builds a footer whose entries carry plaintext offsets.
func footerV2Of(entries []Entry, count int, extra []byte) []byte {
	return buildFooter(entries, count, extra, true)
}

func buildFooter(entries []Entry, count int, extra []byte, v2 bool) []byte {
	var b []byte
	for _, e := range entries {
		b = append(b, e.ID[:]...)
		b = binary.AppendUvarint(b, uint64(e.Offset))
		b = binary.AppendUvarint(b, uint64(e.Length))
		b = binary.AppendUvarint(b, uint64(e.Size))
		if v2 {
			b = binary.AppendUvarint(b, uint64(e.PlainOffset))
		}
	}
	b = append(b, extra...)
	if count < 0 {
		count = len(entries)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(b)))
	b = binary.LittleEndian.AppendUint32(b, uint32(count))
	if v2 {
		return append(b, "CAIRNID2"...)
	}
	return append(b, "CAIRNIDX"...)
}

func TestParseIndexRejects(t *testing.T) {
	a, b := Entry{ID: Sum([]byte("a")), Offset: 8, Length: 10, Size: 9}, Entry{ID: Sum([]byte("b")), Offset: 18, Length: 5, Size: 100}
	good := footerOf([]Entry{a, b}, -1, nil)
	size := 23 + int64(len(good))
	if got, err := ParseIndex(nil, good, size); err != nil || len(got) != 2 || got[1] != b {
		t.Fatalf("valid footer: %v, %v", got, err)
	}
	with := func(f func(*Entry)) []Entry {
		c := b
		f(&c)
		return []Entry{a, c}
	}
	// A first entry with an overlong (but valid) offset varint leaves too
	// few bytes for the second entry's ID.
	long := append(a.ID[:], 0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 10, 9)
	truncated := footerOf(nil, 2, append(long, make([]byte, 70-len(long))...))
	badMagic := bytes.Clone(good)
	badMagic[len(badMagic)-1] = 'Y'
	bigFooter := bytes.Clone(good)
	binary.LittleEndian.PutUint32(bigFooter[len(bigFooter)-16:], 1<<31)
	cases := []struct {
		name string
		tail []byte
		size int64
	}{
		{"bad magic", badMagic, size},
		{"pack too small", good, 23},
		{"tail longer than pack", good, int64(len(good)) - 1},
		{"short tail", good[len(good)-15:], size},
		{"footer longer than pack", bigFooter, size},
		{"too many entries", footerOf([]Entry{a, b}, 1000, nil), size},
		{"too few entries", footerOf([]Entry{a, b}, 1, nil), size},
		{"stray bytes", footerOf([]Entry{a, b}, -1, []byte{0}), size + 1},
		{"overlap", footerOf(with(func(e *Entry) { e.Offset = 17 }), -1, nil), size},
		{"out of order", footerOf([]Entry{b, a}, -1, nil), size},
		{"inside magic", footerOf([]Entry{{Offset: 7, Length: 1}}, -1, nil), size},
		{"past blob area", footerOf(with(func(e *Entry) { e.Length = 6 }), -1, nil), size},
		{"empty blob", footerOf(with(func(e *Entry) { e.Length = 0 }), -1, nil), size},
		{"huge offset", footerOf(with(func(e *Entry) { e.Offset = 1<<63 - 1 }), -1, nil), size + 8},
		{"impossible size", footerOf(with(func(e *Entry) { e.Size = 4*maxZstdRatio + 1 }), -1, nil), size + 2},
		{"truncated entry", truncated, 18 + int64(len(truncated))},
		{"bad varint", footerOf(nil, 1, append(make([]byte, 32), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)), size},
	}
	for _, c := range cases {
		if _, err := ParseIndex(nil, c.tail, c.size); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v; want ErrCorrupt", c.name, err)
		}
	}

	// Chunks sharing a blob: in order inside its plaintext, never
	// overlapping, all within what the blob could hold.
	c := Entry{ID: Sum([]byte("c")), Offset: 8, Length: 10, Size: 5, PlainOffset: 9}
	shared := footerV2Of([]Entry{a, c}, -1, nil)
	if got, err := ParseIndex(nil, shared, 18+int64(len(shared))); err != nil || len(got) != 2 || got[1] != c {
		t.Fatalf("valid shared blob: %v, %v", got, err)
	}
	for name, second := range map[string]Entry{
		"overlapping chunks": {ID: c.ID, Offset: 8, Length: 10, Size: 5, PlainOffset: 8},
		"chunk before":       {ID: c.ID, Offset: 8, Length: 10, Size: 1, PlainOffset: 0},
		"beyond the blob":    {ID: c.ID, Offset: 8, Length: 10, Size: 5, PlainOffset: 9 * maxZstdRatio},
		"other length":       {ID: c.ID, Offset: 8, Length: 9, Size: 5, PlainOffset: 9},
	} {
		tail := footerV2Of([]Entry{a, second}, -1, nil)
		if _, err := ParseIndex(nil, tail, 18+int64(len(tail))); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v; want ErrCorrupt", name, err)
		}
	}
}

// TestBlobOfSeveralChunks stores three chunks compressed as one blob and
// reads each back, with and without a Reader, and from the pack's index.
func TestBlobOfSeveralChunks(t *testing.T) {
	ctx := context.Background()
	l, dir := newTestLocal(t)
	chunks := [][]byte{compressible(5000), randBytes(7, 3000), compressible(9000)}
	var plain []byte
	var parts []Part
	for _, c := range chunks {
		parts = append(parts, Part{ID: Sum(c), PlainOffset: int64(len(plain)), Size: int64(len(c))})
		plain = append(plain, c...)
	}
	single := compressible(700)
	w, err := NewPackWriter(ctx, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.AddBlob(parts, Encode(nil, plain)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add(Sum(single), len(single), Encode(nil, single)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddBlob([]Part{{ID: Sum(single), Size: 10}, {ID: Sum(single), PlainOffset: 5, Size: 10}}, []byte{0, 1}); err == nil {
		t.Error("AddBlob took overlapping parts")
	}
	if _, err := w.AddBlob([]Part{{ID: Sum(single), Size: MaxBlobPlain + 1}}, []byte{1, 0}); err == nil {
		t.Error("AddBlob took more than a blob may hold (readers would refuse it)")
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ReadIndex(ctx, l, nil, info.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 || entries[1].Offset != entries[0].Offset || entries[1].PlainOffset != 5000 || entries[3].PlainOffset != 0 {
		t.Fatalf("index = %+v", entries)
	}
	r := NewReader(l, nil)
	want := append(chunks, single)
	for round := range 2 { // the second round reads from the Reader's cache
		for i, e := range entries {
			got, err := ReadChunk(ctx, l, nil, info.Name, e, []byte("x"))
			if err != nil || !bytes.Equal(got[1:], want[i]) || got[0] != 'x' {
				t.Fatalf("ReadChunk %d: %v", i, err)
			}
			got, err = r.ReadChunk(ctx, info.Name, e, nil)
			if err != nil || !bytes.Equal(got, want[i]) {
				t.Fatalf("round %d: Reader.ReadChunk %d: %v", round, i, err)
			}
		}
	}
	// A wrong plaintext offset fails the hash check, from the cache too.
	bad := entries[1]
	bad.PlainOffset++
	if _, err := r.ReadChunk(ctx, info.Name, bad, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("cached read at a wrong offset: %v; want ErrCorrupt", err)
	}
	if _, err := ReadChunk(ctx, l, nil, info.Name, bad, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("read at a wrong offset: %v; want ErrCorrupt", err)
	}
	// Damage inside the shared blob is caught for every chunk it holds.
	flipByte(t, filepath.Join(dir, info.Name[:2], info.Name+".pack"), entries[0].Offset+entries[0].Length-1)
	fresh := NewReader(l, nil)
	for i, e := range entries[:3] {
		if _, err := fresh.ReadChunk(ctx, info.Name, e, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("chunk %d of the damaged blob: %v; want ErrCorrupt", i, err)
		}
	}
}

// TestReadIndexFirstFormat reads a pack written before blobs could hold
// several chunks (footer without plaintext offsets, "CAIRNIDX").
func TestReadIndexFirstFormat(t *testing.T) {
	ctx := context.Background()
	l, dir := newTestLocal(t)
	chunk := compressible(3000)
	blob := Encode(nil, chunk)
	e := Entry{ID: Sum(chunk), Offset: 8, Length: int64(len(blob)), Size: int64(len(chunk))}
	raw := append([]byte("CAIRNPK1"), blob...)
	raw = append(raw, footerOf([]Entry{e}, -1, nil)...)
	name := Sum(raw).String()
	if err := os.MkdirAll(filepath.Join(dir, name[:2]), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name[:2], name+".pack"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadIndex(ctx, l, nil, name)
	if err != nil || len(entries) != 1 || entries[0] != e {
		t.Fatalf("ReadIndex = %+v, %v; want [%+v]", entries, err, e)
	}
	got, err := NewReader(l, nil).ReadChunk(ctx, name, e, nil)
	if err != nil || !bytes.Equal(got, chunk) {
		t.Fatalf("ReadChunk: %v", err)
	}
}

func FuzzParseIndex(f *testing.F) {
	a, b := Entry{ID: Sum([]byte("a")), Offset: 8, Length: 10, Size: 9}, Entry{ID: Sum([]byte("b")), Offset: 18, Length: 5, Size: 100}
	good := footerOf([]Entry{a, b}, -1, nil)
	f.Add(good, 23+int64(len(good)))
	f.Add(append(make([]byte, 23), good...), 23+int64(len(good)))
	f.Add(footerOf(nil, -1, nil), int64(24))
	f.Add([]byte{}, int64(0))
	f.Add([]byte("CAIRNIDX"), int64(-1))
	c := Entry{ID: Sum([]byte("c")), Offset: 8, Length: 10, Size: 5, PlainOffset: 9}
	shared := footerV2Of([]Entry{a, c, b}, -1, nil)
	f.Add(shared, 23+int64(len(shared)))
	f.Fuzz(func(t *testing.T, tail []byte, packSize int64) {
		for _, size := range []int64{packSize, int64(len(tail))} {
			entries, err := ParseIndex(nil, tail, size)
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
				if shared && e.PlainOffset < prev.PlainOffset+prev.Size {
					t.Fatalf("entry %d %+v overlaps %+v in their blob", i, e, prev)
				}
				if !shared && e.Offset < next || e.Length < 1 || e.Offset+e.Length > size-16 || e.Offset+e.Length < e.Offset {
					t.Fatalf("entry %d %+v out of bounds in pack of %d bytes", i, e, size)
				}
				if e.Size < 0 || e.PlainOffset < 0 || !plausibleSize(e.Length, e.PlainOffset+e.Size) {
					t.Fatalf("entry %d %+v has an impossible size", i, e)
				}
				next, prev = e.Offset+e.Length, e
			}
		}
	})
}

// Restore's workers share one Reader: concurrent reads of chunks that
// share blobs must each get their own bytes (run with -race).
func TestReaderConcurrent(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	w, err := NewPackWriter(ctx, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	var want [][]byte
	for b := range 12 { // more blobs than the Reader keeps
		var plain []byte
		var parts []Part
		for c := range 5 {
			chunk := compressible(1000 + 97*(b*5+c))
			chunk[0] = byte(b*5 + c)
			parts = append(parts, Part{ID: Sum(chunk), PlainOffset: int64(len(plain)), Size: int64(len(chunk))})
			plain = append(plain, chunk...)
			want = append(want, chunk)
		}
		if _, err := w.AddBlob(parts, Encode(nil, plain)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(l, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for round := range 3 {
				for i := range info.Entries {
					k := (i*7 + g + round) % len(info.Entries)
					got, err := r.ReadChunk(ctx, info.Name, info.Entries[k], buf[:0])
					if err != nil || !bytes.Equal(got, want[k]) {
						t.Errorf("goroutine %d: chunk %d: %v", g, k, err)
						return
					}
					buf = got
				}
			}
		}()
	}
	wg.Wait()
}
