package cairn_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/internal/s3test"
)

// derives opens the repository at loc with o, closes it, and returns how
// many key files the Open unwrapped with argon2id.
func derives(t *testing.T, loc string, o cairn.Options) (int64, error) {
	t.Helper()
	before := cairn.Argon2UnwrapsForTest()
	repo, err := cairn.Open(context.Background(), loc, o)
	if err == nil {
		repo.Close()
	}
	return cairn.Argon2UnwrapsForTest() - before, err
}

func cachedFor(id string) bool {
	return slices.ContainsFunc(cairn.CachedKeysForTest(), func(n string) bool { return strings.HasSuffix(n, ":"+id) })
}

// TestKeyCache: a password pays argon2id at the first Open only; the next
// ones take the master key from the key cache. A wrong password still
// fails (after its argon2id), CAIRN_KEY_CACHE=0 turns the cache off,
// ForgetCachedKeys empties it, a changed password and a removed key file
// stop working at once.
func TestKeyCache(t *testing.T) {
	ctx := context.Background()
	if _, err := cairn.ForgetCachedKeys(); err != nil {
		t.Skipf("no kernel keyring here: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "repo")
	first := cairn.Options{Password: []byte("first")}
	create := first
	create.Create = true
	repo, err := cairn.Open(ctx, dir, create)
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	cairn.ForgetCachedKeys() // what creating it cached

	check := func(label string, o cairn.Options, want int64, wantErr error) {
		t.Helper()
		n, err := derives(t, dir, o)
		if want < 0 && n > 0 { // cold: one argon2id per password key file tried
			want = n
		}
		if !errors.Is(err, wantErr) || n != want {
			t.Errorf("%s: %d argon2id, %v; want %d, %v", label, n, err, want, wantErr)
		}
	}
	check("first open", first, 1, nil)
	check("second open", first, 0, nil)
	check("third open", first, 0, nil)
	if len(cairn.CachedKeysForTest()) != 1 {
		t.Fatalf("cache holds %q; want one entry", cairn.CachedKeysForTest())
	}
	// A wrong password is tried against the key file itself, and fails
	// as it did without the cache; the entry stays for the right one.
	check("wrong password, cache warm", cairn.Options{Password: []byte("firsT")}, 1, cairn.ErrWrongPassword)
	check("empty prefix of the password", cairn.Options{Password: []byte("firs")}, 1, cairn.ErrWrongPassword)
	check("right password after wrong ones", first, 0, nil)

	t.Setenv("CAIRN_KEY_CACHE", "0")
	check("CAIRN_KEY_CACHE=0", first, 1, nil)
	check("CAIRN_KEY_CACHE=0 again", first, 1, nil)
	t.Setenv("CAIRN_KEY_CACHE", "")

	if n, err := cairn.ForgetCachedKeys(); err != nil || n != 1 {
		t.Errorf("ForgetCachedKeys = %d, %v; want 1", n, err)
	}
	check("after ForgetCachedKeys", first, 1, nil)
	check("and again", first, 0, nil)

	// A changed password: the old one fails at once, the new one opens
	// without argon2id (passwd cached it).
	repo, err = cairn.Open(ctx, dir, first)
	if err != nil {
		t.Fatal(err)
	}
	old, err := repo.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := cairn.Options{Password: []byte("second")}
	if _, err := repo.ChangePassword(ctx, second.Password); err != nil {
		t.Fatal(err)
	}
	repo.Close()
	if cachedFor(old[0].ID) {
		t.Errorf("the replaced key file %s is still cached", old[0].ID)
	}
	check("old password after passwd", first, -1, cairn.ErrWrongPassword)
	check("new password after passwd", second, 0, nil)

	// A removed key file: its password fails at once, though it was
	// cached a moment before.
	third := cairn.Options{Password: []byte("third")}
	repo, _ = cairn.Open(ctx, dir, second)
	k3, err := repo.AddKey(ctx, cairn.NewKey{Password: third.Password})
	repo.Close()
	if err != nil {
		t.Fatal(err)
	}
	check("added password", third, -1, nil)
	check("added password, cached", third, 0, nil)
	repo, _ = cairn.Open(ctx, dir, second)
	if err := repo.RemoveKey(ctx, k3.ID); err != nil {
		t.Fatal(err)
	}
	repo.Close()
	if cachedFor(k3.ID) {
		t.Errorf("removed key file %s is still cached", k3.ID)
	}
	check("removed password", third, -1, cairn.ErrWrongPassword)
	check("the other password", second, 0, nil)
}

// TestKeyCacheRemovedElsewhere: an entry of a key file removed on another
// machine (whose removal cannot drop this machine's entry) opens the
// repository no longer than the copy of the key files would without a
// cache: from the copy within RecheckInterval (and then refuses to
// write), never past it, though the entry is still warm.
func TestKeyCacheRemovedElsewhere(t *testing.T) {
	if _, err := cairn.ForgetCachedKeys(); err != nil {
		t.Skipf("no kernel keyring here: %v", err)
	}
	ctx := context.Background()
	srv := s3test.Versity(t)
	cacheA := remoteEnv(t, srv)
	loc := "s3://" + srv.Bucket + "/" + s3test.Prefix() + "/keycache"
	pw1 := cairn.Options{Password: []byte("first password"), S3Endpoint: srv.Endpoint, CatchUp: cairn.CatchUpDue}
	pw2 := pw1
	pw2.Password = []byte("second password")
	create := pw1
	create.Create = true
	h := &history{src: filepath.Join(t.TempDir(), "src")}
	writeTree(t, h.src, 1)
	repo, err := cairn.Open(ctx, loc, create)
	if err != nil {
		t.Fatal(err)
	}
	h.snap(t, repo)
	_, err = repo.AddKey(ctx, cairn.NewKey{Password: pw2.Password})
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	cairn.ForgetCachedKeys() // what creating it cached

	// The cron case: an unchanged snapshot every few minutes pays
	// argon2id once, and still costs 2 requests.
	for i := range 3 {
		before := cairn.Argon2UnwrapsForTest()
		rc := countRequests(t)
		repo, err := cairn.Open(ctx, loc, pw1)
		if err != nil {
			t.Fatal(err)
		}
		h.snap(t, repo)
		repo.Close()
		reqs, n := rc.take()
		cairn.SetS3TransportForTest(nil)
		// Cold, one argon2id per password key file tried; then none.
		if got := cairn.Argon2UnwrapsForTest() - before; (i == 0) != (got > 0) || got > 2 {
			t.Errorf("snapshot %d: %d argon2id; want 1 or 2 at first, then none", i, got)
		}
		if i > 0 && n > 2 {
			t.Errorf("snapshot %d with the key cache: %d requests (%s); want at most 2", i, n, reqs)
		}
	}

	// Host B removes the first password's key file.
	removed := removeOthersKeys(t, loc, pw2)

	// B's process shares this test's keyring, and dropped the entry: put
	// it back, as A's keyring still holds it.
	t.Setenv("XDG_CACHE_HOME", cacheA)
	t.Setenv("CAIRN_KEY_CACHE", "")
	if n, err := derives(t, loc, pw1); err != nil || n < 1 {
		t.Fatalf("open from A's copy: %d argon2id, %v", n, err)
	}
	if n, err := derives(t, loc, pw1); err != nil || n != 0 {
		t.Fatalf("open from A's copy, cached: %d argon2id, %v; want 0", n, err)
	}
	// Past the bound the bucket is read, and its listing lacks the key
	// file: the warm entry is not consulted.
	later := pw1
	later.Now = func() time.Time { return time.Now().Add(cairn.RecheckInterval + time.Second) }
	if _, err := derives(t, loc, later); !errors.Is(err, cairn.ErrWrongPassword) {
		t.Errorf("open past the bound with the removed password, cache warm: %v; want ErrWrongPassword", err)
	}
	// Within the bound it opens (from the copy, as without a cache), but
	// writes nothing.
	repo, err = cairn.Open(ctx, loc, pw1)
	if err != nil {
		t.Fatal(err)
	}
	h.change(t, 1)
	if _, err := repo.Snapshot(ctx, h.src, cairn.SnapshotOptions{}); !errors.Is(err, cairn.ErrKeyGone) {
		t.Errorf("snapshot with a removed key file from a warm cache: %v; want ErrKeyGone", err)
	}
	repo.Close()
	if len(removed) != 1 || !cachedFor(removed[0]) {
		t.Fatal("the entry of the removed key file is no longer cached: the rest tests nothing")
	}
	if _, err := derives(t, loc, pw1); !errors.Is(err, cairn.ErrWrongPassword) {
		t.Errorf("open after the copy was dropped, cache warm: %v; want ErrWrongPassword", err)
	}
	if n, err := derives(t, loc, pw2); err != nil || n > 1 {
		t.Errorf("open with the remaining password: %d argon2id, %v", n, err)
	}
}

// TestKeyCacheUnavailable: where keyctl fails (a seccomp filter, no
// keyring) every Open pays argon2id and works, silently, and a wrong
// password fails as ever.
func TestKeyCacheUnavailable(t *testing.T) {
	ctx := context.Background()
	defer cairn.BreakKeyCacheForTest()()
	dir := filepath.Join(t.TempDir(), "repo")
	pw := cairn.Options{Password: []byte("pw")}
	create := pw
	create.Create = true
	repo, err := cairn.Open(ctx, dir, create)
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	for i := range 2 {
		if n, err := derives(t, dir, pw); err != nil || n != 1 {
			t.Errorf("open %d without a keyring: %d argon2id, %v; want 1, nil", i, n, err)
		}
	}
	if _, err := derives(t, dir, cairn.Options{Password: []byte("wrong")}); !errors.Is(err, cairn.ErrWrongPassword) {
		t.Errorf("wrong password without a keyring: %v", err)
	}
	if n, _ := cairn.ForgetCachedKeys(); n != 0 {
		t.Errorf("ForgetCachedKeys without a keyring forgot %d", n)
	}
}
