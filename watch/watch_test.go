package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// call is one snapshot the watcher asked for: the changed paths, or nil
// for a full rescan.
type call struct {
	changed []string
	full    bool
}

// session runs a watch on a real directory with real inotify; its
// snapshots are recorded, not taken (the root package's tests take them).
type session struct {
	t      *testing.T
	root   string
	calls  chan call
	notes  chan string
	cancel context.CancelFunc
	done   chan error
}

func startWatch(t *testing.T, root string, opts Options) *session {
	t.Helper()
	s := &session{t: t, root: root, calls: make(chan call, 100), notes: make(chan string, 100), done: make(chan error, 1)}
	if opts.Debounce == 0 {
		opts.Debounce = 150 * time.Millisecond
	}
	if opts.MaxInterval == 0 {
		opts.MaxInterval = time.Hour
	}
	opts.Poll = 50 * time.Millisecond
	opts.Note = func(msg string) {
		t.Logf("note: %s", msg)
		s.notes <- msg
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		s.done <- Run(ctx, root, func(ctx context.Context, changed []string) error {
			s.calls <- call{changed: changed, full: changed == nil}
			return nil
		}, opts)
	}()
	t.Cleanup(func() { s.stop() })
	s.next(true) // the full rescan at the start
	return s
}

func (s *session) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("watch ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		s.t.Error("watch did not end within 5s of its context")
	}
}

// next waits for the next snapshot, which must be full or partial as said.
func (s *session) next(full bool) call {
	s.t.Helper()
	select {
	case c := <-s.calls:
		if c.full != full {
			s.t.Fatalf("got a snapshot with full=%v (%v), want full=%v", c.full, c.changed, full)
		}
		return c
	case <-time.After(5 * time.Second):
		s.t.Fatalf("no snapshot (full=%v) within 5s", full)
	}
	return call{}
}

// quiet asserts that no snapshot is asked for during d.
func (s *session) quiet(d time.Duration) {
	s.t.Helper()
	select {
	case c := <-s.calls:
		s.t.Fatalf("unexpected snapshot %+v", c)
	case <-time.After(d):
	}
}

func (s *session) note(sub string) {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case n := <-s.notes:
			if strings.Contains(n, sub) {
				return
			}
		case <-deadline:
			s.t.Fatalf("no note saying %q within 5s", sub)
		}
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func contains(t *testing.T, c call, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(c.changed, w) {
			t.Errorf("changed %v lacks %s", c.changed, w)
		}
	}
}

func TestChangesSettleIntoOneSnapshot(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a.txt"), "a")
	s := startWatch(t, root, Options{Debounce: 300 * time.Millisecond})
	// A burst with gaps shorter than the debounce is one snapshot.
	for i := 0; i < 5; i++ {
		write(t, filepath.Join(root, fmt.Sprintf("f%d.txt", i)), "x")
		time.Sleep(50 * time.Millisecond)
	}
	c := s.next(false)
	contains(t, c, "f0.txt", "f4.txt")
	s.quiet(500 * time.Millisecond)
	write(t, filepath.Join(root, "a.txt"), "changed")
	contains(t, s.next(false), "a.txt")
}

func TestMaxIntervalBoundsTheWait(t *testing.T) {
	root := t.TempDir()
	s := startWatch(t, root, Options{Debounce: 400 * time.Millisecond, MaxInterval: 900 * time.Millisecond})
	// Changes every 100ms never leave the debounce quiet; the snapshot
	// comes anyway, MaxInterval after the first of them. It is a full
	// rescan: that too is due every MaxInterval.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				os.WriteFile(filepath.Join(root, "busy.txt"), []byte(fmt.Sprint(i)), 0o644)
			}
		}
	}()
	begin := time.Now()
	s.next(true)
	close(stop)
	wg.Wait()
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("the snapshot came after %s of constant changes, want about 0.9s", took)
	}
}

func TestPeriodicFullRescan(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a.txt"), "a")
	s := startWatch(t, root, Options{MaxInterval: 400 * time.Millisecond})
	// No event at all: a full rescan every MaxInterval regardless.
	s.next(true)
	s.next(true)
}

func TestNewDirectoriesAreWatched(t *testing.T) {
	root := t.TempDir()
	s := startWatch(t, root, Options{})
	// Made faster than a watch can be added on "a": the listing finds them.
	write(t, filepath.Join(root, "a", "b", "c", "f.txt"), "f")
	contains(t, s.next(false), "a", "a/b/c/f.txt")
	// Now watched: a change deep inside is seen by itself.
	write(t, filepath.Join(root, "a", "b", "c", "g.txt"), "g")
	c := s.next(false)
	contains(t, c, "a/b/c/g.txt")
	// Removed and made again: the new directory is watched too.
	if err := os.RemoveAll(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	contains(t, s.next(false), "a")
	write(t, filepath.Join(root, "a", "b", "h.txt"), "h")
	contains(t, s.next(false), "a", "a/b/h.txt")
	write(t, filepath.Join(root, "a", "b", "i.txt"), "i")
	contains(t, s.next(false), "a/b/i.txt")
}

func TestRenamedDirectoryIsWatchedUnderItsNewName(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "old", "sub", "f.txt"), "f")
	s := startWatch(t, root, Options{})
	if err := os.Rename(filepath.Join(root, "old"), filepath.Join(root, "new")); err != nil {
		t.Fatal(err)
	}
	contains(t, s.next(false), "old", "new", "new/sub/f.txt")
	write(t, filepath.Join(root, "new", "sub", "g.txt"), "g")
	c := s.next(false)
	contains(t, c, "new/sub/g.txt")
	for _, p := range c.changed {
		if strings.HasPrefix(p, "old/") {
			t.Errorf("a change reported under the old name: %v", c.changed)
		}
	}
}

