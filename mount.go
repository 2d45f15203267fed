package cairn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/mountfs"
)

// ErrMountUnavailable means this machine cannot mount FUSE file systems.
var ErrMountUnavailable = mountfs.ErrUnavailable

// MountOptions tune Mount.
type MountOptions struct {
	// Source shows only this source's snapshots at the root; "" shows a
	// directory per source.
	Source string
	// Ready is called once the file system is mounted.
	Ready func()
}

// Mount serves the repository's snapshots read-only at dir through FUSE
// (layout in package mountfs) until ctx ends or dir is unmounted from
// outside; it unmounts on the way out. It holds the repository's shared
// lock while mounted, so gc waits until the unmount instead of deleting
// packs a reader may need.
func (r *Repo) Mount(ctx context.Context, dir string, opts MountOptions) error {
	var source int64
	if opts.Source != "" {
		root, err := importSource(opts.Source)
		if err != nil {
			return err
		}
		src, err := r.db.SourceByPath(ctx, root)
		if errors.Is(err, catalog.ErrNotFound) {
			return fmt.Errorf("%s has never been snapshotted", root)
		}
		if err != nil {
			return err
		}
		source = src.ID
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("mount %s: %w", dir, err)
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return fmt.Errorf("mount %s: not a directory", dir)
	}
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return err
	}
	defer rl.Release()
	return mountfs.Serve(ctx, abs, r.db, r.store, r.codec(), source, opts.Ready)
}
