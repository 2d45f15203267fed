// Package gc reclaims the space of chunks no snapshot references.
//
// It runs while its caller holds the repository's exclusive lock, so no
// snapshot is between deciding to reuse a chunk and committing the
// reference: the classic race (a snapshot reuses a chunk, gc deletes it as
// unreferenced, the snapshot commits a dangling reference) cannot happen.
// Order keeps it crash-safe: a repacked pack is written and made durable,
// then recorded, and only then are the old packs deleted; a crash at any
// point leaves at most unreferenced packs, which a later gc removes once
// they are older than its grace period (Options.Grace; until then a
// snapshot may resume from them).
//
// Besides deleting and repacking, gc merges small live packs into full
// ones: every snapshot seals at least one pack, so 5,000 small snapshots
// left 5,511 pack files.
package gc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// ErrUnsafe means gc found the catalog damaged, or in contradiction with
// the packs, and deleted nothing: what looks unreferenced may be live.
var ErrUnsafe = errors.New("gc: refusing to delete anything")

// DefaultMaxUnused is the share of a pack's bytes that may be unreferenced
// before gc repacks it: rewriting a pack to reclaim less costs more I/O
// than the space is worth.
const DefaultMaxUnused = 0.10

// Options tune a collection.
type Options struct {
	// MaxUnused is the share of dead bytes above which a pack is repacked;
	// 0 means DefaultMaxUnused.
	MaxUnused float64
	// PackTarget is the size of the packs gc writes (default 16 MiB, the
	// size snapshots seal packs at). A live pack below half of it is merged
	// with others.
	PackTarget int64
	// Grace keeps unreferenced packs (orphans: no catalog row names them)
	// younger than this, measured from their commit time in the store's
	// clock (blobstore.DatedLister): an interrupted snapshot's packs wait
	// for the next snapshot to resume from them. With Objects it is also
	// how old a gc plan must be, in store time, before its packs are
	// deleted. 0 removes orphans at once and carries a plan out in the
	// run that writes it, as gc always did; the command's default is
	// DefaultGrace. A store that cannot date its packs keeps every orphan
	// while Grace > 0.
	Grace time.Duration
	// Now is the clock the grace period is measured with where there is
	// no lease (format 1; time.Now). With a lease, the store's clock.
	Now func() time.Time
	// KeptOrphans, when set, is called after a collection (not a dry run)
	// that kept orphans for the grace period and cleared TmpDir: the
	// repository leaves the marker that makes the next snapshot look for
	// them there (snapshot.NoteOrphans).
	KeptOrphans func() error
	// NoMerge leaves small live packs as they are: gc then deletes only
	// what is dead and repacks only for dead bytes.
	NoMerge bool
	DryRun  bool
	TmpDir  string // leftovers of interrupted runs here are removed
	// Progress, when set, is told the bytes of the packs rewritten so far
	// and the total to rewrite, after each pack (rewriting is what takes
	// time; deletions are quick).
	Progress func(done, total int64)
	// Codec is the packs' format (nil: format 1): the footers gc reads
	// and the packs it writes are in it.
	Codec *blobstore.Codec
	// Objects, in a repository with objects (format 2), holds the gc
	// plans (plan.go): pack files are condemned there and deleted by a
	// later run once the plan is older than Grace in store time. Lease,
	// the gc lease, must be held then. Without Objects (format 1) files
	// go at once, under the exclusive lock only.
	Objects blobstore.Objects
	Lease   *Lease
	// LeaseTTL is the lease's time to live for the caller that takes it
	// (0: DefaultLeaseTTL).
	LeaseTTL time.Duration
}

// DefaultGrace is how long the command keeps unreferenced packs: kopia's
// 24 h (rustic takes 23 h). A snapshot killed in the evening resumes the
// next morning even if a gc ran in the night.
const DefaultGrace = 24 * time.Hour

// DefaultPackTarget is the size snapshots seal packs at (snapshot's
// packTarget), and the size gc fills merged packs to.
const DefaultPackTarget = 16 << 20

