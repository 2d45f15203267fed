// Package restore puts files from a snapshot back on disk: reassembled from
// verified chunks, written atomically, never outside the target, with the
// recorded mode and mtime. Databases are checked with integrity_check
// before they replace anything, and their stale -wal/-shm are removed.
package restore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
)

// Deps are the repository parts a restore reads.
type Deps struct {
	DB    *catalog.DB
	Store blobstore.Store
}

// Request is one path of one snapshot to restore.
type Request struct {
	Snapshot catalog.Snapshot
	Path     string // relative to the source; "." is the whole source
	// UserPath is how the user named it, for messages.
	UserPath string
	// Runtime lists the source's own runtime-file patterns, added to
	// Options.Runtime and the defaults.
	Runtime []string
}

// withRuntime adds a request's runtime patterns to the options.
func withRuntime(opts Options, req Request) Options {
	opts.Runtime = append(append([]string(nil), opts.Runtime...), req.Runtime...)
	return opts
}

// Options tune a restore.
type Options struct {
	// To is the directory to restore under; "" puts things back in place.
	To     string
	DryRun bool
	// Force writes invalid JSON over an existing file and replaces a
	// database another process has open.
	Force   bool
	Runtime []string // extra runtime-file patterns never overwritten
	Workers int
	// CleanTemps removes temp files a killed restore left in the
	// directories being restored. Only safe when no other restore can be
	// writing there: the caller holds the source's lock.
	CleanTemps bool
}

// Action is what the restore did (or, with DryRun, would do) to one path.
type Action struct {
	Path   string // destination path on disk
	Rel    string
	Type   string
	Verb   string // "write", "unchanged", "mkdir", "link", "kept", "skipped"
	Reason string
	Size   int64
}

// Result lists what happened.
type Result struct {
	Actions []Action
	Written int
	Bytes   int64
	Errors  []error
}

// Err joins the per-path errors, nil when every path was restored.
func (r *Result) Err() error { return errors.Join(r.Errors...) }

// Dest is where a request lands: the base directory (the source itself, or
// --to) into which paths relative to the source are written.
func Dest(req Request, opts Options) string {
	if opts.To != "" {
		return opts.To
	}
	return req.Snapshot.Source
}

