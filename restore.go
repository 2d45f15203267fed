package cairn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/restore"
	"github.com/cairn-dev/cairn/snapshot"
)

// A restore, as Restore is asked and answers. Resolve makes the requests;
// the plan's items, kinds and refusals are the restore package's own.
type (
	// Request is one path of one snapshot to restore (see Resolve).
	Request = restore.Request
	// RestoreOptions tune a restore (To, DryRun, Force, Delete, ...).
	RestoreOptions = restore.Options
	// RestoreResult is what a restore did, or in a dry run would do.
	RestoreResult = restore.Result
	// RestoreItem is the plan for one path, with what became of it.
	RestoreItem = restore.Item
	// RestoreKind is what a restore does to one path.
	RestoreKind = restore.Kind
	// UndoPoint is the snapshot that undoes a restore in one source.
	UndoPoint = restore.UndoPoint
)

// What a restore does to one path.
const (
	KindWrite         = restore.KindWrite
	KindUnchanged     = restore.KindUnchanged
	KindMkdir         = restore.KindMkdir
	KindSymlink       = restore.KindSymlink
	KindLinkUnchanged = restore.KindLinkUnchanged
	KindDelete        = restore.KindDelete
	KindKeepRuntime   = restore.KindKeepRuntime
	KindRefuse        = restore.KindRefuse
)

// Why a restore refuses a path; errors.Is tells them apart in the error
// Restore returns and in each RestoreItem.Err. ErrTornJSON,
// ErrDatabaseInUse and ErrDatabaseDamaged give way to RestoreOptions.Force.
var (
	ErrTornJSON        = restore.ErrTornJSON
	ErrDatabaseInUse   = restore.ErrDatabaseInUse
	ErrDatabaseDamaged = restore.ErrDatabaseDamaged
	ErrPathInTheWay    = restore.ErrPathInTheWay
	ErrNotCovered      = restore.ErrNotCovered
	ErrUnsafePath      = restore.ErrUnsafePath
)

// Restore plans the restore of reqs and carries the plan out. Before it
// replaces anything in place it takes a snapshot of each source it
// replaces things in (label "pre-restore"), holding exactly what the plan
// replaces, even files the source's excludes leave out; Result.Undo lists
// them. A path the undo snapshot could not record is not replaced. With
// opts.DryRun it only plans: Result.Items is the plan.
//
// The error joins every path that was refused or failed (errors.Is tells
// restore.ErrTornJSON, ErrDatabaseInUse, ... apart; the rest was restored)
// or is the one reason nothing could be.
func (r *Repo) Restore(ctx context.Context, reqs []Request, opts RestoreOptions) (*RestoreResult, error) {
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return nil, err
	}
	defer func() { rl.Release() }()
	// Hold what the restore reads, so no retention run (its own undo
	// snapshot's, or a cron snap's) forgets it meanwhile.
	release, err := r.holdSnapshots(ctx, "restore", requestSnapshots(reqs)...)
	if err != nil {
		return nil, err
	}
	defer release()
	d := restore.Deps{DB: r.db, Store: r.store, Codec: r.codec()}
	// The repository inside a source is never deleted by --delete.
	opts.Skip = append(opts.Skip, r.skipDirs()...)
	plan, releasePlan, err := r.planHeld(ctx, d, reqs, opts)
	if err != nil {
		return nil, err
	}
	defer releasePlan()
	if opts.DryRun {
		return &restore.Result{Items: plan.Items, UndoNeeds: plan.UndoNeeds()}, plan.Err()
	}
	var undo []restore.UndoPoint
	if needs := plan.UndoNeeds(); len(needs) > 0 {
		// The undo snapshot takes its own locks; release ours meanwhile.
		rl.Release()
		undo, err = r.preRestore(ctx, plan, needs)
		if err != nil {
			return &restore.Result{Undo: undo}, err
		}
		if rl, err = r.lockRepo(ctx, repolock.Shared); err != nil {
			return &restore.Result{Undo: undo}, err
		}
	}
	if sources := plan.InPlaceSources(); len(sources) > 0 {
		// In place, a restore holds its sources' locks: no snapshot or
		// other restore writes there meanwhile, so the temp files of a
		// killed restore can be cleared.
		for _, src := range sources {
			sl, err := r.lockSource(ctx, src)
			if err != nil {
				return &restore.Result{Undo: undo}, err
			}
			defer sl.Release()
		}
		plan.CleanTemps()
	}
	res, err := plan.Execute(ctx)
	if res != nil {
		res.Undo = undo
	}
	return res, err
}

