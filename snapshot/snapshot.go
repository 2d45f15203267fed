package snapshot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/internal/beneath"
	"github.com/cairn-dev/cairn/internal/ignore"
)

// KindUnreadable is the warning kind of a path that could not be read; a
// snapshot with one is incomplete.
const KindUnreadable = catalog.WarnUnreadable

// ErrInsideRepository refuses a source that is the repository or lies
// inside it (Options.Skip): its snapshots would store the repository in
// itself.
var ErrInsideRepository = errors.New("is inside the repository")

// ErrEmptySource refuses a snapshot of a directory with nothing in it: it
// would record "everything was deleted" as if it were a real state.
var ErrEmptySource = errors.New("source is empty")

// Options tune one snapshot.
type Options struct {
	Label    string
	Tags     []string
	Excludes []string // gitignore-style patterns, added to the source's .cairnignore
	// Filter excludes more: its patterns as Excludes, and caches, large
	// files, other file systems (excludes.go). The caller merges in what
	// the source remembers.
	Filter Excludes
	// ResetExcludes, for the caller that merges in what the source
	// remembers: Filter replaces the remembered excludes instead.
	ResetExcludes bool
	// Time, when set, is the time recorded as the snapshot's start
	// (restic's --time); the run's own clock still decides what is racy.
	Time time.Time
	// Skip lists absolute paths never to enter (the repository itself, when
	// it lives inside the source); a source inside one is refused.
	Skip []string
	// Include lists paths (relative to the source) recorded even where the
	// excludes would leave them out: the files a restore is about to
	// replace, which its undo snapshot must hold.
	Include []string
	// MassDeletion is the share of files whose removal triggers a warning.
	MassDeletion float64
	Workers      int
	Now          func() time.Time
	// Progress, when set, is called about every 200ms while files are read.
	Progress func(Progress)
	// DryRun walks and compares only: Run returns a Result with ID 0 and
	// Preview set, having read nothing into the repository and written
	// nothing (dryrun.go). DryRunHash also hashes files whose stat changed.
	DryRun, DryRunHash bool
	// ReadFrom, when set, is the directory whose tree is read and recorded
	// as the source's: an import reads a backup unpacked elsewhere and
	// records it as a snapshot of the (absolute, canonical) source, which
	// need not exist on this machine.
	ReadFrom string
	// Changed, when not nil, makes a partial snapshot: only these paths
	// (relative to the source; a watcher's hint of what may have changed)
	// are stat'ed and compared, and every other live version carries on
	// unchanged. Given every changed path it commits what a full snapshot
	// would; see partial.go for when it walks everything anyway. Ignored
	// with ReadFrom.
	Changed []string

	healAttempt int      // how often this snapshot restarted to heal (heal.go)
	healed      []string // the missing packs it found
}

// Progress is a running count for a status line.
type Progress struct {
	FilesDone, FilesToRead int64
	BytesRead              int64
}

// Result summarises a committed snapshot.
type Result struct {
	ID         int64
	Source     string
	New        int // paths new in this snapshot
	Changed    int
	Unchanged  int
	Removed    int
	Files      int64 // regular files in the snapshot
	TotalBytes int64
	BytesRead  int64
	BytesAdded int64 // pack bytes written
	// ResumedPacks and ResumedBytes are the packs an interrupted snapshot
	// had sealed that this one took chunks from instead of storing them
	// again, and their size (resume.go).
	ResumedPacks int
	ResumedBytes int64
	// Duration runs from the start of the walk to the end of the catalog
	// commit. The retention run a caller applies afterwards is not part of
	// it (Forgotten reports what that run did).
	Duration time.Duration
	Warnings []catalog.Warning
	// Unreadable lists the paths that could not be read: the snapshot is
	// committed but incomplete (their previous versions, if any, carry on
	// in it).
	Unreadable []string
	// Forgotten lists snapshots the source's retention policy removed
	// afterwards (filled by the caller that applies it).
	Forgotten []int64
	// Partial reports that only the paths in Options.Changed were looked
	// at (Unchanged then counts only those); false after a full walk.
	Partial bool
	// Preview is what a dry run found (Options.DryRun); nil otherwise.
	Preview *Preview
}

