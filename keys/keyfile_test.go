package keys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/keys"
)

// small are argon2id parameters cheap enough for tests; production key
// files always get keys.DefaultArgon2().
var small = keys.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

func newObjects(t *testing.T) *blobstore.LocalObjects {
	t.Helper()
	dir := t.TempDir()
	o, err := blobstore.NewLocalObjects(filepath.Join(dir, "repo"), filepath.Join(dir, "repo", "local", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// store puts f into objs and reads it back, as an unlock does.
func store(t *testing.T, objs blobstore.Objects, f *keys.File) (raw []byte, back *keys.File) {
	t.Helper()
	ctx := context.Background()
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := objs.PutObject(ctx, keys.ObjectKey(f.ID), b); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = objs.ListObjects(ctx, "keys/", func(key string, size int64) error {
		got = append(got, key)
		return nil
	})
	if err != nil || len(got) == 0 {
		t.Fatalf("list keys/: %v %v", got, err)
	}
	id := keys.IDFromObjectKey(keys.ObjectKey(f.ID))
	if id != f.ID {
		t.Fatalf("IDFromObjectKey(%q) = %q", keys.ObjectKey(f.ID), id)
	}
	raw, err = objs.GetObject(ctx, keys.ObjectKey(id))
	if err != nil {
		t.Fatal(err)
	}
	back, err = keys.Parse(id, raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, back
}

func label() keys.Label {
	return keys.Label{Created: time.Date(2026, 12, 1, 22, 30, 0, 0, time.UTC), Host: "laptop", User: "ada"}
}

func TestPasswordKeyFile(t *testing.T) {
	objs := newObjects(t)
	m, _ := keys.NewMaster()
	pw := []byte("correct horse battery staple")
	f, err := keys.Wrap(m, keys.Password(pw), small, label())
	if err != nil {
		t.Fatal(err)
	}
	raw, back := store(t, objs, f)
	if bytes.Contains(raw, m[:]) || bytes.Contains(raw, pw) {
		t.Fatal("the stored key file holds the master key or the password in the clear")
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "kdf", "salt", "params", "wrapped", "created", "host", "user"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("key file has no %q: %s", k, raw)
		}
	}
	if fields["kdf"] != "argon2id" || back.Host != "laptop" || back.User != "ada" || !back.Created.Equal(label().Created) {
		t.Errorf("key file read back as %+v", back)
	}
	got, err := back.Unwrap(keys.Password(pw))
	if err != nil || got != m {
		t.Fatalf("Unwrap with the password: %v (same key: %v)", err, got == m)
	}
	if _, err := back.Unwrap(keys.Password([]byte("Correct horse battery staple"))); !errors.Is(err, keys.ErrWrongPassword) {
		t.Fatalf("Unwrap with a wrong password: %v, want ErrWrongPassword", err)
	}
	if _, err := back.Unwrap(keys.RawKey(bytes.Repeat([]byte{1}, 32))); !errors.Is(err, keys.ErrWrongKeyFile) {
		t.Fatalf("Unwrap of a password file with a raw key: %v, want ErrWrongKeyFile", err)
	}
}

func TestRawKeyFile(t *testing.T) {
	objs := newObjects(t)
	m, _ := keys.NewMaster()
	key := bytes.Repeat([]byte("0123456789abcdef"), 2)
	if _, err := keys.Wrap(m, keys.RawKey(key[:31]), small, label()); err == nil || !strings.Contains(err.Error(), "/dev/urandom") {
		t.Fatalf("Wrap with a 31-byte key file: %v, want a refusal saying how to make one", err)
	}
	f, err := keys.Wrap(m, keys.RawKey(key), small, label())
	if err != nil {
		t.Fatal(err)
	}
	if f.Params != nil || f.KDF != keys.KDFKeyFile {
		t.Fatalf("raw key file: kdf %q params %v", f.KDF, f.Params)
	}
	_, back := store(t, objs, f)
	if got, err := back.Unwrap(keys.RawKey(key)); err != nil || got != m {
		t.Fatalf("Unwrap with the key file: %v", err)
	}
	other := bytes.Clone(key)
	other[0] ^= 1
	if _, err := back.Unwrap(keys.RawKey(other)); !errors.Is(err, keys.ErrWrongKeyFile) {
		t.Fatalf("Unwrap with another key file: %v, want ErrWrongKeyFile", err)
	}
	if _, err := back.Unwrap(keys.Password(key)); !errors.Is(err, keys.ErrWrongPassword) {
		t.Fatalf("Unwrap of a raw key file with a password: %v, want ErrWrongPassword", err)
	}
}

// TestKeyFileBoundToItsName: a key file copied under another id does not
// open, so a store cannot pass one key file off as another.
func TestKeyFileBoundToItsName(t *testing.T) {
	ctx := context.Background()
	objs := newObjects(t)
	m, _ := keys.NewMaster()
	pw := []byte("pw")
	f, _ := keys.Wrap(m, keys.Password(pw), small, label())
	b, _ := f.Marshal()
	const otherID = "0123456789abcdef"
	if err := objs.PutObject(ctx, keys.ObjectKey(otherID), b); err != nil {
		t.Fatal(err)
	}
	raw, _ := objs.GetObject(ctx, keys.ObjectKey(otherID))
	moved, err := keys.Parse(otherID, raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := moved.Unwrap(keys.Password(pw)); !errors.Is(err, keys.ErrWrongPassword) {
		t.Fatalf("Unwrap of a renamed key file: %v, want ErrWrongPassword", err)
	}
}

func TestParseRefusesBadKeyFiles(t *testing.T) {
	m, _ := keys.NewMaster()
	f, _ := keys.Wrap(m, keys.Password([]byte("pw")), small, label())
	good, _ := f.Marshal()
	edit := func(fn func(map[string]any)) []byte {
		var v map[string]any
		json.Unmarshal(good, &v)
		fn(v)
		b, _ := json.Marshal(v)
		return b
	}
	for name, b := range map[string][]byte{
		"not json":         []byte("hello"),
		"truncated":        good[:len(good)/2],
		"version 2":        edit(func(v map[string]any) { v["version"] = 2 }),
		"unknown kdf":      edit(func(v map[string]any) { v["kdf"] = "scrypt" }),
		"no params":        edit(func(v map[string]any) { delete(v, "params") }),
		"1 TiB of memory":  edit(func(v map[string]any) { v["params"] = map[string]any{"t": 3, "m": 1 << 30, "p": 4} }),
		"a million passes": edit(func(v map[string]any) { v["params"] = map[string]any{"t": 1e6, "m": 65536, "p": 4} }),
		"no salt":          edit(func(v map[string]any) { delete(v, "salt") }),
	} {
		if _, err := keys.Parse(f.ID, b); !errors.Is(err, keys.ErrBadKeyFile) {
			t.Errorf("%s: Parse = %v, want ErrBadKeyFile", name, err)
		}
	}
	if _, err := keys.Parse("../../etc", good); !errors.Is(err, keys.ErrBadKeyFile) {
		t.Errorf("Parse with a bad id: %v", err)
	}
	if keys.IDFromObjectKey("keys/zz.key") != "" || keys.IDFromObjectKey("log/0123456789abcdef.key") != "" {
		t.Error("IDFromObjectKey accepted a key that names no key file")
	}
	// A damaged wrapped key is a wrong password: the two look alike.
	f2, _ := keys.Parse(f.ID, good)
	f2.Wrapped[30] ^= 1
	if _, err := f2.Unwrap(keys.Password([]byte("pw"))); !errors.Is(err, keys.ErrWrongPassword) {
		t.Errorf("Unwrap of a damaged key file: %v", err)
	}
}

// TestDefaultArgon2Unwrap measures what an unlock costs with the
// production parameters (reported with -v).
func TestDefaultArgon2Unwrap(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB argon2id")
	}
	m, _ := keys.NewMaster()
	p := keys.DefaultArgon2()
	if p != (keys.Argon2Params{Time: 3, MemoryKiB: 65536, Threads: 4}) {
		t.Fatalf("DefaultArgon2 = %v, want t=3 m=64 MiB p=4", p)
	}
	f, err := keys.Wrap(m, keys.Password([]byte("pw")), p, label())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := f.Unwrap(keys.Password([]byte("pw")))
	if err != nil || got != m {
		t.Fatal(err)
	}
	t.Logf("argon2id %v unwrap: %v", p, time.Since(start).Round(time.Millisecond))
}

// TestPasswordCheck: the check of a cached master key tells the password
// that opened the key file from any other, and is bound to the file and
// to the master key (an entry copied to another key file's name, or
// holding another master key, checks nothing).
func TestPasswordCheck(t *testing.T) {
	m, _ := keys.NewMaster()
	other, _ := keys.NewMaster()
	f, err := keys.Wrap(m, keys.Password([]byte("pw")), small, keys.Label{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := keys.Wrap(m, keys.Password([]byte("pw")), small, keys.Label{})
	if err != nil {
		t.Fatal(err)
	}
	c := f.PasswordCheck(m, []byte("pw"))
	if c != f.PasswordCheck(m, []byte("pw")) {
		t.Fatal("PasswordCheck is not deterministic")
	}
	for name, d := range map[string][32]byte{
		"another password":   f.PasswordCheck(m, []byte("pw2")),
		"a prefix of it":     f.PasswordCheck(m, []byte("p")),
		"another key file":   g.PasswordCheck(m, []byte("pw")),
		"another master key": f.PasswordCheck(other, []byte("pw")),
	} {
		if d == c {
			t.Errorf("%s gives the same check", name)
		}
	}
}