// Report says what was (or, with DryRun, would be) reclaimed.
type Report struct {
	DeadChunks    int
	DeletedPacks  int
	RepackedPacks int // rewritten without their dead chunks
	MergedPacks   int // small live packs merged into full ones
	WrittenPacks  int // new packs that repacked and merged chunks went to
	OrphanPacks   int
	// Condemned are the pack files this run put into a plan, and
	// CondemnedBytes their size; RemovedPacks the files of plans old
	// enough that it deleted (with Grace 0, this run's own), Revived the
	// condemned files it kept because a record named them again, and
	// WaitingPacks and WaitingBytes what plans not yet old enough hold.
	Condemned      int
	CondemnedBytes int64
	RemovedPacks   int
	Revived        int
	WaitingPacks   int
	WaitingBytes   int64
	// YoungOrphans are unreferenced packs kept for the grace period, and
	// YoungBytes their size: what an interrupted snapshot left for the
	// next one to resume from.
	YoungOrphans int
	YoungBytes   int64
	// BytesFreed is what the store holds less after the run: the pack
	// files deleted less the packs written (with DryRun, what the run
	// would condemn less what it would write).
	BytesFreed int64
	Problems   []string // packs left alone because they could not be read
	// Catalog is the size of catalog.db before and after its free pages
	// were given back (not in a dry run).
	Catalog catalog.Compaction
}

// repack is a pack to copy into a new one without its dead chunks, or,
// when small, to merge with others.
type repack struct {
	pack  catalog.Pack
	keep  []catalog.ChunkLoc
	freed int64
	holed map[int64]bool // offsets of kept blobs that also hold dead chunks
	small bool           // rewritten to merge it, not for its dead bytes
}

// plan is what a collection will delete and repack.
type plan struct {
	contents   []int64 // unused content rows
	dead       []int64 // dead chunk rows
	emptyPacks []catalog.Pack
	repacks    []repack // in pack id order, so merged chunks keep their age order
	orphans    []string
}

// Run collects garbage. The caller holds the exclusive repository lock.
//
// Nothing is deleted unless three things agree: SQLite's integrity_check
// finds the catalog whole (indexes included), the graph from versions to
// chunks, read without any index, has no dangling link, and the footer of
// every pack about to be deleted or repacked holds no chunk that a content
// still uses unless the catalog keeps that chunk in a pack that stays. One
// stale index page, or one damaged pack name, once made gc delete live packs.
func Run(ctx context.Context, db *catalog.DB, store blobstore.Store, opts Options) (*Report, error) {
	if opts.MaxUnused <= 0 {
		opts.MaxUnused = DefaultMaxUnused
	}
	if opts.PackTarget <= 0 {
		opts.PackTarget = DefaultPackTarget
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		if errors.Is(err, catalog.ErrCatalogDamaged) {
			return nil, fmt.Errorf("%w: %v", ErrUnsafe, err)
		}
		return nil, err
	}
	refs, err := db.ScanReferences(ctx)
	if err != nil {
		return nil, err
	}
	if len(refs.Problems) > 0 {
		return nil, fmt.Errorf("%w: the catalog contradicts itself: %s", ErrUnsafe, strings.Join(refs.Problems, "; "))
	}
	rep := &Report{}
	var pending []storedPlan
	if opts.Objects != nil {
		if opts.Lease == nil && !opts.DryRun {
			return nil, errors.New("gc: a repository with gc plans needs the gc lease held")
		}
		if pending, err = loadPlans(ctx, opts.Objects, rep); err != nil {
			return nil, err
		}
	}
	p, present, err := makePlan(ctx, refs, store, opts, condemnedNames(pending), rep)
	if err != nil {
		return nil, err
	}
	if err := crossCheck(ctx, store, opts.Codec, refs, p, present, rep); err != nil {
		return nil, err
	}
	subtract(p, pending)
	rep.DeadChunks = len(p.dead)
	rep.OrphanPacks = len(p.orphans)
	rep.DeletedPacks = len(p.emptyPacks)
	if opts.DryRun {
		for _, e := range p.emptyPacks {
			rep.BytesFreed += e.Size
		}
		for _, name := range p.orphans {
			rep.BytesFreed += present[name]
		}
		for _, r := range mergeable(p.repacks) {
			if r.small {
				rep.MergedPacks++
			} else {
				rep.RepackedPacks++
			}
			rep.BytesFreed += r.freed
		}
		if opts.Objects != nil {
			for _, sp := range pending {
				sp.waiting(rep)
			}
		}
		return rep, nil
	}
	if opts.Objects == nil {
		if err := runNow(ctx, db, store, opts, p, present, rep); err != nil {
			return rep, err
		}
	} else if err := condemn(ctx, db, store, opts, refs, p, present, rep); err != nil {
		return rep, err
	}
	if opts.TmpDir != "" {
		cleanTmp(opts.TmpDir)
	}
	if rep.YoungOrphans > 0 && opts.KeptOrphans != nil {
		if err := opts.KeptOrphans(); err != nil {
			rep.Problems = append(rep.Problems, err.Error())
		}
	}
	// Last, with the exclusive lock still held: the rows deleted above
	// leave free pages, which only this gives back to the file system.
	c, err := db.CompactFile(ctx)
	if err != nil {
		return rep, err
	}
	rep.Catalog = *c
	if c.Skipped != "" {
		rep.Problems = append(rep.Problems, "catalog not compacted: "+c.Skipped)
	}
	return rep, nil
}

