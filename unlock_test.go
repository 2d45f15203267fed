package cairn

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/keys"
)

func init() {
	// Tests make many key files: argon2id at 64 KiB, not 64 MiB. The
	// production parameters are measured in keys' TestDefaultArgon2Unwrap
	// and in the command's testscripts, which run the real binary.
	passwordKDF = keys.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}
}

// newKeyRepo returns the objects and local directory of a repository in
// a temp directory, laid out as format 2 keeps them.
func newKeyRepo(t *testing.T) (blobstore.Objects, string) {
	t.Helper()
	dir := t.TempDir()
	objs, err := blobstore.NewLocalObjects(dir, filepath.Join(dir, "local", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return objs, filepath.Join(dir, "local")
}

func keyObjects(t *testing.T, objs blobstore.Objects) []string {
	t.Helper()
	var got []string
	objs.ListObjects(context.Background(), "keys/", func(key string, size int64) error {
		got = append(got, key)
		return nil
	})
	return got
}

func TestUnlockWithoutPassword(t *testing.T) {
	ctx := context.Background()
	objs, local := newKeyRepo(t)
	m, _ := keys.NewMaster()
	if err := storeNewMaster(ctx, objs, local, m, Options{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(local, "key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("local/key: %v, %v; want mode 0600", fi, err)
	}
	if got := keyObjects(t, objs); len(got) != 0 {
		t.Fatalf("a repository without a password has key files %v", got)
	}
	// Of two processes creating one repository, the first key stays.
	other, _ := keys.NewMaster()
	if err := storeNewMaster(ctx, objs, local, other, Options{}); err != nil {
		t.Fatal(err)
	}
	got, err := unlockMaster(ctx, objs, local, Options{AskPassword: func(string) ([]byte, error) {
		t.Fatal("asked for a password")
		return nil, nil
	}})
	if err != nil || got != m {
		t.Fatalf("unlock: %v (same key %v)", err, got == m)
	}
	// Lose local/: nothing opens it, and the error says why.
	os.RemoveAll(local)
	_, err = unlockMaster(ctx, objs, local, Options{Password: []byte("pw")})
	if !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), "without a password") {
		t.Fatalf("unlock without local/: %v, want ErrNoKey", err)
	}
}

func TestUnlockWithPassword(t *testing.T) {
	ctx := context.Background()
	objs, local := newKeyRepo(t)
	m, _ := keys.NewMaster()
	if err := storeNewMaster(ctx, objs, local, m, Options{Password: []byte("hunter2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(local, "key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a repository with a password has local/key: %v", err)
	}
	if got := keyObjects(t, objs); len(got) != 1 {
		t.Fatalf("key files %v, want 1", got)
	}
	if _, err := unlockMaster(ctx, objs, local, Options{}); !errors.Is(err, ErrPasswordRequired) {
		t.Fatalf("unlock with no password: %v, want ErrPasswordRequired", err)
	}
	_, err := unlockMaster(ctx, objs, local, Options{Password: []byte("hunter3")})
	if !errors.Is(err, ErrWrongPassword) || err.Error() != "wrong password for repository "+filepath.Dir(local) {
		t.Fatalf("unlock with a wrong password: %q", err)
	}
	if got, err := unlockMaster(ctx, objs, local, Options{Password: []byte("hunter2")}); err != nil || got != m {
		t.Fatalf("unlock with the password: %v", err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("hunter2\n"), 0o600)
	if got, err := unlockMaster(ctx, objs, local, Options{PasswordFile: pwFile}); err != nil || got != m {
		t.Fatalf("unlock with a password file ending in a newline: %v", err)
	}
	asked := 0
	ask := func(repo string) ([]byte, error) {
		asked++
		if repo != filepath.Dir(local) {
			t.Errorf("asked for the password of %q", repo)
		}
		return []byte("hunter2"), nil
	}
	if got, err := unlockMaster(ctx, objs, local, Options{AskPassword: ask}); err != nil || got != m || asked != 1 {
		t.Fatalf("unlock at the prompt: %v, asked %d times", err, asked)
	}
	if _, err := unlockMaster(ctx, objs, local, Options{Password: []byte("hunter2"), AskPassword: ask}); err != nil || asked != 1 {
		t.Fatalf("a given password still prompted: %v", err)
	}
}

func TestUnlockWithKeyFile(t *testing.T) {
	ctx := context.Background()
	objs, local := newKeyRepo(t)
	m, _ := keys.NewMaster()
	kf := filepath.Join(t.TempDir(), "repo.key")
	os.WriteFile(kf, bytes.Repeat([]byte{7}, 32), 0o600)
	short := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(short, []byte("password123"), 0o600)
	if err := storeNewMaster(ctx, objs, local, m, Options{KeyFile: short}); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("create with an 11-byte key file: %v", err)
	}
	if err := storeNewMaster(ctx, objs, local, m, Options{KeyFile: kf}); err != nil {
		t.Fatal(err)
	}
	if got, err := unlockMaster(ctx, objs, local, Options{KeyFile: kf}); err != nil || got != m {
		t.Fatalf("unlock with the key file: %v", err)
	}
	_, err := unlockMaster(ctx, objs, local, Options{Password: []byte("pw")})
	if !errors.Is(err, ErrWrongPassword) || !strings.Contains(err.Error(), "no password key") {
		t.Fatalf("unlock of a key-file repository with a password: %v", err)
	}
	// A key-file-only repository never prompts: a password cannot open it.
	_, err = unlockMaster(ctx, objs, local, Options{AskPassword: func(string) ([]byte, error) {
		t.Fatal("prompted for a password no key file takes")
		return nil, nil
	}})
	if !errors.Is(err, ErrPasswordRequired) {
		t.Fatalf("unlock with nothing: %v", err)
	}
}

// TestKeyring walks a repository from no password to a password only, as
// the README's "Passwords and keys" tells a user to.
func TestKeyring(t *testing.T) {
	ctx := context.Background()
	objs, local := newKeyRepo(t)
	m, _ := keys.NewMaster()
	if err := storeNewMaster(ctx, objs, local, m, Options{}); err != nil {
		t.Fatal(err)
	}
	k, err := unlock(ctx, objs, local, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.remove(ctx, LocalKeyID); !errors.Is(err, ErrLastKey) {
		t.Fatalf("remove the only key: %v, want ErrLastKey", err)
	}
	added, err := k.add(ctx, NewKey{Password: []byte("first")})
	if err != nil {
		t.Fatal(err)
	}
	list, err := k.list(ctx)
	if err != nil || len(list) != 2 || list[0].ID != LocalKeyID || !list[0].Current || list[1].ID != added.ID || list[1].Kind != KeyPassword || list[1].Host == "" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	// Removing local/key needs the password of a key file, so that the
	// user cannot lock themselves out.
	if err := k.remove(ctx, LocalKeyID); !errors.Is(err, ErrPasswordRequired) {
		t.Fatalf("remove local/key with no password: %v", err)
	}
	k.opts.Password = []byte("wrong")
	if err := k.remove(ctx, LocalKeyID); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("remove local/key with a wrong password: %v", err)
	}
	k.opts.Password = []byte("first")
	if err := k.remove(ctx, LocalKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := unlock(ctx, objs, local, "", Options{}); !errors.Is(err, ErrPasswordRequired) {
		t.Fatalf("after removing local/key, unlock with no password: %v", err)
	}
	k, err = unlock(ctx, objs, local, "", Options{Password: []byte("first")})
	if err != nil || k.master != m || k.via != added.ID {
		t.Fatalf("unlock with the added password: %v", err)
	}
	if err := k.remove(ctx, added.ID); !errors.Is(err, ErrLastKey) {
		t.Fatalf("remove the last key file: %v", err)
	}
	second, err := k.add(ctx, NewKey{Password: []byte("second")})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.remove(ctx, added.ID); !errors.Is(err, ErrKeyInUse) {
		t.Fatalf("remove the key in use: %v", err)
	}
	if err := k.remove(ctx, "0000000000000000"); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("remove a key that is not there: %v", err)
	}
	changed, err := k.changePassword(ctx, []byte("first, changed"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unlock(ctx, objs, local, "", Options{Password: []byte("first")}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("the old password still opens: %v", err)
	}
	for _, pw := range []string{"first, changed", "second"} {
		if k2, err := unlock(ctx, objs, local, "", Options{Password: []byte(pw)}); err != nil || k2.master != m {
			t.Fatalf("unlock with %q: %v", pw, err)
		}
	}
	if err := k.remove(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	list, _ = k.list(ctx)
	if len(list) != 1 || list[0].ID != changed.ID || !list[0].Current {
		t.Fatalf("list after passwd and remove = %+v", list)
	}

	// A damaged key file is listed, skipped by unlock, and removable.
	objs.PutObject(ctx, keys.ObjectKey("00000000000000ff"), []byte("{not json"))
	list, _ = k.list(ctx)
	if len(list) != 2 || list[1].Kind != KeyDamaged {
		t.Fatalf("list with a damaged key file = %+v", list)
	}
	if _, err := unlock(ctx, objs, local, "", Options{Password: []byte("first, changed")}); err != nil {
		t.Fatalf("unlock beside a damaged key file: %v", err)
	}
	if err := k.remove(ctx, "00000000000000ff"); err != nil {
		t.Fatal(err)
	}
}

// TestChangePasswordNeedsAPassword: passwd replaces the password that
// opened the repository, so one opened by local/key or a raw key has
// none to replace.
func TestChangePasswordNeedsAPassword(t *testing.T) {
	ctx := context.Background()
	objs, local := newKeyRepo(t)
	m, _ := keys.NewMaster()
	storeNewMaster(ctx, objs, local, m, Options{})
	k, _ := unlock(ctx, objs, local, "", Options{})
	if _, err := k.changePassword(ctx, []byte("x")); !errors.Is(err, ErrNotPassword) {
		t.Fatalf("passwd on a local/key repository: %v", err)
	}
}

// TestCreateRace: of two creations with a password racing in one
// directory, the one that finds the other's key file withdraws its own,
// so that one password never opens two master keys.
func TestCreateRace(t *testing.T) {
	ctx := context.Background()
	objs, local := newKeyRepo(t)
	first, _ := keys.NewMaster()
	second, _ := keys.NewMaster()
	if err := storeNewMaster(ctx, objs, local, first, Options{Password: []byte("pw")}); err != nil {
		t.Fatal(err)
	}
	err := storeNewMaster(ctx, objs, local, second, Options{Password: []byte("pw")})
	if err == nil || !strings.Contains(err.Error(), "at the same time") {
		t.Fatalf("the second creation: %v", err)
	}
	if got := keyObjects(t, objs); len(got) != 1 {
		t.Fatalf("key files after the race: %v", got)
	}
	if m, err := unlockMaster(ctx, objs, local, Options{Password: []byte("pw")}); err != nil || m != first {
		t.Fatalf("unlock after the race: %v (the first key: %v)", err, m == first)
	}
}

// TestRemoveLocalKeyNeedsSameMaster: the password that proves local/key
// can go must open a key file of the same master key; a key file wrapping
// another master (a foreign or stale key file) opens nothing of this
// repository, and removing local/key on its word would lose it.
func TestRemoveLocalKeyNeedsSameMaster(t *testing.T) {
	ctx := context.Background()
	objs, local := newKeyRepo(t)
	m, _ := keys.NewMaster()
	if err := storeNewMaster(ctx, objs, local, m, Options{}); err != nil {
		t.Fatal(err)
	}
	k, err := unlock(ctx, objs, local, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := keys.NewMaster()
	foreign, err := putKeyFile(ctx, objs, other, keys.Password([]byte("foreign")), nil)
	if err != nil {
		t.Fatal(err)
	}
	k.opts.Password = []byte("foreign")
	if err := k.remove(ctx, LocalKeyID); err == nil {
		t.Fatal("local/key removed on the word of a key file of another master key")
	}
	if _, ok, err := readLocalKey(local); !ok || err != nil {
		t.Fatalf("local/key after the refused remove: %v, %v", ok, err)
	}
	// A key file of the same master, with the same password, does it.
	if _, err := k.add(ctx, NewKey{Password: []byte("foreign")}); err != nil {
		t.Fatal(err)
	}
	if err := k.remove(ctx, LocalKeyID); err != nil {
		t.Fatal(err)
	}
	if err := objs.DeleteObject(ctx, keys.ObjectKey(foreign.ID)); err != nil {
		t.Fatal(err)
	}
	if k2, err := unlock(ctx, objs, local, "", Options{Password: []byte("foreign")}); err != nil || k2.master != m {
		t.Fatalf("unlock after removing local/key: %v", err)
	}
}
