package chunker

import (
	"bytes"
	"fmt"
	"testing"
)

func testSeed(b byte) (s [32]byte) {
	for i := range s {
		s[i] = b ^ byte(i*7)
	}
	return s
}

// A keyed table must cut like the public one: every chunk within
// [Min, Max] and the mean within 25% of Avg (as TestBounds holds for the
// public table), and within 10% of the public table's mean on the same
// data, for several seeds.
func TestKeyedTableStatistics(t *testing.T) {
	data := randBytes(2, 32<<20)
	for _, p := range []Params{Default, small} {
		public := float64(len(data)) / float64(len(split(t, New(bytes.NewReader(data), p, nil))))
		for _, seed := range []byte{1, 2, 3} {
			l := lengths(split(t, NewWithTable(bytes.NewReader(data), p, KeyedTable(testSeed(seed)), nil)))
			for i, n := range l[:len(l)-1] {
				if n < p.Min || n > p.Max {
					t.Fatalf("%v seed %d: chunk %d has %d bytes", p, seed, i, n)
				}
			}
			mean := float64(len(data)) / float64(len(l))
			t.Logf("%v seed %d: %d chunks, mean %.0f bytes (%.2f avg; public table %.0f)", p, seed, len(l), mean, mean/float64(p.Avg), public)
			if mean < 0.75*float64(p.Avg) || mean > 1.25*float64(p.Avg) {
				t.Errorf("%v seed %d: mean chunk %.0f bytes, not within 25%% of avg", p, seed, mean)
			}
			if mean < 0.9*public || mean > 1.1*public {
				t.Errorf("%v seed %d: mean chunk %.0f bytes, public table %.0f", p, seed, mean, public)
			}
		}
	}
}

// Keyed tables move the boundaries (that is their point) and still resist
// shifts: an insertion changes only the chunks around it.
func TestKeyedTableBoundaries(t *testing.T) {
	a := randBytes(3, 4<<20)
	mid := len(a) / 2
	b := append(append(append([]byte(nil), a[:mid]...), randBytes(4, 100)...), a[mid:]...)
	k1, k2 := KeyedTable(testSeed(1)), KeyedTable(testSeed(2))
	if *k1 != *KeyedTable(testSeed(1)) || *k1 == *k2 || *k1 == *public {
		t.Fatal("KeyedTable is not a function of its seed alone")
	}
	p := small
	cuts := func(tb *Table, data []byte) map[int]bool {
		m := map[int]bool{}
		off := 0
		for _, n := range lengths(split(t, NewWithTable(bytes.NewReader(data), p, tb, nil))) {
			off += n
			m[off] = true
		}
		return m
	}
	pub, key := cuts(nil, a), cuts(k1, a)
	same := 0
	for off := range key {
		if pub[off] {
			same++
		}
	}
	if same > len(key)/10 {
		t.Errorf("%d of %d boundaries of the keyed table are the public table's", same, len(key))
	}
	seen := map[string]bool{}
	for _, c := range split(t, NewWithTable(bytes.NewReader(a), p, k1, nil)) {
		seen[string(c)] = true
	}
	chunksB := split(t, NewWithTable(bytes.NewReader(b), p, k1, nil))
	fresh := 0
	for _, c := range chunksB {
		if !seen[string(c)] {
			fresh++
		}
	}
	if fresh > 3 {
		t.Errorf("an insertion of 100 bytes changed %d of %d chunks", fresh, len(chunksB))
	}
}

// TestKeyedTablePinned: the table is part of format 2; changing how it is
// derived moves every boundary of every encrypted repository.
func TestKeyedTablePinned(t *testing.T) {
	k := KeyedTable(testSeed(1))
	got := fmt.Sprintf("%#x %#x %#x", k.t[0], k.t[1], k.t[255])
	const want = "0x9e7a785d3ea28e7c 0xf5ea48a5d5f800b6 0x36f7071f9eeaa771"
	if got != want {
		t.Errorf("KeyedTable(testSeed(1)) = %s; want %s", got, want)
	}
}