// dropDead drops p's dead rows (the log records it) and deletes the files
// of the packs that leaves empty.
func dropDead(ctx context.Context, db *catalog.DB, store blobstore.Store, p *plan, rep *Report) error {
	empty := make([]int64, len(p.emptyPacks))
	sizes := map[string]int64{}
	for i, e := range p.emptyPacks {
		empty[i] = e.ID
		sizes[e.Name] = e.Size
	}
	names, err := db.Drop(ctx, p.contents, p.dead, empty)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := store.Delete(ctx, name); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return fmt.Errorf("delete pack %s: %w", name, err)
		}
		rep.RemovedPacks++
		rep.BytesFreed += sizes[name]
	}
	return nil
}

// runNow deletes at once what p finds dead: a repository without objects
// (format 1) has no plans and no other host; the exclusive lock keeps
// every snapshot out.
func runNow(ctx context.Context, db *catalog.DB, store blobstore.Store, opts Options, p *plan, present map[string]int64, rep *Report) error {
	// Orphans first: a pack no catalog row names was left by an interrupted
	// snapshot or gc, and with the exclusive lock held nobody is about to
	// record it (those younger than the grace period stay for the next
	// snapshot to resume from).
	for _, name := range p.orphans {
		if err := store.Delete(ctx, name); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return fmt.Errorf("delete orphan pack %s: %w", name, err)
		}
		rep.BytesFreed += present[name]
		rep.RemovedPacks++
	}
	if err := dropDead(ctx, db, store, p, rep); err != nil {
		return err
	}
	_, err := rewrite(ctx, db, store, opts.Codec, mergeable(p.repacks), opts.PackTarget, opts.Progress, false, rep)
	return err
}

// condemn writes a plan of what p finds dead, changing nothing else: the
// orphan files, and the rows to drop and packs to repack if they are
// still dead when the plan is carried out (the emptied packs' files go
// then, the repacked ones' a grace period later). Then it carries out the
// plans old enough, this one too when Grace is 0 (plan.go).
func condemn(ctx context.Context, db *catalog.DB, store blobstore.Store, opts Options, refs *catalog.References, p *plan, present map[string]int64, rep *Report) error {
	pl := Plan{}
	for _, name := range p.orphans {
		pl.Packs = append(pl.Packs, Condemned{Name: name, Size: present[name], Why: "orphan"})
	}
	hashes := map[int64]blobstore.ID{}
	for _, chunks := range refs.ByPack {
		for _, c := range chunks {
			hashes[c.ID] = c.Hash
		}
	}
	d := &Drops{Contents: p.contents, Chunks: p.dead}
	for _, id := range p.dead {
		d.ChunkHashes = append(d.ChunkHashes, hashes[id].String())
	}
	for _, e := range p.emptyPacks {
		d.EmptyPacks = append(d.EmptyPacks, Condemned{Name: e.Name, Size: e.Size, Why: "dead"})
	}
	for _, r := range mergeable(p.repacks) {
		d.Repack = append(d.Repack, Condemned{Name: r.pack.Name, Size: r.pack.Size, Why: "repack"})
	}
	if len(d.Contents)+len(d.Chunks)+len(d.EmptyPacks)+len(d.Repack) > 0 {
		pl.Drop = d
	}
	var key string
	if len(pl.Packs) > 0 || pl.Drop != nil {
		var err error
		if key, err = writePlan(ctx, opts.Objects, opts.Lease, opts.Grace, pl); err != nil {
			return err
		}
		rep.Condemned = len(pl.Packs) + len(d.EmptyPacks) + len(d.Repack)
		for _, c := range slices.Concat(pl.Packs, d.EmptyPacks, d.Repack) {
			rep.CondemnedBytes += c.Size
		}
	}
	return carryOut(ctx, db, store, opts, key, p, present, rep)
}

