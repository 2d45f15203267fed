package blobstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
	w, err := NewPackWriter(ctx, s)
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
	if string(raw[:8]) != "CAIRNPK1" || string(raw[len(raw)-8:]) != "CAIRNIDX" {
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
		got, err := ParseIndex(tail, info.Size)
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
	if _, err := ParseIndex(raw[next+1:], info.Size); !errors.Is(err, ErrCorrupt) {
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
	got, err := ReadIndex(context.Background(), l, info.Name)
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
	got, err := ReadIndex(context.Background(), l, info.Name)
	if err != nil || len(got) != 0 || info.Size != 8+16 {
		t.Errorf("empty pack: ReadIndex = %v, %v; size %d", got, err, info.Size)
	}
}

func TestPackWriterLifecycle(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	w, err := NewPackWriter(ctx, l)
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
	if _, err := ReadIndex(ctx, l, info.Name); err != nil {
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
		_, err := ReadChunk(ctx, l, info.Name, e, nil)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("chunk %d: %v; want ErrCorrupt", k, err)
		}
		want := "read chunk " + e.ID.String() + " in pack " + info.Name + ": "
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
		flipByte(t, path, e.Offset+e.Length-1)
		got, err := ReadChunk(ctx, l, info.Name, e, nil)
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
	} {
		dst := []byte("keep")
		got, err := ReadChunk(ctx, l, info.Name, bad, dst)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), info.Name) {
			t.Errorf("ReadChunk(%+v): %v; want ErrCorrupt naming the pack", bad, err)
		}
		if string(got) != "keep" {
			t.Errorf("ReadChunk changed dst on error: %q", got)
		}
	}
	missing := Sum([]byte("no such pack")).String()
	if _, err := ReadChunk(ctx, l, missing, e, nil); !errors.Is(err, ErrNotFound) {
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
		_, err := ReadIndex(ctx, l, info.Name)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), info.Name) {
			t.Errorf("truncated to %d: %v; want ErrCorrupt naming the pack", size, err)
		}
	}
	if _, err := ReadIndex(ctx, l, Sum(nil).String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadIndex of missing pack: %v; want ErrNotFound", err)
	}
}

// footerOf builds a footer and trailer; count overrides the entry count
// when not negative.
func footerOf(entries []Entry, count int, extra []byte) []byte {
	var b []byte
	for _, e := range entries {
		b = append(b, e.ID[:]...)
		b = binary.AppendUvarint(b, uint64(e.Offset))
		b = binary.AppendUvarint(b, uint64(e.Length))
		b = binary.AppendUvarint(b, uint64(e.Size))
	}
	b = append(b, extra...)
	if count < 0 {
		count = len(entries)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(b)))
	b = binary.LittleEndian.AppendUint32(b, uint32(count))
	return append(b, "CAIRNIDX"...)
}

func TestParseIndexRejects(t *testing.T) {
	a, b := Entry{ID: Sum([]byte("a")), Offset: 8, Length: 10, Size: 9}, Entry{ID: Sum([]byte("b")), Offset: 18, Length: 5, Size: 100}
	good := footerOf([]Entry{a, b}, -1, nil)
	size := 23 + int64(len(good))
	if got, err := ParseIndex(good, size); err != nil || len(got) != 2 || got[1] != b {
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
		if _, err := ParseIndex(c.tail, c.size); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v; want ErrCorrupt", c.name, err)
		}
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
	f.Fuzz(func(t *testing.T, tail []byte, packSize int64) {
		for _, size := range []int64{packSize, int64(len(tail))} {
			entries, err := ParseIndex(tail, size)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
				continue
			}
			next := int64(8)
			for i, e := range entries {
				if e.Offset < next || e.Length < 1 || e.Offset+e.Length > size-16 || e.Offset+e.Length < e.Offset {
					t.Fatalf("entry %d %+v out of bounds in pack of %d bytes", i, e, size)
				}
				if e.Size < 0 || !plausibleSize(e.Length, e.Size) {
					t.Fatalf("entry %d %+v has an impossible size", i, e)
				}
				next = e.Offset + e.Length
			}
		}
	})
}
