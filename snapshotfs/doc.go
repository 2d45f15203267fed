// Package snapshotfs is a read-only io/fs view of one snapshot: the tree a
// snapshot recorded, with file bytes streamed from the blob store. Restore,
// cat, ls and dump can all read a snapshot through it (kopia's snapshotfs is
// the model: one view shared by every reader).
//
// # What it implements
//
// An *FS implements fs.FS, fs.StatFS, fs.ReadDirFS, fs.ReadFileFS and
// fs.ReadLinkFS, and passes testing/fstest.TestFS. Open returns a directory
// (an fs.ReadDirFile) or a regular file that also implements io.ReaderAt
// and io.Seeker. Every FileInfo's Sys() is the *catalog.Version it was made
// from, so a caller can see the capture method, JSON validity, and so on.
//
// # Paths and symbolic links
//
// Names are as in io/fs: slash-separated, relative to the source's root,
// "." for the root. One deliberate difference: a name need not be valid
// UTF-8, because Linux file names are bytes and a backup must be able to
// hand every one back; ReadDir lists such names and Open accepts them.
//
// Open, Stat and ReadFile follow symbolic links, as os.DirFS does; Lstat
// and ReadLink do not. Links are resolved inside the snapshot, component by
// component as the kernel would: a relative target is taken from the
// link's directory, an absolute target that lies under the source's own
// path is taken as the same path in the snapshot, and anything else (an
// absolute path elsewhere, or ".." above the root) fails with ErrOutside;
// the view never reads the live filesystem. A dangling link fails with
// fs.ErrNotExist, a cycle with ErrLinkLoop.
//
// # Reading files
//
// A file is its content's chunk list. Opening a file loads the content row
// only (its chunk ids: 8 bytes a chunk). Reading maps an offset to a chunk:
// for page-aligned database contents ("fixed:N") by division; for
// content-defined chunks by walking forward from the current chunk, which
// is all a sequential reader needs, or, for the first read elsewhere, by a
// binary search in cumulative chunk ends loaded once (one query for the
// sizes, another 8 bytes a chunk). Chunk locations are fetched 64 at a
// time and the last 16 such windows kept; only the chunks a read covers are
// fetched, decompressed and verified against their BLAKE3 ids
// (blobstore.Reader). An open file holds one decoded chunk (at most 512 KiB
// with the default chunker), at most 1,024 chunk locations, and its id and
// offset lists (16 bytes a chunk), never the whole file.
//
// A file read sequentially from the start to io.EOF is also checked
// against its whole-file hash; a mismatch is an error naming the path and
// wrapping blobstore.ErrCorrupt, returned with the last bytes. ReadFile
// always checks it.
//
// # Lifetime
//
// The context given to New bounds every catalog query and store read the
// view makes (io/fs methods take none). The view reads the catalog as it is
// at each call: it expects the snapshot not to be forgotten, and its packs
// not collected, while it is in use; if they are, reads fail with errors,
// never with wrong bytes.
package snapshotfs
