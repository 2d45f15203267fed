package keycache_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
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
	t.Cleanup(func() { r.Close() })
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
	if names, err := r.Names("cairn:"); err != nil || len(names) != 1 || names[0] != "cairn:b" {
		t.Fatalf("Names = %q, %v; want cairn:b", names, err)
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
	// The expired entry lingers until the kernel collects it (minutes);
	// a new one of its name must not wait for that.
	if err := r.Put("cairn:short", []byte("y"), time.Minute); err != nil {
		t.Fatalf("Put over an expired entry: %v", err)
	}
	if got, ok := r.Get("cairn:short"); !ok || string(got) != "y" {
		t.Fatalf("Get after Put over an expired entry = %q, %v", got, ok)
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

// TestChildProcess: another process of the same uid reads an entry by the
// keyring's serial, as the command's tests run the binary.
func TestChildProcess(t *testing.T) {
	if os.Getenv("KEYCACHE_CHILD") != "" {
		r := keycache.Serial(mustAtoi(os.Getenv("KEYCACHE_CHILD")))
		got, ok := r.Get("cairn:shared")
		if !ok || string(got) != "hello" {
			fmt.Printf("child got %q, %v\n", got, ok)
			os.Exit(1)
		}
		os.Exit(0)
	}
	r := private(t)
	if err := r.Put("cairn:shared", []byte("hello"), time.Minute); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("KEYCACHE_CHILD=%d", r.Serial()))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// TestUserAcrossProcesses: what one process puts into User another
// process of the uid reads, as one cron job leaves the key to the next.
// It uses the real keyring, under a name of its own, and removes it.
func TestUserAcrossProcesses(t *testing.T) {
	if name := os.Getenv("KEYCACHE_USER_CHILD"); name != "" {
		got, ok := keycache.User().Get(name)
		if !ok || string(got) != "hello" {
			fmt.Printf("child got %q, %v\n", got, ok)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if _, err := keycache.NewPrivate("cairn-probe"); err != nil {
		t.Skipf("no kernel keyring here: %v", err)
	}
	name := fmt.Sprintf("cairn-test:%d:%d", os.Getpid(), time.Now().UnixNano())
	u := keycache.User()
	if err := u.Put(name, []byte("hello"), time.Minute); err != nil {
		t.Fatal(err)
	}
	defer u.Drop(name)
	cmd := exec.Command(os.Args[0], "-test.run=^TestUserAcrossProcesses$")
	cmd.Env = append(os.Environ(), "KEYCACHE_USER_CHILD="+name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestUserFromManyThreads: the uid's keyring works from whichever thread
// a goroutine runs on. A keyring linked into one thread's process keyring
// is not possessed by the others, so before every call made its own
// thread possess it, a Put from another thread than User's failed
// (EACCES) and cairn paid argon2id every time.
func TestUserFromManyThreads(t *testing.T) {
	if _, err := keycache.NewPrivate("cairn-probe"); err != nil {
		t.Skipf("no kernel keyring here: %v", err)
	}
	u := keycache.User()
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			runtime.LockOSThread() // each on a thread of its own
			defer runtime.UnlockOSThread()
			name := fmt.Sprintf("cairn-test:%d:%d:%d", os.Getpid(), time.Now().UnixNano(), i)
			defer u.Drop(name)
			if err := u.Put(name, []byte("x"), time.Minute); err != nil {
				errs <- err
				return
			}
			if _, ok := u.Get(name); !ok {
				errs <- fmt.Errorf("no entry %s after Put", name)
				return
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
