package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/sqlitefile"
)

// Kind is what a plan does to one path.
type Kind string

const (
	// KindWrite writes a file: new, or different from what is on disk.
	KindWrite Kind = "write"
	// KindUnchanged leaves a file that holds the recorded bytes; its mode,
	// times and owner are set where they differ (Item.FixMeta).
	KindUnchanged Kind = "unchanged"
	// KindMkdir creates a directory, or gives an existing one its
	// recorded mode and times.
	KindMkdir Kind = "mkdir"
	// KindSymlink creates or replaces a symlink.
	KindSymlink Kind = "symlink"
	// KindLinkUnchanged leaves a symlink that already points where
	// recorded.
	KindLinkUnchanged Kind = "link-unchanged"
	// KindDelete removes what is on disk but not in the snapshot
	// (Options.Delete).
	KindDelete Kind = "delete"
	// KindKeepRuntime leaves a runtime file alone: never written, never
	// deleted.
	KindKeepRuntime Kind = "keep-runtime"
	// KindRefuse does nothing; Item.Err says why.
	KindRefuse Kind = "refuse"
)

// Refusals. Each is wrapped with the path and the details; an application
// tells them apart with errors.Is. ErrTornJSON, ErrDatabaseInUse and
// ErrDatabaseDamaged give way to Options.Force.
var (
	ErrTornJSON        = errors.New("restore: refusing to write invalid JSON over a file")
	ErrDatabaseInUse   = errors.New("restore: the database is open in another process")
	ErrDatabaseDamaged = errors.New("restore: the database was already damaged when it was captured")
	ErrPathInTheWay    = errors.New("restore: something of another kind is in the way")
	// ErrNotCovered refuses to replace a file the undo snapshot could not
	// record: the restore could not be undone.
	ErrNotCovered = errors.New("restore: the undo snapshot does not hold what would be replaced")
)

// Item is the plan for one path.
type Item struct {
	Source string // the source the request is of
	Rel    string // relative to the source
	Path   string // on disk
	Type   string // catalog.TypeFile, TypeDir, TypeSymlink
	Kind   Kind
	// Version is what is restored (nil for KindDelete); Snapshot is the
	// snapshot it comes from.
	Version  *catalog.Version
	Snapshot int64
	// Substituted: the requested snapshot holds a torn JSON copy, so the
	// newest valid older one (from Snapshot) is restored instead.
	Substituted bool
	// Replaces: something different on disk is replaced, changed or
	// deleted, so the undo snapshot must hold it.
	Replaces bool
	// FixMeta: a KindUnchanged file whose mode, times or owner differ.
	FixMeta bool
	// Notes say what the user should know (a setuid bit dropped, a torn
	// or damaged copy written as recorded).
	Notes []string
	Err   error // why a KindRefuse item is refused, or why it failed

	mode  fs.FileMode
	owner *owner
	req   int
	done  bool // carried out
}

// UndoNeed is a source an in-place restore replaces things in, with the
// paths (relative to it) the undo snapshot must hold.
type UndoNeed struct {
	Source string
	Paths  []string
}

// Plan is everything a restore will do, decided once: a dry run prints it,
// the undo decision reads it and Execute carries it out.
type Plan struct {
	Items []Item // in path order
	d     Deps
	reqs  []Request
	opts  Options
	dests []dest // per request
	// progress counts what Execute writes (nil without Options.Progress).
	progress *progress
}

// dest is where a request lands.
type dest struct {
	base    string // the directory paths relative to the source go under
	inPlace bool   // base is the source itself
	// fresh: a whole tree restored --to a directory that is empty or
	// absent, by this request alone, so Execute can build it in a staging
	// directory and move it into place (stage.go).
	fresh bool
}

// geteuid is the user the restore runs as; tests pretend not to be root.
var geteuid = os.Geteuid

