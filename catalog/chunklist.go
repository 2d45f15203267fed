package catalog

import (
	"encoding/binary"
	"errors"
)

// A content's chunk list is stored as one BLOB of zigzag varint deltas
// between consecutive chunk ids: one row per content instead of one row per
// chunk (a 200 MiB database in 4 KiB pages has 51,200 chunks), and chunks
// written together have consecutive ids, so most deltas take one byte.

// EncodeChunkList encodes ids.
func EncodeChunkList(ids []int64) []byte {
	out := make([]byte, 0, len(ids)+8)
	var prev int64
	for _, id := range ids {
		out = binary.AppendVarint(out, id-prev)
		prev = id
	}
	return out
}

var errBadChunkList = errors.New("catalog: malformed chunk list")

// DecodeChunkList decodes a list written by EncodeChunkList.
func DecodeChunkList(b []byte) ([]int64, error) {
	var ids []int64
	var prev int64
	for len(b) > 0 {
		d, n := binary.Varint(b)
		if n <= 0 {
			return nil, errBadChunkList
		}
		prev += d
		if prev <= 0 {
			return nil, errBadChunkList
		}
		ids = append(ids, prev)
		b = b[n:]
	}
	return ids, nil
}
