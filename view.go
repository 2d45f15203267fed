package cairn

import (
	"context"
	"io/fs"

	"github.com/cairn-dev/cairn/snapshotfs"
)

// SnapshotFS returns a read-only io/fs view of snapshot id: its tree, and
// its files' bytes streamed from the packs and verified on read. The value
// also implements fs.StatFS, fs.ReadDirFS, fs.ReadFileFS and fs.ReadLinkFS;
// its files implement io.ReaderAt and io.Seeker, and every FileInfo's Sys()
// is the *catalog.Version it describes. ctx bounds every read the view
// makes. See package snapshotfs for how paths and symbolic links resolve.
func (r *Repo) SnapshotFS(ctx context.Context, id int64) (fs.FS, error) {
	view, err := snapshotfs.New(ctx, r.DB, r.Store, id)
	if err != nil {
		return nil, err
	}
	return view, nil
}