// Deps are the repository parts a snapshot writes to.
type Deps struct {
	DB     *catalog.DB
	Store  blobstore.Store
	TmpDir string
	Params chunker.Params
	// Codec names chunks and stores blobs: nil writes format-1 packs, a
	// format-2 codec sealed ones, with keyed chunk ids and the chunker's
	// gear table drawn from its seed. Whole-file content hashes stay plain
	// BLAKE3 either way (users compare them with b3sum); they go to the
	// catalog only, never into a pack.
	Codec *blobstore.Codec
	// Condemned are the pack files gc plans condemn (gc.ReadCondemned):
	// their chunks count as absent, stored again if met, never newly
	// referred to, and an interrupted snapshot's pack among them is not
	// resumed from. A gc deletes them once their plan is older than its
	// grace period, unless a record names them again meanwhile.
	Condemned map[string]bool
	// CondemnedChunks are chunks gc plans condemn (in packs that stay,
	// with other live chunks): absent too.
	CondemnedChunks map[blobstore.ID]bool
}

// racyWindow: a file modified this close to the snapshot's start may
// change again within the same timestamp tick after being read, so it is
// read again next time rather than trusted by its stat.
const racyWindow = 2 * time.Second

type run struct {
	Deps
	opts        Options
	root        string
	src         *beneath.Dir // the root, which every read opens beneath
	ex          *ignore.Matcher
	x           *exclusion
	index       *chunkIndex
	packer      *packer
	encode      chan *frame // new chunks to compress and store
	params      chunker.Params
	gear        *chunker.Table // nil: the public table
	busyTimeout time.Duration
	stats       struct{ bytesRead, filesDone atomic.Int64 }
	// liveFiles, when > 0, counts the live files before the snapshot; a
	// partial snapshot knows only some live versions (partial.go).
	liveFiles int64

	// marker says this run may leave packs nobody recorded (resume.go).
	marker *marker
}