// NewPlan decides what restoring reqs does, reading the catalog and what is
// on disk but changing nothing. A path that cannot be restored is an item
// of KindRefuse, not an error; the error is for a request that cannot be
// planned at all (not in its snapshot, an unsafe path, a catalog error).
func NewPlan(ctx context.Context, d Deps, reqs []Request, opts Options) (*Plan, error) {
	if opts.Workers <= 0 {
		opts.Workers = max(1, defaultWorkers())
	}
	p := &Plan{d: d, reqs: reqs, opts: opts}
	for i, req := range reqs {
		if err := checkPath(req.Path); err != nil {
			return nil, err
		}
		pl := &planner{Plan: p, req: req, idx: i, opts: withRuntime(opts, req), euid: geteuid()}
		if err := pl.plan(ctx); err != nil {
			return nil, err
		}
	}
	for i := range p.dests {
		for j := range p.dests {
			if i != j && sameDir(p.dests[i].base, p.dests[j].base) {
				p.dests[i].fresh = false // two requests land there
			}
		}
	}
	sort.SliceStable(p.Items, func(i, j int) bool { return p.Items[i].Path < p.Items[j].Path })
	return p, nil
}

// Refused lists the items that will not be restored.
func (p *Plan) Refused() []*Item {
	var out []*Item
	for i := range p.Items {
		if p.Items[i].Kind == KindRefuse {
			out = append(out, &p.Items[i])
		}
	}
	return out
}

// Err joins the refusals, nil when every path can be restored.
func (p *Plan) Err() error {
	var errs []error
	for _, it := range p.Refused() {
		errs = append(errs, it.Err)
	}
	return errors.Join(errs...)
}

// UndoNeeds lists, per source restored in place, what the plan replaces:
// an undo snapshot is needed exactly when this is not empty. Refused items
// replace nothing.
func (p *Plan) UndoNeeds() []UndoNeed {
	bySource := map[string]*UndoNeed{}
	var order []string
	for _, it := range p.Items {
		if !it.Replaces || it.Kind == KindRefuse || !p.dests[it.req].inPlace {
			continue
		}
		src := p.reqs[it.req].Snapshot.Source
		n := bySource[src]
		if n == nil {
			n = &UndoNeed{Source: src}
			bySource[src] = n
			order = append(order, src)
		}
		n.Paths = append(n.Paths, it.Rel)
	}
	sort.Strings(order)
	out := make([]UndoNeed, 0, len(order))
	for _, src := range order {
		out = append(out, *bySource[src])
	}
	return out
}

// InPlaceSources lists the sources the plan writes into in place, sorted,
// so that two processes lock them in the same order.
func (p *Plan) InPlaceSources() []string {
	seen := map[string]bool{}
	var out []string
	for i, req := range p.reqs {
		if p.dests[i].inPlace && !seen[req.Snapshot.Source] {
			seen[req.Snapshot.Source] = true
			out = append(out, req.Snapshot.Source)
		}
	}
	sort.Strings(out)
	return out
}

