package keys

import (
	"bytes"
	"errors"
	"testing"

	"github.com/zeebo/blake3"
)

func TestSealOpen(t *testing.T) {
	m, err := NewMaster()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Derive(m)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("jobs.json holds the cron table")
	sealed := s.Seal(nil, plain, []byte("log/w/1"))
	if len(sealed) != len(plain)+Overhead {
		t.Fatalf("sealed %d bytes, want %d", len(sealed), len(plain)+Overhead)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed bytes contain the plaintext")
	}
	got, err := s.Open(nil, sealed, []byte("log/w/1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(nil, sealed, []byte("log/w/2")); !errors.Is(err, ErrAuth) {
		t.Fatalf("Open under another name: %v, want ErrAuth", err)
	}
	sealed[len(sealed)/2] ^= 1
	if _, err := s.Open(nil, sealed, []byte("log/w/1")); !errors.Is(err, ErrAuth) {
		t.Fatalf("Open of damaged bytes: %v, want ErrAuth", err)
	}
	other, _ := NewMaster()
	o, _ := Derive(other)
	if o.ChunkID(plain) == s.ChunkID(plain) || o.GearSeed() == s.GearSeed() {
		t.Fatal("two master keys derived the same chunk id or gear seed")
	}
	if s.ChunkID(plain) == blake3.Sum256(plain) {
		t.Fatal("keyed chunk id equals the unkeyed BLAKE3")
	}
	same, _ := Derive(m)
	if same.ChunkID(plain) != s.ChunkID(plain) {
		t.Fatal("one master key derived two chunk ids")
	}
}
