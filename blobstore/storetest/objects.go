package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
)

// RunObjects checks that objects made by newObjects behave as
// blobstore.Objects requires. Each subtest gets a fresh, empty set of
// objects. Implementations that are also a Store are closed by the
// caller's newObjects cleanup, not here.
func RunObjects(t *testing.T, newObjects func(t *testing.T) blobstore.Objects) {
	tests := []struct {
		name string
		fn   func(t *testing.T, o blobstore.Objects)
	}{
		{"PutGet", testPutGet},
		{"CreateOnly", testCreateOnly},
		{"GetMissing", testGetMissing},
		{"ListAscendingByPrefix", testListAscending},
		{"ListCallbackError", testListObjectsCallbackError},
		{"Delete", testDeleteObject},
		{"ConcurrentPutsOneKey", testConcurrentPutsOneKey},
		{"ConcurrentPutsManyKeys", testConcurrentPutsManyKeys},
		{"InvalidKeys", testInvalidKeys},
		{"Empty", testEmptyObject},
		{"ListDated", testListDated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newObjects(t)) })
	}
}

func get(t *testing.T, o blobstore.Objects, key string) []byte {
	t.Helper()
	b, err := o.GetObject(context.Background(), key)
	if err != nil {
		t.Fatalf("GetObject(%s): %v", key, err)
	}
	return b
}

type listed struct {
	key  string
	size int64
}

func listObjects(t *testing.T, o blobstore.Objects, prefix string) []listed {
	t.Helper()
	var got []listed
	err := o.ListObjects(context.Background(), prefix, func(key string, size int64) error {
		got = append(got, listed{key, size})
		return nil
	})
	if err != nil {
		t.Fatalf("ListObjects(%q): %v", prefix, err)
	}
	return got
}

func keysOf(l []listed) []string {
	var out []string
	for _, e := range l {
		out = append(out, e.key)
	}
	return out
}

func testPutGet(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	data := randBytes(100, 70<<10)
	if err := o.PutObject(ctx, "log/w1/00000000000000000001", data); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if got := get(t, o, "log/w1/00000000000000000001"); !bytes.Equal(got, data) {
		t.Error("GetObject returned different bytes")
	}
	// The caller may reuse its buffer once PutObject returns.
	want := slices.Clone(data)
	clear(data)
	if got := get(t, o, "log/w1/00000000000000000001"); !bytes.Equal(got, want) {
		t.Error("object changed with the caller's buffer")
	}
	if got := listObjects(t, o, ""); len(got) != 1 || got[0] != (listed{"log/w1/00000000000000000001", int64(len(want))}) {
		t.Errorf("ListObjects = %v; want the one object with its size", got)
	}
}

func testCreateOnly(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	if err := o.PutObject(ctx, "cairn.repo", []byte("first")); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	for _, data := range [][]byte{[]byte("second"), []byte("first"), nil} {
		if err := o.PutObject(ctx, "cairn.repo", data); !errors.Is(err, blobstore.ErrExists) {
			t.Errorf("second PutObject(%q): %v; want ErrExists", data, err)
		}
	}
	if got := get(t, o, "cairn.repo"); string(got) != "first" {
		t.Errorf("after refused puts the object holds %q; want \"first\"", got)
	}
}

func testGetMissing(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	if _, err := o.GetObject(ctx, "keys/nothing.key"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("GetObject of a missing key: %v; want ErrNotFound", err)
	}
	if err := o.PutObject(ctx, "keys/a.key", []byte("a")); err != nil {
		t.Fatal(err)
	}
	// A prefix of a key, or a "directory" of one, is not an object.
	for _, k := range []string{"keys", "keys/a", "keys/a.ke"} {
		if _, err := o.GetObject(ctx, k); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("GetObject(%q) beside keys/a.key: %v; want ErrNotFound", k, err)
		}
		if err := o.DeleteObject(ctx, k); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("DeleteObject(%q) beside keys/a.key: %v; want ErrNotFound", k, err)
		}
	}
	if got := get(t, o, "keys/a.key"); string(got) != "a" {
		t.Errorf("keys/a.key holds %q after deletes of its neighbours", got)
	}
}

