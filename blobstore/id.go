package blobstore

import (
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// ID names a chunk: the BLAKE3-256 of its plaintext.
type ID [32]byte

// Sum returns the ID of data.
func Sum(data []byte) ID {
	return blake3.Sum256(data)
}

// String returns the canonical form of id: 64 lowercase hex characters.
func (id ID) String() string {
	return hex.EncodeToString(id[:])
}

// ParseID parses the canonical form produced by ID.String. Uppercase hex is
// refused so that every ID has exactly one spelling, the same rule ValidName
// applies to pack names.
func ParseID(s string) (ID, error) {
	var id ID
	if !isLowerHex(s, 2*len(id)) {
		return ID{}, fmt.Errorf("parse chunk id %q: want %d lowercase hex characters", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("parse chunk id %q: %w", s, err)
	}
	return id, nil
}

// ValidName reports whether name is a pack name: exactly 64 lowercase hex
// characters. Store implementations refuse anything else, which keeps names
// from ever reaching a path or object key with separators or dots in them.
func ValidName(name string) bool {
	return isLowerHex(name, 64)
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
