package restore

import (
	"context"
	"errors"
	"runtime"
	"slices"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// Deps are the repository parts a restore reads.
type Deps struct {
	DB    *catalog.DB
	Store blobstore.Store
	Codec *blobstore.Codec // the packs' format: nil is format 1
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
	// LeftOut, when set, gives the source's remembered excludes as a rule
	// over the tree at base: Options.Delete never deletes what they leave
	// out of snapshots (nor what .cairnignore does).
	LeftOut func(base string) (func(rel string, isDir bool) bool, error)
}

// withRuntime adds a request's runtime patterns to the options.
func withRuntime(opts Options, req Request) Options {
	opts.Runtime = append(append([]string(nil), opts.Runtime...), req.Runtime...)
	return opts
}

// Options tune a restore.
type Options struct {
	// To is the directory to restore under; "" puts things back in place
	// (as does To naming the source itself).
	To     string
	DryRun bool // for callers that plan only; NewPlan itself never writes
	// Force writes invalid JSON over an existing file, replaces a database
	// another process has open, and writes a database that was damaged
	// when captured, each as recorded.
	Force bool
	// Delete removes what is on disk under a restored directory but not in
	// its snapshot; never runtime files, excluded files or Skip.
	Delete  bool
	Runtime []string // extra runtime-file patterns never overwritten
	// Skip lists absolute paths a restore never deletes or enters (the
	// repository, when it lives inside the source).
	Skip    []string
	Workers int
	// CleanTemps removes temp files a killed restore left in the
	// directories being restored. Only safe when no other restore can be
	// writing there: the caller holds the source's lock.
	CleanTemps bool
	// Progress, when set, is told the bytes of file content written so
	// far and the total the plan writes, after each file (from several
	// goroutines, one call at a time).
	Progress func(done, total int64)
}

// Result is what a restore did: the plan's items with what became of
// them (an item that failed has Err set and Kind KindRefuse).
type Result struct {
	Items     []Item
	Written   int   // files and symlinks written
	Bytes     int64 // bytes of the files written
	Unchanged int   // files already as recorded
	Deleted   int
	// Undo lists the snapshots taken before the restore, one per source it
	// replaced things in (filled by the caller that takes them).
	Undo []UndoPoint
	// UndoNeeds, in a dry run, are the undo snapshots the restore would
	// take.
	UndoNeeds []UndoNeed
}

// UndoPoint is the snapshot that undoes a restore in one source.
type UndoPoint struct {
	Source   string
	Snapshot int64
}

// Failed lists the items that were refused or failed.
func (r *Result) Failed() []*Item {
	var out []*Item
	for i := range r.Items {
		if r.Items[i].Err != nil {
			out = append(out, &r.Items[i])
		}
	}
	return out
}

// DamagedPacks lists, once each, the packs whose chunks failed to read
// back: a tree restore that met one damaged pack can name it once instead
// of only in each file's error.
func (r *Result) DamagedPacks() []string {
	var packs []string
	for _, it := range r.Failed() {
		var ce *blobstore.ChunkError
		if errors.As(it.Err, &ce) && !slices.Contains(packs, ce.Pack) {
			packs = append(packs, ce.Pack)
		}
	}
	return packs
}

// err joins the errors of the failed items.
func (r *Result) err() error {
	var errs []error
	for _, it := range r.Failed() {
		errs = append(errs, it.Err)
	}
	return errors.Join(errs...)
}

// Dest is where a request lands: the base directory (the source itself, or
// --to) into which paths relative to the source are written.
func Dest(req Request, opts Options) string {
	if opts.To != "" {
		return opts.To
	}
	return req.Snapshot.Source
}

// Run plans and executes a restore (no undo snapshot: that is the
// caller's, see UndoNeeds). With opts.DryRun it only plans, and returns
// the plan's items and refusals.
func Run(ctx context.Context, d Deps, reqs []Request, opts Options) (*Result, error) {
	p, err := NewPlan(ctx, d, reqs, opts)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		return &Result{Items: p.Items, UndoNeeds: p.UndoNeeds()}, p.Err()
	}
	return p.Execute(ctx)
}

func defaultWorkers() int { return runtime.GOMAXPROCS(0) }
