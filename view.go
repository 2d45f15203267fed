package cairn

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cairn-dev/cairn/archive"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/snapshotfs"
)

// SnapshotFS returns a read-only io/fs view of snapshot id: its tree, and
// its files' bytes streamed from the packs and verified on read. The value
// also implements fs.StatFS, fs.ReadDirFS, fs.ReadFileFS and fs.ReadLinkFS;
// its files implement io.ReaderAt and io.Seeker, and every FileInfo's Sys()
// is the *Version it describes. ctx bounds every read the view
// makes. See package snapshotfs for how paths and symbolic links resolve.
//
// The view takes no lock (an fs.FS has no Close to release one): a forget
// and gc running meanwhile can make its reads fail, never return wrong
// bytes. Dump, which knows when it ends, holds the repository lock shared.
func (r *Repo) SnapshotFS(ctx context.Context, id int64) (fs.FS, error) {
	view, err := snapshotfs.New(ctx, r.db, r.store, r.codec(), id)
	if err != nil {
		return nil, err
	}
	return view, nil
}

// DumpOptions choose what Dump writes.
type DumpOptions struct {
	// Snapshot is the snapshot to read; 0 means the newest that has the
	// path.
	Snapshot int64
	// Format is "tar" (the default) or "zip".
	Format string
}

// Dump writes a file or directory of a snapshot to w as a tar or zip
// stream (see package archive), read through the snapshot's view, and
// returns the snapshot it read. userPath is as the user typed it, inside
// a snapshotted source; a directory's entries are named from its own
// name, and the source's root from inside it.
func (r *Repo) Dump(ctx context.Context, userPath string, opts DumpOptions, w io.Writer) (int64, error) {
	format := archive.Tar
	if opts.Format != "" {
		var err error
		if format, err = archive.ParseFormat(opts.Format); err != nil {
			return 0, err
		}
	}
	// Shared: gc, which takes the lock exclusively, cannot delete packs
	// the dump is reading.
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return 0, err
	}
	defer rl.Release()
	req, _, err := r.Resolve(ctx, userPath, opts.Snapshot, false)
	if err != nil {
		return 0, err
	}
	view, err := snapshotfs.New(ctx, r.db, r.store, r.codec(), req.Snapshot.ID)
	if err != nil {
		return 0, err
	}
	if err := archive.Write(w, view, req.Path, format); err != nil {
		return req.Snapshot.ID, fmt.Errorf("dump %s from snapshot %d: %w", userPath, req.Snapshot.ID, err)
	}
	return req.Snapshot.ID, nil
}

// DumpFile is Dump into the file dst, which appears complete or not at
// all (written beside it, fsynced, renamed), with mode 0600: an archive
// may hold secrets.
func (r *Repo) DumpFile(ctx context.Context, userPath string, opts DumpOptions, dst string) (int64, error) {
	root, err := os.OpenRoot(filepath.Dir(dst))
	if err != nil {
		return 0, fmt.Errorf("dump to %s: %w", dst, err)
	}
	defer root.Close()
	var id int64
	err = atomicfile.Write(root, filepath.Base(dst), atomicfile.Options{Mode: 0o600}, func(w io.Writer) error {
		var err error
		id, err = r.Dump(ctx, userPath, opts, w)
		return err
	})
	if err != nil {
		return id, fmt.Errorf("dump to %s: %w", dst, err)
	}
	return id, nil
}