// Run restores every request. It keeps going past a failed path and
// reports each failure in Result.Errors.
func Run(ctx context.Context, d Deps, reqs []Request, opts Options) (*Result, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	res := &Result{}
	for _, req := range reqs {
		if err := runOne(ctx, d, req, opts, res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Replaces reports whether restoring reqs in place would replace anything
// on disk with something else: only then is an undo point worth taking.
func Replaces(ctx context.Context, d Deps, reqs []Request, opts Options) (bool, error) {
	for _, req := range reqs {
		opts := withRuntime(opts, req)
		root, err := os.OpenRoot(Dest(req, opts))
		if err != nil {
			continue // nothing there to replace
		}
		versions, err := d.DB.Tree(ctx, req.Snapshot, req.Path)
		if err != nil {
			root.Close()
			return false, err
		}
		for _, v := range versions {
			if v.Type == catalog.TypeDir || checkPath(v.Path) != nil || isRuntime(v.Path, opts.Runtime) {
				continue
			}
			if _, err := root.Lstat(v.Path); err == nil && differs(root, v) {
				root.Close()
				return true, nil
			}
		}
		root.Close()
	}
	return false, nil
}

// differs reports whether what is on disk at v's path is not v: by type,
// size, mtime and link target, and for a file whose metadata match, by its
// bytes.
func differs(root *os.Root, v *catalog.Version) bool {
	fi, err := root.Lstat(v.Path)
	if err != nil {
		return true
	}
	switch v.Type {
	case catalog.TypeSymlink:
		target, err := root.Readlink(v.Path)
		return fi.Mode()&fs.ModeSymlink == 0 || err != nil || target != v.LinkTarget
	case catalog.TypeFile:
		if !fi.Mode().IsRegular() || fi.Size() != v.Size || fi.ModTime().UnixNano() != v.MtimeNs {
			return true
		}
		// Equal metadata does not prove equal bytes (a tool may keep the
		// mtime): read it before calling it unchanged.
		var want [32]byte
		copy(want[:], v.ContentHash)
		return !sameBytes(root, v.Path, want)
	}
	return !fi.IsDir()
}

// cleanTemps removes the temp files of killed restores from the
// directories this restore writes into.
func cleanTemps(root *os.Root, reqPath string, versions []*catalog.Version) {
	dirs := map[string]bool{path.Dir(reqPath): true}
	for _, v := range versions {
		if v.Type == catalog.TypeDir && checkPath(v.Path) == nil {
			dirs[v.Path] = true
		}
	}
	for d := range dirs {
		f, err := root.Open(d)
		if err != nil {
			continue
		}
		names, _ := f.Readdirnames(-1)
		f.Close()
		for _, n := range names {
			if strings.HasPrefix(n, atomicfile.TempPrefix) {
				root.Remove(path.Join(d, n))
			}
		}
	}
}

// batchMin is the number of files above which a restore syncs the
// filesystem once instead of each file.
const batchMin = 8

// commit renames every staged file into place and makes the renames
// durable. In batch mode the staged files are synced first, all at once.
func (w *writer) commit(staged []*atomicfile.Staged, acts []Action, res *Result) error {
	if len(staged) == 0 && len(w.linkDirs) == 0 {
		return nil
	}
	if w.batch {
		if err := w.fs.Sync(); err != nil {
			for _, s := range staged {
				s.Abort()
			}
			return err
		}
	}
	dirs := w.linkDirs
	if dirs == nil {
		dirs = map[string]bool{}
	}
	for i, s := range staged {
		if err := s.Commit(); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("restore %s: %w", acts[i].Path, err))
			continue
		}
		res.Actions = append(res.Actions, acts[i])
		res.Written++
		res.Bytes += acts[i].Size
		dirs[path.Dir(acts[i].Rel)] = true
	}
	if w.batch {
		return w.fs.Sync()
	}
	for d := range dirs {
		if err := atomicfile.SyncDir(w.root, d); err != nil {
			return err
		}
	}
	return nil
}

// writeBackEarly starts a goroutine that syncs the filesystem now and then
// while files are staged, so that the sync before the renames finds most
// of the data already written instead of all of it; the kernel would
// otherwise hold a restore's data back until that sync. It returns the
// function that stops it and reports the first failed sync: Linux reports
// a write-back error once per descriptor, so the commit's own sync through
// the same descriptor would not see it again.
func (w *writer) writeBackEarly() (stop func() error) {
	done := make(chan struct{})
	var failed error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := w.fs.Sync(); err != nil {
					failed = err
					return
				}
			}
		}
	}()
	return func() error { close(done); wg.Wait(); return failed }
}