func TestRepositoryInsideIsIgnored(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, ".repo")
	write(t, filepath.Join(repo, "catalog.db"), "x")
	s := startWatch(t, root, Options{Ignore: []string{repo}})
	write(t, filepath.Join(repo, "catalog.db"), "y")
	write(t, filepath.Join(repo, "packs", "p1"), "y")
	s.quiet(500 * time.Millisecond)
}

func TestLostEventsForceAFullRescan(t *testing.T) {
	root := t.TempDir()
	injected := make(chan error)
	s := startWatch(t, root, Options{injected: injected})
	injected <- fsnotify.ErrEventOverflow
	s.note("overflowed")
	s.next(true)
	// Watches are set up again: changes are seen as before.
	write(t, filepath.Join(root, "d", "f.txt"), "f")
	contains(t, s.next(false), "d/f.txt")
	injected <- fmt.Errorf("some watcher error")
	s.note("some watcher error")
	s.next(true)
}

func TestOutOfWatchesFallsBackToRescans(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 5; i++ {
		write(t, filepath.Join(root, fmt.Sprintf("d%d", i), "f.txt"), "f")
	}
	notes := make(chan string, 10)
	opts := Options{maxWatches: 3, MaxInterval: 500 * time.Millisecond, Debounce: 100 * time.Millisecond, Poll: time.Second,
		Note: func(m string) { notes <- m }}
	calls := make(chan []string, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Run(ctx, root, func(ctx context.Context, changed []string) error { calls <- changed; return nil }, opts)
	select {
	case n := <-notes:
		if !strings.Contains(n, "max_user_watches") {
			t.Errorf("note %q does not say what to raise", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no note about running out of watches")
	}
	for i := 0; i < 2; i++ {
		select {
		case c := <-calls:
			if c != nil {
				t.Errorf("a partial snapshot %v without watches", c)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no periodic full rescan")
		}
	}
}

func TestSourceVanishesAndComesBack(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "src")
	write(t, filepath.Join(root, "a.txt"), "a")
	s := startWatch(t, root, Options{})
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	s.note("is gone")
	// Whatever was asked for while it vanished, the return brings a full
	// rescan, and watching resumes.
	drain(s.calls)
	write(t, filepath.Join(root, "b.txt"), "b")
	s.note("is back")
	s.next(true)
	write(t, filepath.Join(root, "c.txt"), "c")
	contains(t, s.next(false), "c.txt")
}

func drain(ch chan call) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestStopWaitsForTheSnapshotInFlight(t *testing.T) {
	root := t.TempDir()
	started := make(chan struct{})
	finished := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, root, func(ctx context.Context, changed []string) error {
			close(started)
			<-ctx.Done() // a snapshot abandons its work when ctx ends
			time.Sleep(100 * time.Millisecond)
			close(finished)
			return ctx.Err()
		}, Options{})
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		select {
		case <-finished:
		default:
			t.Error("Run returned before the snapshot in flight ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end")
	}
}

func TestExcludedDirectoriesAreNotWatched(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "cache", "old.bin"), "x")
	write(t, filepath.Join(root, "keep", "a.txt"), "a")
	var mu sync.Mutex
	excluded := "cache"
	s := startWatch(t, root, Options{Unwatched: func() func(string) bool {
		mu.Lock()
		ex := excluded
		mu.Unlock()
		return func(rel string) bool { return rel == ex }
	}})
	write(t, filepath.Join(root, "cache", "new.bin"), "x")
	s.quiet(500 * time.Millisecond)
	write(t, filepath.Join(root, "keep", "b.txt"), "b")
	contains(t, s.next(false), "keep/b.txt")

	// A changed .cairnignore asks for the rule again and rescans.
	mu.Lock()
	excluded = ""
	mu.Unlock()
	write(t, filepath.Join(root, ".cairnignore"), "# nothing excluded\n")
	s.next(true)
	write(t, filepath.Join(root, "cache", "newer.bin"), "x")
	contains(t, s.next(false), "cache/newer.bin")
}

// TestSharedMemoryWritesAreIgnored: writes to a database's -shm (every
// reader makes them, cairn's own capture too) ask for no snapshot; writes
// to its -wal and to a file merely named like one still do.
func TestSharedMemoryWritesAreIgnored(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "app.db"), "db")
	write(t, filepath.Join(root, "app.db-shm"), "shm")
	write(t, filepath.Join(root, "lonely-shm"), "a file")
	s := startWatch(t, root, Options{})
	for i := 0; i < 5; i++ {
		write(t, filepath.Join(root, "app.db-shm"), fmt.Sprintf("shm %d", i))
	}
	s.quiet(500 * time.Millisecond)
	write(t, filepath.Join(root, "app.db-wal"), "wal")
	contains(t, s.next(false), "app.db-wal")
	write(t, filepath.Join(root, "lonely-shm"), "changed")
	contains(t, s.next(false), "lonely-shm")
}