func testListAscending(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	// Inserted out of order; the set mixes "-" (0x2d), "." (0x2e) and
	// "/" (0x2f) at one position, which a directory walk would order
	// differently from key order.
	keys := []string{
		"log/w2/00000000000000000002",
		"log/w1/00000000000000000010",
		"log/w1/00000000000000000002",
		"log/w1-b/00000000000000000001",
		"log/w1.x",
		"log/w1/00000000000000000001",
		"checkpoints/w1/00000000000000000005",
		"cairn.repo",
		"gc/plan-1",
		"log/w10/00000000000000000001",
	}
	for i, k := range keys {
		if err := o.PutObject(ctx, k, bytes.Repeat([]byte{'x'}, i)); err != nil {
			t.Fatalf("PutObject(%s): %v", k, err)
		}
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if got := keysOf(listObjects(t, o, "")); !slices.Equal(got, want) {
		t.Errorf("ListObjects(\"\") =\n%q\nwant\n%q", got, want)
	}
	for _, prefix := range []string{"log/", "log/w1/", "log/w1", "log/w", "checkpoints/", "nothing/", "log/w1/0000000000000000000"} {
		var w []string
		for _, k := range want {
			if strings.HasPrefix(k, prefix) {
				w = append(w, k)
			}
		}
		if got := keysOf(listObjects(t, o, prefix)); !slices.Equal(got, w) {
			t.Errorf("ListObjects(%q) =\n%q\nwant\n%q", prefix, got, w)
		}
	}
	for _, e := range listObjects(t, o, "") {
		if i := slices.Index(keys, e.key); e.size != int64(i) {
			t.Errorf("ListObjects: %s has size %d; want %d", e.key, e.size, i)
		}
	}
}

func testListObjectsCallbackError(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	for i := range 3 {
		if err := o.PutObject(ctx, fmt.Sprintf("log/w/%020d", i+1), []byte("r")); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	var seen []string
	err := o.ListObjects(ctx, "log/", func(key string, _ int64) error {
		seen = append(seen, key)
		return stop
	})
	if !errors.Is(err, stop) || len(seen) != 1 || seen[0] != fmt.Sprintf("log/w/%020d", 1) {
		t.Errorf("ListObjects = %v after %q; want the callback's error after the first key", err, seen)
	}
	// The callback may call the store, as gc deletes what it lists.
	err = o.ListObjects(ctx, "log/", func(key string, _ int64) error { return o.DeleteObject(ctx, key) })
	if err != nil {
		t.Fatalf("ListObjects deleting as it goes: %v", err)
	}
	if got := listObjects(t, o, ""); len(got) != 0 {
		t.Errorf("after deleting every listed key, ListObjects = %v", got)
	}
}

func testDeleteObject(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	for _, k := range []string{"log/w/1", "log/w/2"} {
		if err := o.PutObject(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.DeleteObject(ctx, "log/w/1"); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if _, err := o.GetObject(ctx, "log/w/1"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("GetObject after DeleteObject: %v; want ErrNotFound", err)
	}
	if err := o.DeleteObject(ctx, "log/w/1"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("second DeleteObject: %v; want ErrNotFound", err)
	}
	if err := o.DeleteObject(ctx, "log/never"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("DeleteObject of a key never put: %v; want ErrNotFound", err)
	}
	if got := keysOf(listObjects(t, o, "")); !slices.Equal(got, []string{"log/w/2"}) {
		t.Errorf("ListObjects after DeleteObject = %q; want only log/w/2", got)
	}
	// A deleted key can be put again (a superseded checkpoint's seq is
	// never reused, but gc plans come and go).
	if err := o.PutObject(ctx, "log/w/1", []byte("again")); err != nil {
		t.Fatalf("PutObject after DeleteObject: %v", err)
	}
	if got := get(t, o, "log/w/1"); string(got) != "again" {
		t.Errorf("re-put object holds %q", got)
	}
}

// testConcurrentPutsOneKey: two writers racing for one log seq. Exactly
// one put succeeds, every other gets ErrExists, and the object holds the
// winner's bytes.
func testConcurrentPutsOneKey(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	for round := range 3 {
		key := fmt.Sprintf("log/w/%020d", round+1)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for g := range n {
			wg.Go(func() {
				errs[g] = o.PutObject(ctx, key, fmt.Appendf(nil, "writer %d of round %d", g, round))
			})
		}
		wg.Wait()
		winner := -1
		for g, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both put %s", round, winner, g, key)
			case err == nil:
				winner = g
			case !errors.Is(err, blobstore.ErrExists):
				t.Errorf("round %d: writer %d: %v; want nil or ErrExists", round, g, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer put %s", round, key)
		}
		if got := get(t, o, key); string(got) != fmt.Sprintf("writer %d of round %d", winner, round) {
			t.Errorf("round %d: %s holds %q; the winner was writer %d", round, key, got, winner)
		}
	}
}

func testConcurrentPutsManyKeys(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var want []string
	for g := range 6 {
		for i := range 5 {
			want = append(want, fmt.Sprintf("log/w%d/%020d", g, i+1))
		}
		wg.Go(func() {
			for i := range 5 {
				key := fmt.Sprintf("log/w%d/%020d", g, i+1)
				if err := o.PutObject(ctx, key, []byte(key)); err != nil {
					t.Errorf("PutObject(%s): %v", key, err)
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(want)
	if got := keysOf(listObjects(t, o, "log/")); !slices.Equal(got, want) {
		t.Errorf("ListObjects = %q; want %q", got, want)
	}
}

// invalidKeys are refused by every method: they escape, alias packs/ or
// local/, or fall outside the key alphabet.
var invalidKeys = []string{
	"", "/", "/log/1", "log/", "log//1", "./log", "log/./1", "log/../1", "..", ".",
	"packs/ab/x.pack", "packs/x", "local/catalog.db", "local/key",
	"Log/1", "log/a b", "log/\x00", "log\\1", "log/é",
}

func testInvalidKeys(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	for _, key := range invalidKeys {
		if blobstore.ValidKey(key) {
			t.Errorf("ValidKey(%q) = true", key)
		}
		if err := o.PutObject(ctx, key, []byte("x")); !errors.Is(err, blobstore.ErrInvalidName) {
			t.Errorf("PutObject(%q): %v; want ErrInvalidName", key, err)
		}
		if _, err := o.GetObject(ctx, key); !errors.Is(err, blobstore.ErrInvalidName) {
			t.Errorf("GetObject(%q): %v; want ErrInvalidName", key, err)
		}
		if err := o.DeleteObject(ctx, key); !errors.Is(err, blobstore.ErrInvalidName) {
			t.Errorf("DeleteObject(%q): %v; want ErrInvalidName", key, err)
		}
	}
	if got := listObjects(t, o, ""); len(got) != 0 {
		t.Errorf("ListObjects after refused puts = %v; want nothing", got)
	}
	for _, key := range []string{"cairn.repo", "log/0123abcdef/00000000000000000001", "keys/a-b_c.key", "gc/x..y"} {
		if !blobstore.ValidKey(key) {
			t.Errorf("ValidKey(%q) = false", key)
		}
	}
}

func testEmptyObject(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	if err := o.PutObject(ctx, "locks/gc", nil); err != nil {
		t.Fatalf("PutObject of nothing: %v", err)
	}
	if got := get(t, o, "locks/gc"); len(got) != 0 {
		t.Errorf("empty object reads back %d bytes", len(got))
	}
	if err := o.PutObject(ctx, "locks/gc", nil); !errors.Is(err, blobstore.ErrExists) {
		t.Errorf("second put of the empty object: %v; want ErrExists", err)
	}
	if got := listObjects(t, o, "locks/"); len(got) != 1 || got[0].size != 0 {
		t.Errorf("ListObjects = %v; want locks/gc with size 0", got)
	}
}

// testListDated checks the store's clock as ListObjectsDated reports it:
// every object dated, a later put never dated before an earlier one by
// more than the coarsest resolution in use (S3's Last-Modified has whole
// seconds), a re-put after a delete dated anew, and the same keys and
// sizes as ListObjects. The servers of the tests run on this machine, so
// the store's clock is this one's give or take a few seconds.
func testListDated(t *testing.T, o blobstore.Objects) {
	ctx := context.Background()
	before := time.Now()
	for _, k := range []string{"gc/b", "gc/a", "locks/gc"} {
		if err := o.PutObject(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	dated := map[string]time.Time{}
	var keys []string
	err := o.ListObjectsDated(ctx, "gc/", func(key string, size int64, modified time.Time) error {
		if size != int64(len(key)) {
			t.Errorf("%s listed with size %d; want %d", key, size, len(key))
		}
		keys = append(keys, key)
		dated[key] = modified
		return nil
	})
	if err != nil {
		t.Fatalf("ListObjectsDated: %v", err)
	}
	if want := keysOf(listObjects(t, o, "gc/")); !slices.Equal(keys, want) {
		t.Fatalf("ListObjectsDated listed %v; ListObjects %v", keys, want)
	}
	for k, m := range dated {
		if m.IsZero() {
			t.Fatalf("%s listed without a date", k)
		}
		if d := m.Sub(before); d < -time.Minute || d > time.Minute {
			t.Errorf("%s dated %v, %v from this machine's clock at its put", k, m, d)
		}
	}
	if dated["gc/a"].Before(dated["gc/b"].Add(-time.Second)) {
		t.Errorf("gc/a, put after gc/b, dated %v, before gc/b's %v", dated["gc/a"], dated["gc/b"])
	}
	if err := o.DeleteObject(ctx, "gc/b"); err != nil {
		t.Fatal(err)
	}
	if err := o.PutObject(ctx, "gc/b", []byte("gc/b")); err != nil {
		t.Fatal(err)
	}
	err = o.ListObjectsDated(ctx, "gc/b", func(key string, _ int64, modified time.Time) error {
		if modified.Before(dated["gc/a"].Add(-time.Second)) {
			t.Errorf("gc/b put again after gc/a dated %v, before gc/a's %v", modified, dated["gc/a"])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
