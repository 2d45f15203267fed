// Package watch turns file system events into snapshots: it watches a
// directory tree with inotify (through fsnotify, one watch per directory),
// gathers the paths that changed, and asks for a snapshot of just those
// once the changes settle. Events are hints: the snapshot still compares
// what it looks at, and a full rescan runs at the start, after lost events
// (queue overflow, watcher errors), and every MaxInterval, so nothing the
// events missed stays missed for long.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// SnapshotFunc takes one snapshot of the source. changed lists the paths
// (relative to the source, '/'-separated) that may have changed since the
// last snapshot began; nil asks for a full rescan. After an error the next
// snapshot is a full rescan.
type SnapshotFunc func(ctx context.Context, changed []string) error

// Options tune a watch.
type Options struct {
	// Debounce is the quiet time after the last event before a snapshot
	// is taken (default 2s).
	Debounce time.Duration
	// MaxInterval bounds the wait: a snapshot is taken at most this long
	// after the first pending event however busy the tree is, and a full
	// rescan runs this often regardless (default 1h).
	MaxInterval time.Duration
	// Ignore lists absolute paths whose events are dropped and beneath
	// which nothing is watched: the repository, when it lies inside the
	// source, whose own writes would otherwise trigger snapshots forever.
	Ignore []string
	// Unwatched, when set, returns the rule for directories not to watch
	// (rel is '/'-separated, relative to the source): those the snapshot
	// excludes, so that node_modules/ costs no inotify watches. It is
	// asked again whenever the source's .cairnignore changes.
	Unwatched func() func(rel string) bool
	// Note receives what a person running the watch should know (the
	// source vanished, inotify ran out of watches, a snapshot failed).
	Note func(msg string)
	// Poll is how often a vanished source is looked for (default 1s).
	Poll time.Duration

	// maxWatches, when > 0, makes adding watch number maxWatches+1 fail as
	// inotify does when fs.inotify.max_user_watches is reached (tests).
	maxWatches int
	// injected errors are handled as if the watcher reported them (tests).
	injected chan error
}

const (
	// degradedEvery is how often the tree is rescanned whole when inotify
	// has no watches left: the cadence of the timer recipe in
	// docs/continuous.md, unless MaxInterval is shorter.
	degradedEvery = 10 * time.Minute
	// retryAfter spaces the attempts after a failed snapshot.
	retryAfter = 30 * time.Second
	// maxPending is where a list of changed paths stops paying: looking
	// at each costs a stat and a catalog lookup, and beyond this many a
	// full walk (300k files/s) is about as quick.
	maxPending = 20000
)

