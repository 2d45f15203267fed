// Package keys holds a repository's key hierarchy: a random master key and
// the keys derived from it with HKDF-SHA256, one per purpose, so that no
// key ever serves two: sealing (XChaCha20-Poly1305 for blobs, pack
// footers, log records and checkpoints), chunk ids (keyed BLAKE3, so that
// ids in the store do not confirm a known file's presence) and the
// chunker's gear table (so that chunk boundaries do not either).
package keys

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/chacha20poly1305"
)

// MasterSize is the length of a master key.
const MasterSize = 64

// Master is a repository's master key. It never leaves the process except
// wrapped in a key file, or in REPO/local/ for a repository without a
// password.
type Master [MasterSize]byte

// NewMaster draws a random master key.
func NewMaster() (Master, error) {
	var m Master
	if _, err := rand.Read(m[:]); err != nil {
		return m, fmt.Errorf("make master key: %w", err)
	}
	return m, nil
}

// ErrAuth reports sealed bytes that fail authentication: damaged, sealed
// under another key, or moved to another name (associated data differ).
var ErrAuth = errors.New("keys: authentication failed (damaged data, or the wrong key)")

// Overhead is what Seal adds to a plaintext: a random 24-byte nonce in
// front and a 16-byte tag behind.
const Overhead = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// Set is the keys derived from one master key. It is safe for concurrent
// use.
type Set struct {
	aead  cipher.AEAD
	idKey [32]byte
	gear  [32]byte
}

// HKDF "info" labels: one per derived key. Changing one changes every
// repository's keys, so they are part of the format.
const (
	infoSeal = "cairn v2 seal"
	infoID   = "cairn v2 chunk id"
	infoGear = "cairn v2 gear"
)

// Derive computes the key set of m.
func Derive(m Master) (*Set, error) {
	derive := func(info string) ([32]byte, error) {
		var k [32]byte
		b, err := hkdf.Key(sha256.New, m[:], nil, info, 32)
		if err != nil {
			return k, fmt.Errorf("derive %s key: %w", info, err)
		}
		copy(k[:], b)
		return k, nil
	}
	sealKey, err := derive(infoSeal)
	if err != nil {
		return nil, err
	}
	s := &Set{}
	if s.idKey, err = derive(infoID); err != nil {
		return nil, err
	}
	if s.gear, err = derive(infoGear); err != nil {
		return nil, err
	}
	if s.aead, err = chacha20poly1305.NewX(sealKey[:]); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return s, nil
}

// Seal appends to dst the sealed form of plain: a random nonce, then the
// ciphertext and tag. ad (associated data: the repository id and the name
// the bytes are stored under) is authenticated but not stored, so sealed
// bytes moved to another name fail Open.
func (s *Set) Seal(dst, plain, ad []byte) []byte {
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic("keys: crypto/rand failed: " + err.Error()) // never fails on Linux (getrandom)
	}
	dst = append(dst, nonce[:]...)
	return s.aead.Seal(dst, nonce[:], plain, ad)
}

// Open appends to dst the plaintext of sealed, or fails with ErrAuth.
func (s *Set) Open(dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, ErrAuth
	}
	n := chacha20poly1305.NonceSizeX
	out, err := s.aead.Open(dst, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// NewIDHasher returns a keyed BLAKE3 hasher for chunk ids. Callers that
// hash many chunks keep one per goroutine and Reset it per chunk: creating
// a keyed hasher costs more than hashing a small chunk.
func (s *Set) NewIDHasher() *blake3.Hasher {
	h, err := blake3.NewKeyed(s.idKey[:])
	if err != nil {
		panic("keys: keyed BLAKE3 with a 32-byte key: " + err.Error()) // cannot happen
	}
	return h
}

// ChunkID is the keyed BLAKE3-256 of data.
func (s *Set) ChunkID(data []byte) [32]byte {
	h := s.NewIDHasher()
	h.Write(data)
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// GearSeed seeds the chunker's gear table.
func (s *Set) GearSeed() [32]byte { return s.gear }