// makePlan decides from the reference graph and the store's listing what
// to delete and repack; present is the set of pack names the store holds.
// Packs a pending plan condemns already are not orphans again.
func makePlan(ctx context.Context, refs *catalog.References, store blobstore.Store, opts Options, condemned map[string]bool, rep *Report) (*plan, map[string]int64, error) {
	p := &plan{}
	for _, id := range refs.UnusedContents {
		if catalog.SlotOf(id) == 0 {
			p.contents = append(p.contents, id)
		}
	}
	known := map[string]bool{}
	for _, pk := range refs.Packs {
		known[pk.Name] = true
		if catalog.SlotOf(pk.ID) != 0 {
			// Another writer's pack: its liveness counts (its chunks are
			// in refs), but only its writer's gc drops or moves its rows.
			// A record of this writer naming another writer's rows could
			// not be replayed before that writer's records (a rebuild
			// applies one log after the other), and the writer's own
			// later records would meet rows moved under them.
			continue
		}
		if slices.ContainsFunc(refs.ByPack[pk.ID], func(c catalog.ChunkLoc) bool { return catalog.SlotOf(c.ID) != 0 }) {
			continue // holds another writer's rows (it healed or resumed into it): the same
		}
		// A dead blob counts whole; a blob that also holds live chunks
		// counts for its dead share of the plaintext the catalog still
		// knows it holds. A pack's header and index are not garbage
		// (counting them would repack small live packs into
		// byte-identical copies).
		var keep []catalog.ChunkLoc
		var deadBytes int64
		holed := map[int64]bool{}
		for _, blob := range byBlob(refs.ByPack[pk.ID]) {
			var livePlain, span int64
			for _, c := range blob {
				span = max(span, c.PlainOffset+c.Size)
				if refs.Live[c.ID] {
					keep = append(keep, c)
					livePlain += c.Size
				} else {
					p.dead = append(p.dead, c.ID)
				}
			}
			switch {
			case livePlain == 0:
				deadBytes += blob[0].Length
			case livePlain < span:
				deadBytes += blob[0].Length * (span - livePlain) / span
				holed[blob[0].Offset] = true
			}
		}
		switch {
		case len(keep) == 0:
			p.emptyPacks = append(p.emptyPacks, pk)
		case pk.Missing:
			// Nothing to copy from; the next snapshot stores its chunks again.
		case deadBytes > 0 && float64(deadBytes) > opts.MaxUnused*float64(pk.Size):
			p.repacks = append(p.repacks, repack{pack: pk, keep: keep, freed: deadBytes, holed: holed})
		case !opts.NoMerge && pk.Size < opts.PackTarget/2:
			// Below half the target: copying it costs at most half a
			// pack's I/O and saves a file; a larger one is left as it is
			// (rewriting 15 MiB to merge it with 1 MiB would be mostly
			// copying).
			p.repacks = append(p.repacks, repack{pack: pk, keep: keep, freed: deadBytes, holed: holed, small: true})
		}
	}
	present := map[string]int64{}
	now := opts.Now()
	if opts.Lease != nil {
		// One clock for every grace period: the store's. A host whose
		// clock runs a day ahead must not take a snapshot's fresh packs
		// for old.
		var err error
		if now, err = opts.Lease.Now(ctx); err != nil {
			return nil, nil, err
		}
	}
	err := blobstore.ListDated(ctx, store, func(name string, size int64, committed time.Time) error {
		present[name] = size
		switch {
		case known[name], condemned[name]:
		case opts.Grace > 0 && (committed.IsZero() || now.Sub(committed) < opts.Grace):
			// Young, or of unknown age: a snapshot may yet resume from it.
			rep.YoungOrphans++
			rep.YoungBytes += size
		default:
			p.orphans = append(p.orphans, name)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list packs: %w", err)
	}
	return p, present, nil
}

// crossCheck reads the footer of every pack the plan deletes or repacks
// (orphans included) and refuses the whole collection if one of them holds
// a chunk that a content uses while the catalog does not keep that chunk
// in a pack that stays in the store. A pack whose footer cannot be read is
// left alone: nothing proves it dead.
func crossCheck(ctx context.Context, store blobstore.Store, codec *blobstore.Codec, refs *catalog.References, p *plan, present map[string]int64, rep *Report) error {
	goes := map[int64]bool{} // catalog packs whose file is deleted
	for _, e := range p.emptyPacks {
		goes[e.ID] = true
	}
	stays := map[int64]bool{} // catalog packs whose live chunks survive
	for _, pk := range refs.Packs {
		if _, ok := present[pk.Name]; ok && !goes[pk.ID] {
			stays[pk.ID] = true
		}
	}
	unsafe := func(name string, entries []blobstore.Entry) error {
		for _, e := range entries {
			home, live := refs.Home[e.ID]
			if !live || stays[home] {
				continue
			}
			where := "a pack missing from the store"
			for _, pk := range refs.Packs {
				if pk.ID == home && pk.Name == name {
					where = "this very pack"
				} else if pk.ID == home {
					where = "pack " + pk.Name + ", which is missing from the store"
				}
			}
			return fmt.Errorf("%w: pack %s holds chunk %s, which a content still uses and the catalog places in %s; the catalog may be damaged",
				ErrUnsafe, name, e.ID, where)
		}
		return nil
	}
	footer := func(name string) ([]blobstore.Entry, bool, error) {
		entries, err := blobstore.ReadIndex(ctx, store, codec, name)
		switch {
		case err == nil:
			return entries, true, nil
		case errors.Is(err, blobstore.ErrNotFound):
			return nil, false, nil
		case errors.Is(err, blobstore.ErrCorrupt):
			rep.Problems = append(rep.Problems, fmt.Sprintf("pack %s left as it is: %v", name, err))
			return nil, false, nil
		}
		return nil, false, err
	}
	orphans := p.orphans[:0]
	for _, name := range p.orphans {
		entries, ok, err := footer(name)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := unsafe(name, entries); err != nil {
			return err
		}
		orphans = append(orphans, name)
	}
	p.orphans = orphans
	empty := p.emptyPacks[:0]
	for _, e := range p.emptyPacks {
		entries, ok, err := footer(e.Name)
		if err != nil {
			return err
		}
		if _, there := present[e.Name]; there && !ok {
			continue // unreadable footer: keep the pack (and its rows)
		}
		if err := unsafe(e.Name, entries); err != nil {
			return err
		}
		empty = append(empty, e)
	}
	p.emptyPacks = empty
	// A repacked pack's live chunks move to the new pack, so its own
	// chunks count as staying; any other used chunk in its footer must be
	// kept elsewhere.
	repacks := p.repacks[:0]
	for _, r := range p.repacks {
		entries, ok, err := footer(r.pack.Name)
		if err != nil {
			return err
		}
		if !ok {
			continue // unreadable or gone: nothing proves what else it holds, so it stays
		}
		stays[r.pack.ID] = true
		if err := unsafe(r.pack.Name, entries); err != nil {
			return err
		}
		repacks = append(repacks, r)
	}
	p.repacks = repacks
	return nil
}

// byBlob splits chunks, in pack order, into runs that share a stored blob.
func byBlob(chunks []catalog.ChunkLoc) [][]catalog.ChunkLoc {
	var runs [][]catalog.ChunkLoc
	for i := 0; i < len(chunks); {
		j := i + 1
		for j < len(chunks) && chunks[j].Offset == chunks[i].Offset {
			j++
		}
		runs = append(runs, chunks[i:j])
		i = j
	}
	return runs
}

// cleanTmp removes scratch files of interrupted runs. The exclusive lock
// keeps snapshots and restores out, but not a process writing a log
// checkpoint (blobstore.LocalObjects.PutObject, outside any lock): its
// temp object is flocked while it lives, and only dead ones go.
func cleanTmp(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), blobstore.TempObjectPrefix) && e.Type().IsRegular() {
			blobstore.RemoveDeadTemp(filepath.Join(dir, e.Name()))
			continue
		}
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
