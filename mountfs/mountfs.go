package mountfs

import (
	"cmp"
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/snapshotfs"
)

// Timeouts the kernel caches entries and attributes for: a snapshot's tree
// is immutable; the lists of snapshots change with every snap and forget.
const (
	treeTimeout = time.Hour
	listTimeout = time.Second
)

// repo is what every node reads from.
type repo struct {
	ctx      context.Context
	db       *catalog.DB
	store    blobstore.Store
	codec    *blobstore.Codec
	only     int64 // the one source shown, 0 for all
	uid, gid uint32
}

// New returns the root of the file system: the snapshots of source (an
// id; 0 shows every source, a directory each). ctx bounds every read.
func New(ctx context.Context, db *catalog.DB, store blobstore.Store, codec *blobstore.Codec, source int64, uid, gid uint32) gofs.InodeEmbedder {
	r := &repo{ctx: ctx, db: db, store: store, codec: codec, only: source, uid: uid, gid: gid}
	if source != 0 {
		return &sourceNode{repo: r, id: source}
	}
	return &rootNode{repo: r}
}

// errno turns an error into the code a file system call returns.
func errno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, catalog.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	}
	return syscall.EIO
}

// dirAttr fills the attributes of a directory cairn makes up (not one a
// snapshot recorded).
func (r *repo) dirAttr(out *fuse.Attr, mtime time.Time) {
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 2
	out.Owner = fuse.Owner{Uid: r.uid, Gid: r.gid}
	setTime(out, mtime)
}

func setTime(out *fuse.Attr, t time.Time) {
	if t.IsZero() {
		return
	}
	out.SetTimes(&t, &t, &t)
}

// rootNode lists the sources.
type rootNode struct {
	gofs.Inode
	*repo
}

var (
	_ gofs.NodeLookuper  = (*rootNode)(nil)
	_ gofs.NodeReaddirer = (*rootNode)(nil)
	_ gofs.NodeGetattrer = (*rootNode)(nil)
)

// sourceNames names each source by its base name, made unique with its id.
func sourceNames(sources []catalog.Source) map[string]int64 {
	count := map[string]int{}
	for _, s := range sources {
		count[baseName(s.Path)]++
	}
	names := map[string]int64{}
	for _, s := range sources {
		name := baseName(s.Path)
		if count[name] > 1 {
			name += "~" + strconv.FormatInt(s.ID, 10)
		}
		names[name] = s.ID
	}
	return names
}

func baseName(p string) string {
	if b := path.Base(p); b != "/" && b != "." {
		return b
	}
	return "root"
}

func (n *rootNode) sources() (map[string]int64, syscall.Errno) {
	sources, err := n.db.Sources(n.ctx)
	if err != nil {
		return nil, errno(err)
	}
	return sourceNames(sources), 0
}

func (n *rootNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	snaps, e := n.snapshots(0) // every source's
	n.dirAttr(&out.Attr, newest(snaps))
	out.SetTimeout(listTimeout)
	return e
}

func (n *rootNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	names, e := n.sources()
	if e != 0 {
		return nil, e
	}
	var list []fuse.DirEntry
	for name := range names {
		list = append(list, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR})
	}
	slices.SortFunc(list, func(a, b fuse.DirEntry) int { return cmp.Compare(a.Name, b.Name) })
	return gofs.NewListDirStream(list), 0
}