// Run watches source until ctx ends and calls snap for every snapshot.
// It returns nil when ctx ends (after the in-flight snapshot, which sees
// ctx canceled and so either commits whole or not at all), or an error if
// the source is not a directory to begin with.
func Run(ctx context.Context, source string, snap SnapshotFunc, opts Options) error {
	if opts.Debounce <= 0 {
		opts.Debounce = 2 * time.Second
	}
	if opts.MaxInterval <= 0 {
		opts.MaxInterval = time.Hour
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Note == nil {
		opts.Note = func(string) {}
	}
	root, err := filepath.Abs(source)
	if err != nil {
		return fmt.Errorf("watch %s: %w", source, err)
	}
	if fi, err := os.Stat(root); err != nil {
		return fmt.Errorf("watch %s: %w", root, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("watch %s: not a directory", root)
	}
	w := &watcher{root: filepath.Clean(root), snap: snap, opts: opts, pending: map[string]bool{}}
	for _, p := range opts.Ignore {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		w.ignore = append(w.ignore, filepath.Clean(p))
	}
	return w.run(ctx)
}

type watcher struct {
	root   string
	snap   SnapshotFunc
	opts   Options
	ignore []string

	fw        *fsnotify.Watcher // nil while degraded or while the source is gone
	watched   map[string]bool   // absolute directories with a watch
	degraded  bool              // inotify ran out of watches: full rescans only
	unwatched func(rel string) bool
	gone      bool // the source itself was removed or renamed

	pending      map[string]bool // paths changed since the last snapshot began
	full         bool            // the next snapshot must be a full rescan
	firstPending time.Time       // zero: nothing pending
	lastEvent    time.Time
	lastFull     time.Time
	notBefore    time.Time // after a failed snapshot
}

func (w *watcher) run(ctx context.Context) error {
	defer w.closeWatcher()
	w.start()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var done chan error // the in-flight snapshot, if any
	var started time.Time
	var wasFull bool
	for {
		if done == nil && w.gone {
			if !w.waitForSource(ctx) {
				return nil
			}
			continue
		}
		var events <-chan fsnotify.Event
		var errs <-chan error
		if w.fw != nil {
			events, errs = w.fw.Events, w.fw.Errors
		}
		if done == nil {
			timer.Reset(max(0, time.Until(w.next())))
		}
		select {
		case <-ctx.Done():
			if done != nil {
				<-done
			}
			return nil
		case ev, ok := <-events:
			if ok {
				w.event(ev)
			} else {
				w.lost(errors.New("the event channel closed"))
			}
		case err, ok := <-errs:
			if ok {
				w.lost(err)
			}
		case err := <-w.opts.injected:
			w.lost(err)
		case err := <-done:
			done = nil
			switch {
			case ctx.Err() != nil:
			case err != nil:
				if _, statErr := os.Stat(w.root); statErr != nil {
					w.gone = true
					continue
				}
				w.opts.Note(fmt.Sprintf("snapshot of %s failed: %v; trying again in %s with a full rescan", w.root, err, retryAfter))
				w.full = true
				w.mark()
				w.notBefore = time.Now().Add(min(retryAfter, w.opts.MaxInterval))
			case wasFull:
				w.lastFull = started
			}
		case <-timer.C:
			if done != nil || time.Now().Before(w.next()) {
				continue
			}
			changed, full := w.take()
			started, wasFull = time.Now(), full
			done = make(chan error, 1)
			go func() { done <- w.snap(ctx, changed) }()
		}
	}
}

// next is when the next snapshot is due: Debounce after the last event,
// but no later than MaxInterval after the first pending one, and a full
// rescan a rescan period after the last.
func (w *watcher) next() time.Time {
	due := w.lastFull.Add(w.rescanEvery())
	if !w.firstPending.IsZero() {
		due = minTime(due, minTime(w.lastEvent.Add(w.opts.Debounce), w.firstPending.Add(w.opts.MaxInterval)))
	}
	if due.Before(w.notBefore) {
		due = w.notBefore
	}
	return due
}

func (w *watcher) rescanEvery() time.Duration {
	if w.degraded {
		return min(w.opts.MaxInterval, degradedEvery)
	}
	return w.opts.MaxInterval
}

// take empties what is pending: the changed paths, or nil for a full
// rescan (when one was asked for or is due).
func (w *watcher) take() (changed []string, full bool) {
	full = w.full || w.degraded || !time.Now().Before(w.lastFull.Add(w.rescanEvery())) || len(w.pending) > maxPending
	if !full {
		changed = make([]string, 0, len(w.pending))
		for p := range w.pending {
			changed = append(changed, p)
		}
		sort.Strings(changed)
	}
	w.pending, w.full, w.firstPending, w.notBefore = map[string]bool{}, false, time.Time{}, time.Time{}
	return changed, full
}

// mark notes that something is pending now.
func (w *watcher) mark() {
	now := time.Now()
	if w.firstPending.IsZero() {
		w.firstPending = now
	}
	w.lastEvent = now
}

// start watches the tree and asks for a full rescan at once.
func (w *watcher) start() {
	w.full = true
	w.firstPending, w.lastEvent = time.Now(), time.Now().Add(-w.opts.Debounce)
	if w.degraded {
		return
	}
	fw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		// EMFILE: fs.inotify.max_user_instances is reached.
		w.degrade(err)
		return
	}
	w.fw, w.watched = fw, map[string]bool{}
	w.unwatched = nil
	if w.opts.Unwatched != nil {
		w.unwatched = w.opts.Unwatched()
	}
	w.addTree(w.root, false)
}

func (w *watcher) closeWatcher() {
	if w.fw != nil {
		w.fw.Close()
	}
	w.fw, w.watched = nil, nil
}

// degrade gives up on events after inotify ran out of watches: the tree
// is rescanned whole every rescan period instead.
func (w *watcher) degrade(err error) {
	w.closeWatcher()
	w.degraded = true
	w.full = true
	w.mark()
	w.opts.Note(fmt.Sprintf("cannot watch %s with inotify (%v; raise fs.inotify.max_user_watches or exclude directories); taking a full snapshot every %s instead",
		w.root, err, w.rescanEvery()))
}

// lost handles events that may have been dropped: the watches are set up
// again (a directory created meanwhile has none) and everything rescanned.
func (w *watcher) lost(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.opts.Note(fmt.Sprintf("events for %s were lost (the inotify queue overflowed); rescanning everything", w.root))
	} else {
		w.opts.Note(fmt.Sprintf("watching %s: %v; rescanning everything", w.root, err))
	}
	w.closeWatcher()
	w.start()
	w.lastEvent = time.Now() // wait for the burst that overflowed the queue to settle
}