// planHeld plans the restore and holds every snapshot the plan reads,
// which is more than the requests name: a torn JSON file in a directory
// restore comes from an older snapshot with a valid copy, and the undo
// snapshot's retention run (or a cron snap's) must not forget that one
// before it is read. A snapshot forgotten between planning and holding
// makes it plan again.
func (r *Repo) planHeld(ctx context.Context, d restore.Deps, reqs []Request, opts RestoreOptions) (*restore.Plan, func(), error) {
	for attempt := 0; ; attempt++ {
		plan, err := restore.NewPlan(ctx, d, reqs, opts)
		if err != nil {
			return nil, nil, err
		}
		release, err := r.holdSnapshots(ctx, "restore", plan.Snapshots()...)
		if err == nil {
			return plan, release, nil
		}
		if !errors.Is(err, catalog.ErrNotFound) || attempt == 2 {
			return nil, nil, err
		}
	}
}

// preRestore snapshots each source the plan replaces things in, forcing
// in the replaced paths, and refuses what the snapshot still lacks.
func (r *Repo) preRestore(ctx context.Context, plan *restore.Plan, needs []restore.UndoNeed) ([]restore.UndoPoint, error) {
	var out []restore.UndoPoint
	for _, n := range needs {
		opts := snapshotOptions("pre-restore")
		opts.Include = n.Paths
		res, err := r.Snapshot(ctx, n.Source, opts)
		if errors.Is(err, snapshot.ErrEmptySource) {
			continue // nothing there to lose
		}
		if err != nil {
			return out, fmt.Errorf("snapshot %s before restoring (the undo point): %w", n.Source, err)
		}
		s, err := r.db.SnapshotByID(ctx, res.ID)
		if err != nil {
			return out, err
		}
		if err := plan.CheckCovered(ctx, n.Source, s); err != nil {
			return out, err
		}
		out = append(out, restore.UndoPoint{Source: n.Source, Snapshot: res.ID})
	}
	return out, nil
}

// Cat writes one file of a snapshot to w, read through the snapshot's view
// (SnapshotFS) and verified. Like Restore it holds the snapshot, so no
// retention run forgets it meanwhile, and takes the shared lock, so gc
// deletes no pack it reads.
func (r *Repo) Cat(ctx context.Context, req Request, w io.Writer) error {
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return err
	}
	defer rl.Release()
	release, err := r.holdSnapshots(ctx, "cat", req.Snapshot.ID)
	if err != nil {
		return err
	}
	defer release()
	if !fs.ValidPath(req.Path) {
		return fmt.Errorf("catalog path %q: %w", req.Path, ErrUnsafePath)
	}
	view, err := r.SnapshotFS(ctx, req.Snapshot.ID)
	if err != nil {
		return err
	}
	lfs := view.(fs.ReadLinkFS)
	info, err := lfs.Lstat(req.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is not in snapshot %d: %w", req.UserPath, req.Snapshot.ID, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is a %s in snapshot %d, not a file", req.UserPath, info.Sys().(*Version).Type, req.Snapshot.ID)
	}
	f, err := view.Open(req.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	// io.Copy reads to io.EOF, which also checks the whole-file hash.
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("cat %s from snapshot %d: %w", req.UserPath, req.Snapshot.ID, err)
	}
	return nil
}