// Run takes a snapshot of source. The caller holds the repository's shared
// lock and the source's lock.
func Run(ctx context.Context, d Deps, source string, opts Options) (*Result, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MassDeletion == 0 {
		opts.MassDeletion = DefaultMassDeletion
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	started := opts.Now()
	read := source
	if opts.ReadFrom != "" {
		read = opts.ReadFrom
	}
	root, err := CanonicalSource(read)
	if err != nil {
		return nil, err
	}
	recorded := root
	if opts.ReadFrom != "" {
		recorded = filepath.Clean(source)
	}
	if err := checkRoot(root); err != nil {
		return nil, err
	}
	patterns, err := ignore.ReadFile(filepath.Join(root, ".cairnignore"))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(root, ".cairnignore"), err)
	}
	ex, err := ignore.New(append(append(patterns, opts.Excludes...), opts.Filter.Patterns...))
	if err != nil {
		return nil, err
	}
	var warnings []catalog.Warning
	var wmu sync.Mutex
	warn := func(path, kind, msg string) {
		wmu.Lock()
		warnings = append(warnings, catalog.Warning{Path: path, Kind: kind, Message: msg})
		wmu.Unlock()
	}
	// Orphan packs of an interrupted snapshot load while the walk runs.
	var orph *orphans
	if !opts.DryRun {
		orph = startOrphans(ctx, d.DB, d.Store, d.Codec, d.TmpDir, opts.healAttempt > 0, d.Condemned)
		defer orph.wait()
	}
	skip := map[string]bool{}
	for _, p := range opts.Skip {
		// The walk sees paths under the resolved root, so a skipped path
		// named through a symlink must be resolved the same way.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		p = filepath.Clean(p)
		if root == p || strings.HasPrefix(root, p+string(filepath.Separator)) {
			return nil, fmt.Errorf("source %s: %w %s; choose a directory outside it", root, ErrInsideRepository, p)
		}
		skip[p] = true
	}
	// The source's row loads from the catalog while the walk starts; its
	// live versions then stream in path order beside the walk, and the
	// comparison merges the two as they come (compare.go).
	type baseline struct {
		src       catalog.Source
		known     bool // the source has a row
		hasChunks bool
		err       error
	}
	loaded := make(chan baseline, 1)
	src, err := beneath.Open(root)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", root, unwrapPathError(err))
	}
	defer src.Close()
	x := &exclusion{Excludes: opts.Filter}
	var part *partialScan
	// The partial scan knows the patterns but not the filters that need
	// a look at each directory or file (caches, sizes, mount points), nor
	// how to preview: those walk everything.
	if opts.ReadFrom == "" && !opts.DryRun && !opts.Filter.Caches && opts.Filter.LargerThan == 0 && !opts.Filter.OneFileSystem {
		if part, err = scanChanged(ctx, d.DB, src, ex, skip, opts, warn); err != nil {
			return nil, err
		}
	}
	var walked walkStream
	if part != nil {
		walked = newSliceWalk(part.entries, part.unreadable)
		loaded <- baseline{src: part.source, known: true, hasChunks: part.hasChunks}
	} else {
		go func() {
			var b baseline
			b.src, b.err = d.DB.SourceByPath(ctx, recorded)
			switch {
			case b.err == nil:
				b.known = true
			case errors.Is(b.err, catalog.ErrNotFound):
				b.err = nil
			}
			if b.err == nil {
				b.hasChunks, b.err = d.DB.HasChunks(ctx)
			}
			loaded <- b
		}()
		var ow *orderedWalk
		ow, err = walk(src, ex, x, skip, forced(opts.Include), warn)
		if err == nil {
			defer ow.close()
			walked = ow
		}
	}
	base := <-loaded
	if err != nil {
		return nil, err
	}
	if base.err != nil {
		return nil, base.err
	}
	if ow, ok := walked.(*orderedWalk); ok && ow.empty() {
		return nil, fmt.Errorf("source %s: %w; refusing to record it (it would look like everything was deleted)", root, ErrEmptySource)
	}
	srcRow, hasChunks := base.src, base.hasChunks
	r := &run{Deps: d, opts: opts, root: root, src: src, ex: ex, x: x, params: d.Params, busyTimeout: 10 * time.Second,
		index: &chunkIndex{db: d.DB, empty: !hasChunks, known: map[blobstore.ID]int64{}, pending: map[uint64]int{}, condemned: d.Condemned, condemnedChunks: d.CondemnedChunks}}
	if seed, ok := d.Codec.GearSeed(); ok {
		r.gear = chunker.KeyedTable(seed)
	}

	var live liveStream = &sliceStream{}
	switch {
	case part != nil:
		live = streamOf(part.live)
	case base.known:
		ls, err := d.DB.LiveFingerprints(ctx, srcRow.ID)
		if err != nil {
			return nil, err
		}
		defer ls.Close()
		live = ls
	}
	if part != nil {
		r.liveFiles = part.liveFiles
	}
	plan, err := r.compare(walked, live, started)
	if err != nil {
		return nil, err
	}
	if ow, ok := walked.(*orderedWalk); ok {
		ow.close() // the comparison has read it all
	}
	if ls, ok := live.(*catalog.FingerprintStream); ok {
		ls.Close() // and the live versions, of which it kept what changed
		if err := plan.completeLive(ctx, d.DB); err != nil {
			return nil, err
		}
	}
	if opts.DryRun {
		pv := r.preview(plan, opts.DryRunHash)
		// Counted as a real run counts (the root too, when new); the
		// lists name the paths below it.
		return &Result{Source: recorded, New: plan.news, Changed: len(pv.Changed), Unchanged: plan.walked - plan.news - len(pv.Changed),
			Removed: len(pv.Removed), Files: pv.Files, TotalBytes: pv.TotalBytes, Preview: pv}, nil
	}
	r.index.orphans, r.marker = orph, &marker{dir: d.TmpDir}
	committed := false
	defer func() {
		if !committed {
			// Its sealed packs wait for the next snapshot.
			r.marker.abandon()
		}
	}()
	res, err := r.execute(ctx, plan, warn)
	if err != nil {
		return nil, err
	}
	if missing, err := r.healMissing(ctx); err != nil {
		return nil, err
	} else if len(missing) > 0 {
		opts.healAttempt++
		opts.healed = append(opts.healed, missing...)
		r.marker.abandon()
		orph.wait()
		return Run(ctx, d, source, opts)
	}
	r.warnHealed(warn)
	commit := r.build(plan, res)
	if part != nil {
		// The live files the partial snapshot did not look at carry on.
		commit.FileCount += part.restFiles
		commit.TotalBytes += part.restBytes
	}
	commit.Source, commit.Started, commit.Label, commit.Tags = recorded, started, opts.Label, opts.Tags
	if !opts.Time.IsZero() {
		commit.Started = opts.Time
	}
	commit.Warnings = append(commit.Warnings, r.guard(ctx, plan, res, srcRow.ID)...)
	wmu.Lock()
	commit.Warnings = append(warnings, commit.Warnings...)
	wmu.Unlock()
	sort.SliceStable(commit.Warnings, func(i, j int) bool { return commit.Warnings[i].Path < commit.Warnings[j].Path })
	var unreadablePaths []string
	for _, w := range commit.Warnings {
		if w.Kind == KindUnreadable {
			unreadablePaths = append(unreadablePaths, w.Path)
		}
	}
	commit.Unreadable = int64(len(unreadablePaths))
	// Only the counts of the plan outlive the commit; its entries (and
	// what was read) can be collected while the commit runs.
	counts := struct{ news, changed, unchanged, removed int }{plan.news, plan.changed, plan.unchanged, len(plan.removed)}
	commit.Finished = opts.Now()
	id, err := d.DB.CommitSnapshot(ctx, commit)
	if err != nil {
		return nil, err
	}
	committed = true
	r.marker.done()
	orph.finish()
	resumedPacks, resumedBytes := orph.adopted()
	// The duration runs to the end of the commit, not to commit.Finished
	// (stamped inside it): at 1M files the commit was 24 s of a 44.65 s
	// run, and the 20.9 s printed left it out.
	done := opts.Now()
	return &Result{ID: id, Source: recorded, New: counts.news, Changed: counts.changed, Unchanged: counts.unchanged,
		Removed: counts.removed, Files: commit.FileCount, TotalBytes: commit.TotalBytes,
		BytesRead: r.stats.bytesRead.Load(), BytesAdded: commit.AddedBytes, Duration: done.Sub(started),
		ResumedPacks: resumedPacks, ResumedBytes: resumedBytes,
		Warnings: commit.Warnings, Unreadable: unreadablePaths, Partial: part != nil}, nil
}