func runOne(ctx context.Context, d Deps, req Request, opts Options, res *Result) error {
	opts = withRuntime(opts, req)
	if err := checkPath(req.Path); err != nil {
		return err
	}
	versions, err := d.DB.Tree(ctx, req.Snapshot, req.Path)
	if err != nil {
		return err
	}
	if len(versions) == 0 {
		return fmt.Errorf("%s is not in snapshot %d: %w", req.UserPath, req.Snapshot.ID, catalog.ErrNotFound)
	}
	base := Dest(req, opts)
	if opts.DryRun {
		root, _ := os.OpenRoot(base) // nil when base does not exist yet: everything is new
		defer func() {
			if root != nil {
				root.Close()
			}
		}()
		for _, v := range versions {
			if err := checkPath(v.Path); err != nil {
				res.Errors = append(res.Errors, err)
				continue
			}
			a := Action{Path: filepath.Join(base, filepath.FromSlash(v.Path)), Rel: v.Path, Type: v.Type, Verb: "write", Size: v.Size}
			switch {
			case v.Type != catalog.TypeDir && isRuntime(v.Path, opts.Runtime):
				a.Verb, a.Reason = "kept", "runtime file, never restored"
			case v.Type == catalog.TypeDir:
				a.Verb = "mkdir"
			case root != nil && !differs(root, v):
				a.Verb = "unchanged"
			}
			res.Actions = append(res.Actions, a)
		}
		return nil
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", base, err)
	}
	root, err := os.OpenRoot(base)
	if err != nil {
		return fmt.Errorf("open target %s: %w", base, err)
	}
	defer root.Close()
	w := &writer{ctx: ctx, d: d, chunks: blobstore.NewReader(d.Store), root: root, base: base, opts: opts}

	if opts.CleanTemps {
		cleanTemps(root, req.Path, versions)
	}
	// Directories first (parents before children, as Tree sorts), files in
	// parallel, then directory modes and times deepest first, since writing
	// a file changes its directory's mtime.
	var dirs []*catalog.Version
	var files []*catalog.Version
	for _, v := range versions {
		if err := checkPath(v.Path); err != nil {
			res.Errors = append(res.Errors, err)
			continue
		}
		switch v.Type {
		case catalog.TypeDir:
			if err := w.mkdir(v); err != nil {
				res.Errors = append(res.Errors, err)
				continue
			}
			dirs = append(dirs, v)
		default:
			files = append(files, v)
		}
	}
	if req.Path != "." {
		// The parents of a single path exist in place; under --to, make them.
		if err := root.MkdirAll(path.Dir(req.Path), 0o755); err != nil && path.Dir(req.Path) != "." {
			return fmt.Errorf("create parents of %s: %w", req.Path, err)
		}
	}
	// Many files: stage them all unsynced, sync the filesystem once, then
	// rename; a few: each is synced as it is staged.
	w.batch = len(files) > batchMin
	bigFirst(files)
	stopWriteBack := func() error { return nil }
	if w.batch {
		// Opened before anything is staged, so that a write-back error
		// of any staged file reaches its syncs.
		if w.fs, err = atomicfile.OpenFS(root); err != nil {
			return err
		}
		defer w.fs.Close()
		stopWriteBack = w.writeBackEarly()
	}
	defer w.close()
	var mu sync.Mutex
	var staged []*atomicfile.Staged
	var stagedActs []Action
	jobs := make(chan job)
	var wg sync.WaitGroup
	for i := 0; i < opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				a, s, err := w.restore(j.v, j.c)
				mu.Lock()
				switch {
				case err != nil:
					res.Errors = append(res.Errors, err)
				case s != nil:
					staged = append(staged, s)
					stagedActs = append(stagedActs, a)
				default:
					res.Actions = append(res.Actions, a)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for start := 0; start < len(files); start += prefetch {
		part := files[start:min(start+prefetch, len(files))]
		contents := w.contents(part)
		for _, v := range part {
			if ctx.Err() != nil {
				break feed
			}
			jobs <- job{v, contents[v.ContentID]}
		}
	}
	close(jobs)
	wg.Wait()
	writeBackErr := stopWriteBack()
	if err := cmp.Or(ctx.Err(), writeBackErr); err != nil {
		for _, s := range staged {
			s.Abort()
		}
		return err
	}
	if err := w.commit(staged, stagedActs, res); err != nil {
		return err
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i].Path, "/") > strings.Count(dirs[j].Path, "/") })
	for _, v := range dirs {
		name := v.Path
		if err := root.Chmod(name, unixMode(v.Mode)); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("chmod %s: %w", name, err))
		}
		t := time.Unix(0, v.MtimeNs)
		if err := root.Chtimes(name, t, t); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("set times of %s: %w", name, err))
		}
		res.Actions = append(res.Actions, Action{Path: filepath.Join(base, filepath.FromSlash(name)), Rel: name, Type: v.Type, Verb: "mkdir"})
	}
	sort.Slice(res.Actions, func(i, j int) bool { return res.Actions[i].Path < res.Actions[j].Path })
	return nil
}
