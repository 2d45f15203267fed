package keycache_test

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/internal/keycache"
)

func private(t *testing.T) keycache.Ring {
	t.Helper()
	r, err := keycache.NewPrivate(fmt.Sprintf("cairn-test-%d-%s", os.Getpid(), t.Name()))
	if err != nil {
		t.Skipf("no kernel keyring here: %v", err)
	}
	return r
}

func TestPutGetDrop(t *testing.T) {
	r := private(t)
	if _, ok := r.Get("cairn:a"); ok {
		t.Fatal("an empty keyring has an entry")
	}
	if err := r.Put("cairn:a", []byte("one"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := r.Put("cairn:b", bytes.Repeat([]byte{7}, 1000), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := r.Put("other:c", []byte("three"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, ok := r.Get("cairn:a"); !ok || string(got) != "one" {
		t.Fatalf("Get = %q, %v; want one", got, ok)
	}
	// A payload longer than Get's first buffer is read whole.
	if got, ok := r.Get("cairn:b"); !ok || !bytes.Equal(got, bytes.Repeat([]byte{7}, 1000)) {
		t.Fatalf("Get of 1000 bytes = %d bytes, %v", len(got), ok)
	}
	// Put replaces.
	if err := r.Put("cairn:a", []byte("two"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, ok := r.Get("cairn:a"); !ok || string(got) != "two" {
		t.Fatalf("Get after a second Put = %q, %v; want two", got, ok)
	}
	r.Drop("cairn:a")
	if _, ok := r.Get("cairn:a"); ok {
		t.Fatal("an entry survives Drop")
	}
	n, err := r.DropPrefix("cairn:")
	if err != nil || n != 1 {
		t.Fatalf("DropPrefix = %d, %v; want 1 (cairn:b)", n, err)
	}
	if _, ok := r.Get("cairn:b"); ok {
		t.Fatal("an entry survives DropPrefix")
	}
	if got, ok := r.Get("other:c"); !ok || string(got) != "three" {
		t.Fatalf("DropPrefix removed an entry of another prefix: %q, %v", got, ok)
	}
}

// TestTimeout: an entry is gone once its lifetime has passed.
func TestTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a timeout")
	}
	r := private(t)
	if err := r.Put("cairn:short", []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Get("cairn:short"); !ok {
		t.Fatal("no entry right after Put")
	}
	time.Sleep(2100 * time.Millisecond)
	if got, ok := r.Get("cairn:short"); ok {
		t.Fatalf("entry %q outlives its timeout", got)
	}
}

// TestUnavailable: a keyring that cannot be used finds nothing and
// refuses to store, without panicking: callers fall back to their slow
// path.
func TestUnavailable(t *testing.T) {
	r := private(t)
	if err := r.Put("cairn:x", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := r.DropPrefix(""); err != nil {
		t.Fatal(err)
	}
	// The keyring itself invalidated: every operation on it fails.
	gone := keycache.Invalidated(r)
	if _, ok := gone.Get("cairn:x"); ok {
		t.Fatal("Get from an invalidated keyring found an entry")
	}
	if err := gone.Put("cairn:x", []byte("x"), time.Minute); err == nil {
		t.Fatal("Put into an invalidated keyring succeeded")
	}
	if err := r.Put("cairn:x", []byte("x"), 0); err == nil {
		t.Fatal("Put without a lifetime succeeded")
	}
}