// forced is the set of paths walk records despite the excludes: each
// included path and its parents.
func forced(include []string) map[string]bool {
	if len(include) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, p := range include {
		for ; p != "." && p != "/" && p != "" && !m[p]; p = path.Dir(p) {
			m[p] = true
		}
	}
	return m
}

// bigMin is the size from which a file is read ahead of the others.
const bigMin = 1 << 20

// bigFirst orders toRead with the big files first, largest first, and the
// rest in path order (neighbours share frames). A database read last, after
// thousands of small files, was the tail of a whole snapshot: its backup
// copy and check run on one core while the other has nothing left to do.
func bigFirst(toRead []int, entries []entry) {
	slices.SortStableFunc(toRead, func(a, b int) int {
		return cmp.Compare(max(entries[b].size, bigMin-1), max(entries[a].size, bigMin-1))
	})
}

// path is the full path of the entry at rel. Entries do not keep it: a
// tree of 21,000 files held 1.7 MB of full paths for the whole snapshot.
func (r *run) path(rel string) string {
	return filepath.Join(r.root, filepath.FromSlash(rel))
}

// CanonicalSource turns a user's path into the absolute path cairn records
// for it: cleaned, with symlinks resolved, so one directory is one source.
func CanonicalSource(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", p, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", p, unwrapPathError(err))
	}
	return real, nil
}
