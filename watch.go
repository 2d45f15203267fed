package cairn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cairn-dev/cairn/snapshot"
	"github.com/cairn-dev/cairn/watch"
)

// WatchOptions tune Repo.Watch.
type WatchOptions struct {
	// Debounce is the quiet time after the last change before a snapshot
	// (default 2s); MaxInterval bounds the wait under constant change and
	// spaces the full rescans (default 1h). See package watch.
	Debounce, MaxInterval time.Duration
	// Snapshot is used for every snapshot (label, tags, excludes); its
	// Changed is set by the watch.
	Snapshot SnapshotOptions
	// OnSnapshot is called after each committed snapshot (one call at a
	// time, whichever source it is of).
	OnSnapshot func(*SnapshotResult)
	// Note receives what a person running the watch should know: a
	// source gone, inotify out of watches, a snapshot that failed.
	Note func(msg string)
}

// Watch snapshots each source shortly after its files change, each time
// comparing only what changed, until ctx ends; then it returns nil. Every
// snapshot takes and releases the locks as Snapshot does, so other
// commands (gc, forget, restore) run between them.
//
// A watch of a repository in a bucket confirms, as every snapshot does,
// that the key file it was opened with is still there (confirmKeys):
// once it is gone (removed on another host) no snapshot can be written
// with it, so the watch stops with ErrKeyGone instead of failing every
// retry; started again, it reads the bucket and opens with the key files
// there are.
func (r *Repo) Watch(ctx context.Context, sources []string, opts WatchOptions) error {
	if len(sources) == 0 {
		return errors.New("watch: no source given")
	}
	roots := make([]string, len(sources))
	for i, s := range sources {
		root, err := snapshot.CanonicalSource(s)
		if err != nil {
			return err
		}
		if fi, err := os.Stat(root); err != nil {
			return fmt.Errorf("source %s: %w", root, err)
		} else if !fi.IsDir() {
			return fmt.Errorf("source %s is not a directory", root)
		}
		roots[i] = root
	}
	if opts.Note == nil {
		opts.Note = func(string) {}
	}
	repoDir, err := filepath.Abs(r.skipDirs()[0])
	if err != nil {
		return fmt.Errorf("repository %s: %w", r.Dir, err)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var keyGone error // the first ErrKeyGone, which stops every source
	var mu sync.Mutex // one callback at a time; keyGone
	errs := make([]error, len(roots))
	var wg sync.WaitGroup
	for i, root := range roots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap := func(ctx context.Context, changed []string) error {
				o := opts.Snapshot
				o.Changed = changed
				res, err := r.Snapshot(ctx, root, o)
				if errors.Is(err, ErrKeyGone) {
					mu.Lock()
					if keyGone == nil {
						keyGone = fmt.Errorf("watch: %w", err)
					}
					mu.Unlock()
					stop()
				}
				// A result comes with an error only when the snapshot was
				// committed and retention failed after it (a stop arriving
				// then, say): it is reported all the same.
				if res != nil && opts.OnSnapshot != nil {
					mu.Lock()
					opts.OnSnapshot(res)
					mu.Unlock()
				}
				return err
			}
			note := func(msg string) {
				mu.Lock()
				opts.Note(msg)
				mu.Unlock()
			}
			// Excluded directories get no watch; an unreadable or invalid
			// .cairnignore watches everything (the snapshot reports it).
			unwatched := func() func(string) bool {
				excluded, err := snapshot.Excluded(root, opts.Snapshot.Excludes)
				if err != nil {
					return nil
				}
				return func(rel string) bool { return excluded(rel, true) }
			}
			errs[i] = watch.Run(ctx, root, snap, watch.Options{Debounce: opts.Debounce, MaxInterval: opts.MaxInterval,
				Ignore: []string{repoDir}, Unwatched: unwatched, Note: note})
		}()
	}
	wg.Wait()
	if keyGone != nil {
		return keyGone
	}
	return errors.Join(errs...)
}
