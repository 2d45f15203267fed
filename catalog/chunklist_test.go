package catalog

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"testing"
)

func TestChunkListRoundTrip(t *testing.T) {
	many := make([]int64, 51200)
	for i := range many {
		many[i] = int64(1000 + i)
	}
	for name, ids := range map[string][]int64{
		"empty":       {},
		"one":         {1},
		"one-large":   {math.MaxInt64},
		"consecutive": {5, 6, 7, 8, 9},
		"descending":  {9, 7, 3, 1},
		"repeated":    {4, 4, 4},
		"mixed":       {100, 3, 1 << 40, 2, math.MaxInt64, 1, math.MaxInt64 - 1},
		"large":       {1 << 32, 1<<32 + 1, 1 << 62, math.MaxInt64},
		"many":        many,
	} {
		t.Run(name, func(t *testing.T) {
			b := EncodeChunkList(ids)
			got, err := DecodeChunkList(b)
			if err != nil {
				t.Fatalf("DecodeChunkList(EncodeChunkList(%v)): %v", ids, err)
			}
			if len(ids) == 0 {
				if len(b) != 0 || len(got) != 0 {
					t.Fatalf("empty list encoded as %x, decoded as %v", b, got)
				}
				return
			}
			if !slices.Equal(got, ids) {
				t.Fatalf("round trip of %d ids differs", len(ids))
			}
		})
	}
	// Consecutive ids take one byte each: that is the point of the format.
	if b := EncodeChunkList(many); len(b) > len(many)+2 {
		t.Errorf("%d consecutive ids took %d bytes", len(many), len(b))
	}
}

func TestDecodeChunkListMalformed(t *testing.T) {
	varint := func(vs ...int64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.AppendVarint(b, v)
		}
		return b
	}
	for name, b := range map[string][]byte{
		"truncated":         {0x80},
		"truncated-later":   append(varint(5), 0xff, 0xff),
		"overflow":          bytes.Repeat([]byte{0xff}, 11),
		"overflow-10th":     append(bytes.Repeat([]byte{0xff}, 9), 0x7f),
		"zero-id":           varint(0),
		"negative-id":       varint(-3),
		"goes-to-zero":      varint(5, -5),
		"goes-negative":     varint(5, -6),
		"wraps-past-maxint": varint(math.MaxInt64, 1),
	} {
		t.Run(name, func(t *testing.T) {
			ids, err := DecodeChunkList(b)
			if err == nil {
				t.Fatalf("DecodeChunkList(%x) = %v, want an error", b, ids)
			}
			if ids != nil {
				t.Errorf("DecodeChunkList(%x) returned ids %v with its error", b, ids)
			}
		})
	}
}

// FuzzDecodeChunkList: decoding never panics, every decoded id is
// positive, and what decodes re-encodes to the same list (and, when the
// input used minimal varints as EncodeChunkList writes them, to the same
// bytes).
func FuzzDecodeChunkList(f *testing.F) {
	f.Add([]byte{})
	f.Add(EncodeChunkList([]int64{1}))
	f.Add(EncodeChunkList([]int64{1, 2, 3, 4}))
	f.Add(EncodeChunkList([]int64{9, 7, 3, 1}))
	f.Add(EncodeChunkList([]int64{math.MaxInt64, 1}))
	f.Add([]byte{0x80})
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := DecodeChunkList(b)
		if err != nil {
			return
		}
		for _, id := range ids {
			if id <= 0 {
				t.Fatalf("DecodeChunkList(%x) returned id %d", b, id)
			}
		}
		again := EncodeChunkList(ids)
		back, err := DecodeChunkList(again)
		if err != nil || !slices.Equal(back, ids) {
			t.Fatalf("re-encoding %v: %x decodes to %v, %v", ids, again, back, err)
		}
		if minimalVarints(b) && !bytes.Equal(again, b) {
			t.Fatalf("DecodeChunkList(%x) = %v re-encodes as %x", b, ids, again)
		}
	})
}

// minimalVarints reports whether b is a sequence of varints none of which
// has a redundant trailing zero byte (binary.Varint accepts those).
func minimalVarints(b []byte) bool {
	for len(b) > 0 {
		_, n := binary.Varint(b)
		if n <= 0 {
			return false
		}
		if n > 1 && b[n-1] == 0 {
			return false
		}
		b = b[n:]
	}
	return true
}
