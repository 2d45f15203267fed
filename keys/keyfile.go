package keys

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// A key file wraps the master key under a key-encryption key (KEK) made
// from one password (argon2id) or one raw key file (HKDF): a repository
// may have several, and any one of them opens it. It is a small JSON
// object stored as keys/<id>.key; only the wrapped master key is secret,
// and it is sealed (XChaCha20-Poly1305) under the KEK with the file's own
// name as associated data, so a key file renamed or copied to another id
// does not open.

// FileVersion is the version of the key file format this package writes.
const FileVersion = 1

// KDF names how a key file turns its secret into the KEK.
type KDF string

const (
	// KDFArgon2id derives the KEK from a password with argon2id.
	KDFArgon2id KDF = "argon2id"
	// KDFKeyFile derives the KEK from the bytes of a raw key file with
	// HKDF-SHA256: the file is random already, so stretching it buys
	// nothing.
	KDFKeyFile KDF = "keyfile"
)

// Argon2Params are argon2id's cost parameters, recorded in each key file
// so that a later cairn can raise the defaults without breaking old files.
type Argon2Params struct {
	Time      uint32 `json:"t"` // passes
	MemoryKiB uint32 `json:"m"` // KiB of memory
	Threads   uint8  `json:"p"` // lanes
}

// DefaultArgon2 returns the parameters new password key files get: t=3,
// m=64 MiB, p=4 (RFC 9106's second recommended option). A function, not
// a variable, so that nothing can lower them for every caller.
func DefaultArgon2() Argon2Params { return Argon2Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4} }

func (p Argon2Params) String() string {
	return fmt.Sprintf("t=%d m=%d KiB p=%d", p.Time, p.MemoryKiB, p.Threads)
}