// Snapshots lists, once each and in order, every snapshot the plan reads:
// the requests' and those a torn JSON file is substituted from.
func (p *Plan) Snapshots() []int64 {
	seen := map[int64]bool{}
	var out []int64
	add := func(id int64) {
		if id != 0 && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, req := range p.reqs {
		add(req.Snapshot.ID)
	}
	for _, it := range p.Items {
		add(it.Snapshot)
	}
	slices.Sort(out)
	return out
}

// CheckCovered refuses every item of source that replaces something the
// undo snapshot does not hold (it could not read the file, say): replacing
// it could not be undone.
func (p *Plan) CheckCovered(ctx context.Context, source string, undo catalog.Snapshot) error {
	held := map[string]bool{}
	for i, req := range p.reqs {
		if req.Snapshot.Source != source || !p.dests[i].inPlace {
			continue
		}
		vs, err := p.d.DB.Tree(ctx, undo, req.Path)
		if err != nil {
			return fmt.Errorf("read undo snapshot %d: %w", undo.ID, err)
		}
		for _, v := range vs {
			held[v.Path] = true
		}
	}
	for i := range p.Items {
		it := &p.Items[i]
		if it.Kind == KindRefuse || !it.Replaces || p.reqs[it.req].Snapshot.Source != source || !p.dests[it.req].inPlace {
			continue
		}
		if !held[it.Rel] {
			it.refuse(fmt.Errorf("%s: undo snapshot %d: %w", it.Path, undo.ID, ErrNotCovered))
		}
	}
	return nil
}

func (it *Item) refuse(err error) {
	it.Kind, it.Err, it.Replaces, it.FixMeta = KindRefuse, err, false, false
}

// planner plans one request.
type planner struct {
	*Plan
	req  Request
	idx  int
	opts Options
	euid int
	root *os.Root // nil: the destination does not exist yet
	base string
	dirs dirCache
}

func (pl *planner) plan(ctx context.Context) error {
	versions, err := pl.d.DB.Tree(ctx, pl.req.Snapshot, pl.req.Path)
	if err != nil {
		return err
	}
	if len(versions) == 0 {
		return fmt.Errorf("%s is not in snapshot %d: %w", pl.req.UserPath, pl.req.Snapshot.ID, catalog.ErrNotFound)
	}
	pl.base = Dest(pl.req, pl.opts)
	d := dest{base: pl.base, inPlace: sameDir(pl.base, pl.req.Snapshot.Source)}
	d.fresh = !d.inPlace && pl.req.Path == "." && emptyOrAbsent(pl.base)
	pl.dests = append(pl.dests, d)
	if root, err := os.OpenRoot(pl.base); err == nil {
		pl.root = root
		pl.dirs = dirCache{root: root}
		defer func() { pl.dirs.close(); root.Close() }()
	}
	var check []int // items whose bytes must be compared with the disk
	blocked := map[string]bool{}
	for _, v := range versions {
		it := Item{Source: pl.req.Snapshot.Source, Rel: v.Path, Path: pl.abs(v.Path), Type: v.Type, Version: v, Snapshot: pl.req.Snapshot.ID, req: pl.idx}
		if err := checkPath(v.Path); err != nil {
			it.refuse(err)
			pl.Items = append(pl.Items, it)
			continue
		}
		if parent := blockedParent(v.Path, blocked); parent != "" {
			it.refuse(fmt.Errorf("%s: %s is not a directory: %w", it.Path, pl.abs(parent), ErrPathInTheWay))
			pl.Items = append(pl.Items, it)
			continue
		}
		existing, err := pl.lstat(v.Path)
		if err != nil {
			it.refuse(fmt.Errorf("%s: %w", it.Path, err))
			pl.Items = append(pl.Items, it)
			continue
		}
		needsCheck := pl.planOne(ctx, &it, existing)
		if it.Kind == KindRefuse && v.Type == catalog.TypeDir {
			blocked[v.Path] = true
		}
		pl.Items = append(pl.Items, it)
		if needsCheck {
			check = append(check, len(pl.Items)-1)
		}
	}
	pl.compareBytes(check)
	if pl.opts.Delete {
		return pl.planDeletes(versions)
	}
	return nil
}

// planOne decides one path given what is on disk there (nil: nothing). It
// reports whether the decision waits on comparing the file's bytes.
func (pl *planner) planOne(ctx context.Context, it *Item, existing fs.FileInfo) (compare bool) {
	v := it.Version
	if v.Type != catalog.TypeDir && isRuntime(v.Path, pl.opts.Runtime) {
		it.Kind = KindKeepRuntime
		return false
	}
	if v.Path == "." && v.Type != catalog.TypeDir {
		it.refuse(fmt.Errorf("%s: the source root is recorded as a %s: %w", it.Path, v.Type, ErrPathInTheWay))
		return false
	}
	switch v.Type {
	case catalog.TypeDir:
		if existing != nil && !existing.IsDir() {
			it.refuse(fmt.Errorf("%s: a %s is where the directory goes: %w", it.Path, kind(existing), ErrPathInTheWay))
			return false
		}
		it.Kind = KindMkdir
		it.mode, it.owner, it.Notes = pl.modeOf(v, 0o755)
		return false
	case catalog.TypeSymlink:
		if existing != nil && existing.IsDir() {
			it.refuse(fmt.Errorf("%s: a directory is where the symlink goes: %w", it.Path, ErrPathInTheWay))
			return false
		}
		it.Kind = KindSymlink
		it.owner = pl.ownerOf(v)
		if existing != nil && existing.Mode()&fs.ModeSymlink != 0 {
			if target, err := pl.readlink(v.Path); err == nil && target == v.LinkTarget && !pl.ownerDiffers(it.owner, existing) {
				it.Kind = KindLinkUnchanged
				return false
			}
		}
		it.Replaces = existing != nil
		return false
	}
	if existing != nil && existing.IsDir() {
		it.refuse(fmt.Errorf("%s: a directory is where the file goes: %w", it.Path, ErrPathInTheWay))
		return false
	}
	if v.JSONValid.Valid && !v.JSONValid.Bool && !pl.opts.Force {
		if !pl.substitute(ctx, it, existing) {
			return false
		}
		v = it.Version
	}
	if v.Capture == catalog.CaptureSQLite && v.DBCheck != "" && v.DBCheck != "ok" {
		if !pl.opts.Force {
			it.refuse(fmt.Errorf("%s: snapshot %d holds a copy that failed its check at capture (%s): %w", it.Path, it.Snapshot, v.DBCheck, ErrDatabaseDamaged))
			return false
		}
		it.Notes = append(it.Notes, fmt.Sprintf("the database failed its check when captured (%s); written as recorded", v.DBCheck))
	}
	if v.Capture == catalog.CaptureSQLite && existing != nil && !pl.opts.Force {
		if busy, _ := sqlitefile.InUse(it.Path); busy {
			it.refuse(fmt.Errorf("%s: %w", it.Path, ErrDatabaseInUse))
			return false
		}
	}
	mode, own, notes := pl.modeOf(v, 0o644)
	it.mode, it.owner, it.Notes = mode, own, append(it.Notes, notes...)
	it.Kind = KindWrite
	if existing == nil {
		return false
	}
	it.Replaces = true
	if !existing.Mode().IsRegular() || existing.Size() != v.Size {
		return false
	}
	// Equal metadata does not prove equal bytes (a tool may keep the
	// mtime): the bytes decide, compared once, here.
	return true
}

// substitute handles a torn JSON copy without Force. A file named by
// itself follows the single-file rule: the caller chose this copy, so it
// is written only where no file is. A file inside a directory restore is
// replaced by its newest valid copy from an older snapshot. It reports
// whether the item is still to be written.
func (pl *planner) substitute(ctx context.Context, it *Item, existing fs.FileInfo) bool {
	v := it.Version
	if v.Path != pl.req.Path {
		history, err := pl.d.DB.History(ctx, pl.req.Snapshot.SourceID, v.Path)
		if err != nil {
			it.refuse(fmt.Errorf("%s: %w", it.Path, err))
			return false
		}
		for _, h := range history {
			if h.First >= v.First || h.Type != catalog.TypeFile || !h.JSONValid.Valid || !h.JSONValid.Bool {
				continue
			}
			_, last, err := pl.d.DB.SnapshotRange(ctx, pl.req.Snapshot.SourceID, h)
			if err != nil {
				it.refuse(fmt.Errorf("%s: %w", it.Path, err))
				return false
			}
			if last == 0 {
				continue // every snapshot that saw it is forgotten
			}
			it.Version, it.Snapshot, it.Substituted = h, last, true
			return true
		}
	}
	if existing != nil {
		it.refuse(fmt.Errorf("%s: snapshot %d holds a torn (invalid JSON) copy and no older valid one: %w", it.Path, it.Snapshot, ErrTornJSON))
		return false
	}
	it.Notes = append(it.Notes, fmt.Sprintf("snapshot %d holds a torn (invalid JSON) copy and no older valid one; written as recorded", it.Snapshot))
	return true
}

// compareBytes settles the files whose size matches what is on disk:
// those holding the recorded bytes are unchanged, the rest are written.
// The files are read in parallel, once; the executor trusts the result.
func (pl *planner) compareBytes(idx []int) {
	if len(idx) == 0 {
		return
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(pl.opts.Workers, len(idx)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				pl.settle(&pl.Items[i])
			}
		}()
	}
	for _, i := range idx {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

func (pl *planner) settle(it *Item) {
	dir, name, err := pl.dirs.dir(it.Rel)
	if err != nil || dir == nil {
		return
	}
	var want [32]byte
	copy(want[:], it.Version.ContentHash)
	fi, same := sameBytes(dir, name, want)
	if !same {
		return
	}
	meta := fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != it.mode ||
		fi.ModTime().UnixNano() != it.Version.MtimeNs || pl.ownerDiffers(it.owner, fi)
	switch {
	case !meta:
		it.Kind, it.Replaces = KindUnchanged, false
	case links(fi) > 1:
		// Setting the mode or times of a hard-linked file would change
		// every other name of it too, possibly outside the target: write
		// a copy instead.
		it.Notes = append(it.Notes, "hard-linked: replaced by a copy, so its other names keep their metadata")
	default:
		it.Kind, it.FixMeta = KindUnchanged, true
	}
}

func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// lstat returns what is on disk at rel, nil when nothing is (or the
// destination does not exist yet).
func (pl *planner) lstat(rel string) (fs.FileInfo, error) {
	if pl.root == nil {
		return nil, nil
	}
	if rel == "." {
		return pl.root.Lstat(".")
	}
	dir, name, err := pl.dirs.dir(rel)
	if err != nil {
		return nil, err
	}
	if dir == nil {
		return nil, nil
	}
	fi, err := dir.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return fi, err
}

func (pl *planner) readlink(rel string) (string, error) {
	dir, name, err := pl.dirs.dir(rel)
	if err != nil || dir == nil {
		return "", fs.ErrNotExist
	}
	return dir.Readlink(name)
}

func (pl *planner) abs(rel string) string { return filepath.Join(pl.base, filepath.FromSlash(rel)) }

// blockedParent returns the refused directory rel would go under, if any.
func blockedParent(rel string, blocked map[string]bool) string {
	if len(blocked) == 0 {
		return ""
	}
	for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
		if blocked[d] {
			return d
		}
	}
	return ""
}

// sameDir reports whether two paths name one directory (--to the source
// itself is an in-place restore). A path that does not exist is only
// compared by name.
func sameDir(a, b string) bool {
	ca, cb := canonical(a), canonical(b)
	if ca == cb {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

func canonical(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// dirCache opens one root per directory: os.Root resolves every component
// of a path on every call, so one open handle per directory saves most of
// the opens of a large restore. A directory that does not exist is
// remembered as such (nil), so the files under it cost nothing.
type dirCache struct {
	root  *os.Root
	mu    sync.Mutex
	m     map[string]*os.Root
	files map[string]*os.File // the directories opened as files (dirFile)
}

// dirFile returns rel's directory opened as a file, for the system calls
// that take a directory descriptor (atomicfile.StageIn).
func (c *dirCache) dirFile(rel string) (*os.File, error) {
	d := path.Dir(rel)
	c.mu.Lock()
	f, ok := c.files[d]
	c.mu.Unlock()
	if ok {
		return f, nil
	}
	dir, _, err := c.dir(rel)
	if err == nil && dir == nil {
		err = fmt.Errorf("open directory %s: %w", d, fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	if f, err = dir.Open("."); err != nil {
		return nil, fmt.Errorf("open directory %s: %w", d, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.files[d]; ok {
		f.Close()
		return old, nil
	}
	if c.files == nil {
		c.files = map[string]*os.File{}
	}
	c.files[d] = f
	return f, nil
}

// dir returns the root of rel's directory (nil when it does not exist)
// and rel's base name.
func (c *dirCache) dir(rel string) (*os.Root, string, error) {
	d, base := path.Split(rel)
	d = strings.TrimSuffix(d, "/")
	if d == "" {
		return c.root, base, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.open(d)
	if err != nil {
		return nil, "", err
	}
	return r, base, nil
}

// open returns the root of directory d (nil when it does not exist),
// opened from its parent's: one open per directory, where a path resolved
// from the top opens every directory above it again. c.mu is held.
func (c *dirCache) open(d string) (*os.Root, error) {
	if d == "." || d == "" {
		return c.root, nil
	}
	if r, ok := c.m[d]; ok {
		return r, nil
	}
	parent, err := c.open(path.Dir(d))
	if err != nil || parent == nil {
		return nil, err
	}
	r, err := parent.OpenRoot(path.Base(d))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		r, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open directory %s: %w", d, err)
	}
	if c.m == nil {
		c.m = map[string]*os.Root{}
	}
	c.m[d] = r
	return r, nil
}

// forget drops what is remembered of directory d and below, after it
// was made: it may have been remembered as missing.
func (c *dirCache) forget(d string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, r := range c.m {
		if k == d || strings.HasPrefix(k, d+"/") {
			if r != nil {
				r.Close()
			}
			delete(c.m, k)
		}
	}
}

func (c *dirCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.m {
		if r != nil {
			r.Close()
		}
	}
	for _, f := range c.files {
		f.Close()
	}
	c.m, c.files = nil, nil
}

// mtimeOf is v's recorded modification time.
func mtimeOf(v *catalog.Version) time.Time { return time.Unix(0, v.MtimeNs) }

// CleanTemps makes the execution clear the temp files a killed restore
// left in the directories it writes; only for a caller holding the locks
// of the sources restored in place.
func (p *Plan) CleanTemps() { p.opts.CleanTemps = true }

// emptyOrAbsent reports whether dir does not exist or holds nothing.
func emptyOrAbsent(dir string) bool {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return err == io.EOF
}