func (n *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	names, e := n.sources()
	if e != 0 {
		return nil, e
	}
	id, ok := names[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	child := &sourceNode{repo: n.repo, id: id}
	snaps, e := n.snapshots(id)
	if e != 0 {
		return nil, e
	}
	n.dirAttr(&out.Attr, newest(snaps))
	out.SetEntryTimeout(listTimeout)
	out.SetAttrTimeout(listTimeout)
	if ch := n.GetChild(name); ch != nil {
		if s, ok := ch.Operations().(*sourceNode); ok && s.id == id {
			return ch, 0
		}
	}
	return n.NewInode(ctx, child, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// sourceNode holds one source's snapshots/, by-time/ and latest.
type sourceNode struct {
	gofs.Inode
	*repo
	id int64
}

var (
	_ gofs.NodeLookuper  = (*sourceNode)(nil)
	_ gofs.NodeReaddirer = (*sourceNode)(nil)
	_ gofs.NodeGetattrer = (*sourceNode)(nil)
)

// snapshots lists the source's snapshots, oldest first.
func (r *repo) snapshots(source int64) ([]catalog.Snapshot, syscall.Errno) {
	snaps, err := r.db.Snapshots(r.ctx, source)
	if err != nil {
		return nil, errno(err)
	}
	return snaps, 0
}

// newest is the time of the newest snapshot: a directory of snapshots
// changed when the last one was taken.
func newest(snaps []catalog.Snapshot) time.Time {
	var t time.Time
	for _, s := range snaps {
		if s.Started.After(t) {
			t = s.Started
		}
	}
	return t
}

func (n *sourceNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	snaps, e := n.snapshots(n.id)
	n.dirAttr(&out.Attr, newest(snaps))
	out.SetTimeout(listTimeout)
	return e
}

func (n *sourceNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	list := []fuse.DirEntry{{Name: "by-time", Mode: syscall.S_IFDIR}}
	snaps, e := n.snapshots(n.id)
	if e != 0 {
		return nil, e
	}
	if len(snaps) > 0 {
		list = append(list, fuse.DirEntry{Name: "latest", Mode: syscall.S_IFLNK})
	}
	list = append(list, fuse.DirEntry{Name: "snapshots", Mode: syscall.S_IFDIR})
	return gofs.NewListDirStream(list), 0
}

func (n *sourceNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	snaps, e := n.snapshots(n.id)
	if e != 0 {
		return nil, e
	}
	out.SetEntryTimeout(listTimeout)
	out.SetAttrTimeout(listTimeout)
	var node gofs.InodeEmbedder
	mode := uint32(syscall.S_IFDIR)
	switch name {
	case "snapshots":
		node = &snapshotsNode{repo: n.repo, source: n.id}
		n.dirAttr(&out.Attr, newest(snaps))
	case "by-time":
		node = &byTimeNode{repo: n.repo, source: n.id}
		n.dirAttr(&out.Attr, newest(snaps))
	case "latest":
		if len(snaps) == 0 {
			return nil, syscall.ENOENT
		}
		l := &latestNode{repo: n.repo, source: n.id}
		l.attr(&out.Attr, snaps)
		node, mode = l, syscall.S_IFLNK
	default:
		return nil, syscall.ENOENT
	}
	if ch := n.GetChild(name); ch != nil {
		return ch, 0
	}
	return n.NewInode(ctx, node, gofs.StableAttr{Mode: mode}), 0
}

// latestNode is the symlink to the newest snapshot, looked up at each read.
type latestNode struct {
	gofs.Inode
	*repo
	source int64
}

var (
	_ gofs.NodeReadlinker = (*latestNode)(nil)
	_ gofs.NodeGetattrer  = (*latestNode)(nil)
)

func latestTarget(snaps []catalog.Snapshot) string {
	return "snapshots/" + strconv.FormatInt(snaps[len(snaps)-1].ID, 10)
}

func (n *latestNode) attr(out *fuse.Attr, snaps []catalog.Snapshot) {
	out.Mode = syscall.S_IFLNK | 0o777
	out.Nlink = 1
	out.Owner = fuse.Owner{Uid: n.uid, Gid: n.gid}
	if len(snaps) > 0 {
		out.Size = uint64(len(latestTarget(snaps)))
		setTime(out, newest(snaps))
	}
}

func (n *latestNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	snaps, e := n.snapshots(n.source)
	n.attr(&out.Attr, snaps)
	out.SetTimeout(listTimeout)
	return e
}

func (n *latestNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	snaps, e := n.snapshots(n.source)
	if e != 0 {
		return nil, e
	}
	if len(snaps) == 0 {
		return nil, syscall.ENOENT
	}
	return []byte(latestTarget(snaps)), 0
}

// snapshotsNode lists snapshots/<id>.
type snapshotsNode struct {
	gofs.Inode
	*repo
	source int64
}

var (
	_ gofs.NodeLookuper  = (*snapshotsNode)(nil)
	_ gofs.NodeReaddirer = (*snapshotsNode)(nil)
)

func (n *snapshotsNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	snaps, e := n.snapshots(n.source)
	if e != 0 {
		return nil, e
	}
	list := make([]fuse.DirEntry, len(snaps))
	for i, s := range snaps {
		list[i] = fuse.DirEntry{Name: strconv.FormatInt(s.ID, 10), Mode: syscall.S_IFDIR}
	}
	return gofs.NewListDirStream(list), 0
}

func (n *snapshotsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	id, err := strconv.ParseInt(name, 10, 64)
	if err != nil || strconv.FormatInt(id, 10) != name {
		return nil, syscall.ENOENT
	}
	// Asked every time (short timeouts): a forgotten snapshot goes away.
	snap, err := n.db.SnapshotByID(n.ctx, id)
	if err != nil {
		return nil, errno(err)
	}
	if snap.SourceID != n.source {
		return nil, syscall.ENOENT
	}
	out.SetEntryTimeout(listTimeout)
	out.SetAttrTimeout(treeTimeout)
	if ch := n.GetChild(name); ch != nil {
		if d, ok := ch.Operations().(*node); ok {
			d.attr(&out.Attr)
			return ch, 0
		}
	}
	view, err := snapshotfs.New(n.ctx, n.db, n.store, n.codec, id)
	if err != nil {
		return nil, errno(err)
	}
	fi, err := view.Lstat(".")
	if err != nil {
		return nil, errno(err)
	}
	root := &node{repo: n.repo, view: view, rel: ".", v: fi.Sys().(*catalog.Version)}
	root.attr(&out.Attr)
	return n.NewInode(ctx, root, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// byTimeNode lists by-time/<time> symlinks.
type byTimeNode struct {
	gofs.Inode
	*repo
	source int64
}

var (
	_ gofs.NodeLookuper  = (*byTimeNode)(nil)
	_ gofs.NodeReaddirer = (*byTimeNode)(nil)
)

// TimeName is the by-time name of a snapshot taken at t: RFC 3339 in UTC,
// to the second.
func TimeName(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// timeNames names each snapshot by its time; a second snapshot in the same
// second gets its id after the time.
func timeNames(snaps []catalog.Snapshot) ([]string, map[string]int64) {
	names := map[string]int64{}
	var order []string
	for _, s := range snaps {
		name := TimeName(s.Started)
		if _, taken := names[name]; taken {
			name += "~" + strconv.FormatInt(s.ID, 10)
		}
		names[name] = s.ID
		order = append(order, name)
	}
	return order, names
}

func (n *byTimeNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	snaps, e := n.snapshots(n.source)
	if e != 0 {
		return nil, e
	}
	order, _ := timeNames(snaps)
	list := make([]fuse.DirEntry, len(order))
	for i, name := range order {
		list[i] = fuse.DirEntry{Name: name, Mode: syscall.S_IFLNK}
	}
	return gofs.NewListDirStream(list), 0
}

func (n *byTimeNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	snaps, e := n.snapshots(n.source)
	if e != 0 {
		return nil, e
	}
	_, names := timeNames(snaps)
	id, ok := names[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	target := "../snapshots/" + strconv.FormatInt(id, 10)
	link := &linkNode{target: target}
	out.Attr.Mode = syscall.S_IFLNK | 0o777
	out.Attr.Nlink = 1
	out.Attr.Size = uint64(len(target))
	out.Attr.Owner = fuse.Owner{Uid: n.uid, Gid: n.gid}
	for _, s := range snaps {
		if s.ID == id {
			setTime(&out.Attr, s.Started)
		}
	}
	out.SetEntryTimeout(listTimeout)
	out.SetAttrTimeout(listTimeout)
	return n.NewInode(ctx, link, gofs.StableAttr{Mode: syscall.S_IFLNK}), 0
}

// linkNode is a symlink cairn makes up.
type linkNode struct {
	gofs.Inode
	target string
}

var _ gofs.NodeReadlinker = (*linkNode)(nil)

func (n *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) { return []byte(n.target), 0 }

// node is a path inside a snapshot: a directory, file or symlink as
// recorded.
type node struct {
	gofs.Inode
	*repo
	view *snapshotfs.FS
	rel  string
	v    *catalog.Version
}

var (
	_ gofs.NodeLookuper   = (*node)(nil)
	_ gofs.NodeReaddirer  = (*node)(nil)
	_ gofs.NodeGetattrer  = (*node)(nil)
	_ gofs.NodeOpener     = (*node)(nil)
	_ gofs.NodeReader     = (*node)(nil)
	_ gofs.NodeReadlinker = (*node)(nil)
)

func typeBits(v *catalog.Version) uint32 {
	switch v.Type {
	case catalog.TypeDir:
		return syscall.S_IFDIR
	case catalog.TypeSymlink:
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

func (n *node) attr(out *fuse.Attr) {
	v := n.v
	out.Mode = typeBits(v) | v.Mode&0o7777
	out.Nlink = 1
	if v.Type == catalog.TypeDir {
		out.Nlink = 2
	}
	switch v.Type {
	case catalog.TypeFile:
		out.Size = uint64(v.Size)
	case catalog.TypeSymlink:
		out.Size = uint64(len(v.LinkTarget))
	}
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 1 << 17
	out.Owner = fuse.Owner{Uid: n.uid, Gid: n.gid}
	if v.UID >= 0 && v.GID >= 0 {
		out.Owner = fuse.Owner{Uid: uint32(v.UID), Gid: uint32(v.GID)}
	}
	setTime(out, time.Unix(0, v.MtimeNs))
}

func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.attr(&out.Attr)
	out.SetTimeout(treeTimeout)
	return 0
}

func (n *node) child(name string) string {
	if n.rel == "." {
		return name
	}
	return n.rel + "/" + name
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if n.v.Type != catalog.TypeDir {
		return nil, syscall.ENOTDIR
	}
	if ch := n.GetChild(name); ch != nil {
		if c, ok := ch.Operations().(*node); ok {
			c.attr(&out.Attr)
			out.SetEntryTimeout(treeTimeout)
			out.SetAttrTimeout(treeTimeout)
			return ch, 0
		}
	}
	fi, err := n.view.Lstat(n.child(name))
	if err != nil {
		return nil, errno(err)
	}
	c := &node{repo: n.repo, view: n.view, rel: n.child(name), v: fi.Sys().(*catalog.Version)}
	c.attr(&out.Attr)
	out.SetEntryTimeout(treeTimeout)
	out.SetAttrTimeout(treeTimeout)
	return n.NewInode(ctx, c, gofs.StableAttr{Mode: typeBits(c.v)}), 0
}

func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	des, err := n.view.ReadDir(n.rel)
	if err != nil {
		return nil, errno(err)
	}
	list := make([]fuse.DirEntry, 0, len(des))
	for _, de := range des {
		info, err := de.Info()
		if err != nil {
			return nil, errno(err)
		}
		list = append(list, fuse.DirEntry{Name: de.Name(), Mode: typeBits(info.Sys().(*catalog.Version))})
	}
	return gofs.NewListDirStream(list), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if n.v.Type != catalog.TypeSymlink {
		return nil, syscall.EINVAL
	}
	return []byte(n.v.LinkTarget), 0
}

// handle is an open file: the view's file, read with ReadAt (safe for the
// concurrent reads the kernel sends).
type handle struct {
	f interface {
		io.ReaderAt
		io.Closer
	}
}

var _ gofs.FileReleaser = (*handle)(nil)

func (h *handle) Release(ctx context.Context) syscall.Errno { return errno(h.f.Close()) }

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	if n.v.Type != catalog.TypeFile {
		return nil, 0, syscall.EISDIR
	}
	f, err := n.view.Open(n.rel)
	if err != nil {
		return nil, 0, errno(err)
	}
	ra, ok := f.(interface {
		io.ReaderAt
		io.Closer
	})
	if !ok {
		f.Close()
		return nil, 0, syscall.EIO
	}
	// The bytes never change: the kernel may keep them cached across opens.
	return &handle{f: ra}, fuse.FOPEN_KEEP_CACHE, 0
}

func (n *node) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h, ok := fh.(*handle)
	if !ok {
		return nil, syscall.EBADF
	}
	got, err := h.f.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:got]), 0
}