// valid bounds what a key file read from the store may ask for: a hostile
// or damaged file must not make an unlock allocate gigabytes or run for
// hours.
func (p Argon2Params) valid() error {
	switch {
	case p.Time < 1 || p.Time > 64:
		return fmt.Errorf("argon2id time %d out of range 1..64", p.Time)
	case p.Threads < 1:
		return fmt.Errorf("argon2id threads %d out of range 1..255", p.Threads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > 4<<20:
		return fmt.Errorf("argon2id memory %d KiB out of range %d KiB..4 GiB", p.MemoryKiB, 8*uint32(p.Threads))
	}
	return nil
}

// MinRawKeySize is the least a raw key file must hold: 32 bytes, as many
// as the KEK, so that HKDF without stretching loses nothing.
// `head -c 32 /dev/urandom > repo.key` makes one.
const MinRawKeySize = 32

// maxRawKeySize keeps a mistaken --key-file (a disk image) from being
// read whole.
const maxRawKeySize = 64 << 10

var (
	// ErrWrongPassword reports a password that opens none of the key
	// files tried.
	ErrWrongPassword = errors.New("wrong password")
	// ErrWrongKeyFile reports a raw key file that opens none of the key
	// files tried.
	ErrWrongKeyFile = errors.New("wrong key file")
	// ErrBadKeyFile reports a key file object that is not one: bad JSON,
	// an unknown version or KDF, parameters out of bounds.
	ErrBadKeyFile = errors.New("keys: damaged or unknown key file")
)

// Secret is what a user holds to open a key file: a password or the bytes
// of a raw key file.
type Secret struct {
	KDF   KDF
	Bytes []byte
}

// Password is the secret of a password key file.
func Password(pw []byte) Secret { return Secret{KDFArgon2id, pw} }

// RawKey is the secret of a raw key file (its whole contents).
func RawKey(b []byte) Secret { return Secret{KDFKeyFile, b} }

// Label says where and when a key file was made, for `cairn key list`.
type Label struct {
	Created time.Time
	Host    string
	User    string
}

// File is one key file.
type File struct {
	// ID names the object keys/<ID>.key; it is not stored inside, but it
	// is the associated data of the wrapped key.
	ID      string        `json:"-"`
	Version int           `json:"version"`
	KDF     KDF           `json:"kdf"`
	Salt    []byte        `json:"salt"`
	Params  *Argon2Params `json:"params,omitempty"` // argon2id only
	Wrapped []byte        `json:"wrapped"`          // nonce, sealed master key, tag
	Created time.Time     `json:"created"`
	Host    string        `json:"host,omitempty"`
	User    string        `json:"user,omitempty"`
}

const (
	saltSize = 32
	idBytes  = 8 // 16 hex characters: collisions among a repository's few key files are out of reach
	infoKEK  = "cairn v2 key file"
	// infoCheck derives the key of PasswordCheck.
	infoCheck = "cairn v2 cached key check"
)

// ObjectKey is the name a key file is stored under.
func ObjectKey(id string) string { return "keys/" + id + ".key" }

// IDFromObjectKey is the id of the key file stored under key, or "" if key
// does not name one.
func IDFromObjectKey(key string) string {
	id, ok := strings.CutPrefix(key, "keys/")
	if !ok {
		return ""
	}
	if id, ok = strings.CutSuffix(id, ".key"); !ok || !validID(id) {
		return ""
	}
	return id
}

func validID(id string) bool {
	if len(id) != 2*idBytes {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// Wrap makes a new key file that opens m with s. p are the argon2id
// parameters of a password; a raw key ignores them.
func Wrap(m Master, s Secret, p Argon2Params, l Label) (*File, error) {
	var id [idBytes]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("make key file id: %w", err)
	}
	f := &File{
		ID:      hex.EncodeToString(id[:]),
		Version: FileVersion,
		KDF:     s.KDF,
		Salt:    make([]byte, saltSize),
		Created: l.Created.UTC().Truncate(time.Second),
		Host:    l.Host,
		User:    l.User,
	}
	if _, err := rand.Read(f.Salt); err != nil {
		return nil, fmt.Errorf("make key file salt: %w", err)
	}
	switch s.KDF {
	case KDFArgon2id:
		if err := p.valid(); err != nil {
			return nil, fmt.Errorf("wrap master key: %w", err)
		}
		f.Params = &p
	case KDFKeyFile:
		if err := checkRawKey(s.Bytes); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("wrap master key: unknown kdf %q", s.KDF)
	}
	aead, err := f.kek(s.Bytes)
	if err != nil {
		return nil, err
	}
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("wrap master key: %w", err)
	}
	f.Wrapped = aead.Seal(nonce[:], nonce[:], m[:], f.ad())
	return f, nil
}

func checkRawKey(b []byte) error {
	if len(b) < MinRawKeySize {
		return fmt.Errorf("key file holds %d bytes, want at least %d random bytes (head -c 32 /dev/urandom > FILE)", len(b), MinRawKeySize)
	}
	if len(b) > maxRawKeySize {
		return fmt.Errorf("key file holds %d bytes, more than a key file's %d", len(b), maxRawKeySize)
	}
	return nil
}

// ad binds the wrapped key to the file's name and format version.
func (f *File) ad() []byte {
	return fmt.Appendf(nil, "cairn key file v%d %s", f.Version, ObjectKey(f.ID))
}

// kek derives the key-encryption key from secret and returns its AEAD.
func (f *File) kek(secret []byte) (aeadSealer, error) {
	var k []byte
	switch f.KDF {
	case KDFArgon2id:
		k = argon2.IDKey(secret, f.Salt, f.Params.Time, f.Params.MemoryKiB, f.Params.Threads, chacha20poly1305.KeySize)
	case KDFKeyFile:
		var err error
		if k, err = hkdf.Key(sha256.New, secret, f.Salt, infoKEK, chacha20poly1305.KeySize); err != nil {
			return nil, fmt.Errorf("derive key file key: %w", err)
		}
	}
	aead, err := chacha20poly1305.NewX(k)
	clear(k)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return aead, nil
}

type aeadSealer interface {
	Seal(dst, nonce, plaintext, ad []byte) []byte
	Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
}

// Unwrap opens the master key with s. A secret of the wrong kind, or the
// wrong password or key file, fails with ErrWrongPassword or
// ErrWrongKeyFile (by the kind of s); a damaged file gives ErrWrongPassword
// too, since the two cannot be told apart.
func (f *File) Unwrap(s Secret) (Master, error) {
	var m Master
	wrong := ErrWrongPassword
	if s.KDF == KDFKeyFile {
		wrong = ErrWrongKeyFile
	}
	if s.KDF != f.KDF {
		return m, wrong
	}
	aead, err := f.kek(s.Bytes)
	if err != nil {
		return m, err
	}
	n := chacha20poly1305.NonceSizeX
	if len(f.Wrapped) != n+MasterSize+chacha20poly1305.Overhead {
		return m, wrong
	}
	plain, err := aead.Open(nil, f.Wrapped[:n], f.Wrapped[n:], f.ad())
	if err != nil {
		return m, wrong
	}
	copy(m[:], plain)
	clear(plain)
	return m, nil
}

// PasswordCheck is what a cache of unwrapped master keys keeps beside m
// to tell, without argon2id, whether password is the one that opened f:
// HMAC-SHA256, under a key derived from m, of the file's name, salt and
// the password. Only a holder of m can compute or test it, and m opens
// the whole repository anyway; what it gives such a holder beyond m is a
// cheap test of guesses at the password (the key file makes each guess
// cost argon2id), which matters only for a password also used elsewhere.
// The cache that keeps it says why that is acceptable there.
func (f *File) PasswordCheck(m Master, password []byte) [32]byte {
	var out [32]byte
	k, err := hkdf.Key(sha256.New, m[:], nil, infoCheck, 32)
	if err != nil {
		panic("keys: HKDF-SHA256 of 32 bytes: " + err.Error()) // cannot happen
	}
	h := hmac.New(sha256.New, k)
	clear(k)
	h.Write(f.ad())
	h.Write([]byte{0})
	h.Write(f.Salt)
	h.Write([]byte{0})
	h.Write(password)
	h.Sum(out[:0])
	return out
}

// Marshal encodes the key file for storing under ObjectKey(f.ID).
func (f *File) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode key file %s: %w", f.ID, err)
	}
	return append(b, '\n'), nil
}

// Parse decodes the key file stored as keys/<id>.key.
func Parse(id string, b []byte) (*File, error) {
	if !validID(id) {
		return nil, fmt.Errorf("key file %q: %w: bad id", id, ErrBadKeyFile)
	}
	f := &File{}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("key file %s: %w: %v", id, ErrBadKeyFile, err)
	}
	f.ID = id
	bad := func(format string, args ...any) (*File, error) {
		return nil, fmt.Errorf("key file %s: %w: %s", id, ErrBadKeyFile, fmt.Sprintf(format, args...))
	}
	if f.Version != FileVersion {
		return bad("version %d, this cairn reads %d", f.Version, FileVersion)
	}
	if len(f.Salt) < 16 {
		return bad("salt of %d bytes", len(f.Salt))
	}
	switch f.KDF {
	case KDFArgon2id:
		if f.Params == nil {
			return bad("argon2id without parameters")
		}
		if err := f.Params.valid(); err != nil {
			return bad("%v", err)
		}
	case KDFKeyFile:
		f.Params = nil
	default:
		return bad("unknown kdf %q", f.KDF)
	}
	return f, nil
}