// event records one change and keeps the watches in step with the tree.
func (w *watcher) event(ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	if w.ignored(name) {
		return
	}
	if name == w.root {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			w.gone = true
			return
		}
		w.pending["."] = true
		w.mark()
		return
	}
	rel, ok := w.rel(name)
	if !ok {
		return
	}
	if shmOfDatabase(name, ev) {
		return
	}
	w.pending[rel] = true
	w.mark()
	if rel == ".cairnignore" && w.fw != nil {
		// Other directories may be excluded now: watch them anew (the
		// snapshot rescans everything for a changed .cairnignore anyway).
		w.closeWatcher()
		w.start()
		w.lastEvent = time.Now() // still debounced
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.dropWatches(name)
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(name); err == nil && fi.IsDir() {
			// A new directory's contents made before its watch existed
			// produced no events: list them all (mkdir -p a/b/c; touch
			// a/b/c/f is usually done before the watch on a is).
			w.addTree(name, true)
		}
	}
}

// shmOfDatabase reports whether ev only writes the -shm of a database
// beside it. A -shm is never stored, and every reader of a WAL database
// writes it, cairn's own capture included: left as an event, a snapshot of
// a source holding an open database triggered the next one, over and over
// (23 snapshots in 6 s). A changed database shows in its -wal and itself.
func shmOfDatabase(name string, ev fsnotify.Event) bool {
	db, ok := strings.CutSuffix(name, "-shm")
	if !ok || ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		return false
	}
	fi, err := os.Lstat(db)
	return err == nil && fi.Mode().IsRegular()
}

func (w *watcher) rel(name string) (string, bool) {
	rel, err := filepath.Rel(w.root, name)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

func (w *watcher) ignored(p string) bool {
	for _, ig := range w.ignore {
		if p == ig || strings.HasPrefix(p, ig+"/") {
			return true
		}
	}
	return false
}

// addTree watches dir and every directory beneath it; record adds every
// path found to the pending ones.
func (w *watcher) addTree(dir string, record bool) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished or unreadable: the snapshot will say
		}
		if w.ignored(p) {
			return filepath.SkipDir
		}
		if record {
			if rel, ok := w.rel(p); ok {
				w.pending[rel] = true
			}
		}
		if !d.IsDir() || w.fw == nil {
			return nil
		}
		if w.unwatched != nil && p != w.root {
			if rel, ok := w.rel(p); ok && w.unwatched(rel) {
				return filepath.SkipDir // excluded: nothing beneath is snapshotted
			}
		}
		if err := w.add(p); err != nil {
			if errors.Is(err, unix.ENOSPC) {
				w.degrade(err)
				return filepath.SkipAll
			}
			return nil // gone again, or unreadable
		}
		return nil
	})
}

func (w *watcher) add(dir string) error {
	if w.watched[dir] {
		return nil
	}
	if w.opts.maxWatches > 0 && len(w.watched) >= w.opts.maxWatches {
		return fmt.Errorf("add watch %s: %w", dir, unix.ENOSPC)
	}
	if err := w.fw.Add(dir); err != nil {
		return err
	}
	w.watched[dir] = true
	return nil
}

// dropWatches forgets the watches at and beneath a removed or renamed
// directory: inotify drops a removed one itself, but one renamed within
// the tree would report events under its old name.
func (w *watcher) dropWatches(dir string) {
	for p := range w.watched {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			if w.fw != nil {
				w.fw.Remove(p) // already gone when the directory was removed
			}
			delete(w.watched, p)
		}
	}
}

// waitForSource waits for a vanished source to come back, then watches it
// again with a full rescan; false when ctx ended first.
func (w *watcher) waitForSource(ctx context.Context) bool {
	w.closeWatcher()
	w.opts.Note(fmt.Sprintf("%s is gone; waiting for it to come back", w.root))
	t := time.NewTicker(w.opts.Poll)
	defer t.Stop()
	for {
		if fi, err := os.Stat(w.root); err == nil && fi.IsDir() {
			w.gone = false
			w.pending = map[string]bool{}
			w.opts.Note(fmt.Sprintf("%s is back; rescanning it", w.root))
			w.start()
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
