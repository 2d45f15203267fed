package cairn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/retention"
)

// ForgetOptions choose what to forget.
type ForgetOptions struct {
	// Policy applies to every chosen source; nil uses each source's own.
	Policy *Policy
	// Source: only this source (found by its recorded path, so a deleted
	// one too); "" = all.
	Source string
	// Tags: the policy applies only to snapshots that have every one of
	// these tags (restic's forget --tag); the others are left alone.
	Tags   []string
	IDs    []int64 // forget exactly these (no policy)
	DryRun bool
	// IncludeProtected lets a policy forget labelled snapshots, undo points
	// and snapshots named by warnings. Snapshots held by a running command
	// are never forgotten by a policy.
	IncludeProtected bool
}

// SourceDecisions are a policy's verdicts for one source.
type SourceDecisions struct {
	Source    string
	Policy    Policy
	Decisions []Decision
}

// ForgetStats counts the catalog rows a forget removed.
type ForgetStats = catalog.ForgetStats

// ForgetResult says what was (or would be) forgotten.
type ForgetResult struct {
	Sources   []SourceDecisions
	Forgotten []int64
	Stats     ForgetStats
}

// ErrOtherHost means a command would change another host's snapshots or
// sources, which only that host (or one that adopted it) may forget.
var ErrOtherHost = errors.New("another host's snapshots: only that host, or a host that adopted it, forgets them")

// Forget removes snapshots by policy or by id. Stored data is reclaimed by
// GC, not here.
func (r *Repo) Forget(ctx context.Context, opts ForgetOptions) (*ForgetResult, error) {
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return nil, err
	}
	defer rl.Release()
	res := &ForgetResult{}
	// A writer forgets only its own snapshots (and those of the hosts it
	// adopted): another host's are that host's to forget.
	own, err := r.db.OwnSlots(ctx)
	if err != nil {
		return nil, err
	}
	if len(opts.IDs) > 0 {
		for _, id := range opts.IDs {
			s, err := r.db.SnapshotByID(ctx, id)
			if err != nil {
				return nil, err
			}
			if !own[s.Writer] {
				return nil, fmt.Errorf("snapshot %s: %w", r.SnapshotName(ctx, id), ErrOtherHost)
			}
		}
		if err := r.refuseHeld(ctx, opts.IDs); err != nil {
			return nil, err
		}
		res.Forgotten = opts.IDs
		if !opts.DryRun {
			res.Stats, err = r.db.Forget(ctx, opts.IDs)
		}
		return res, err
	}
	sources, err := r.db.Sources(ctx)
	if err != nil {
		return nil, err
	}
	if opts.Source != "" {
		src, err := r.namedSource(ctx, opts.Source)
		if err != nil {
			return nil, err
		}
		sources = []catalog.Source{src}
		if !own[src.Writer] {
			return nil, fmt.Errorf("%s: %w", src.Path, ErrOtherHost)
		}
	}
	sources = slices.DeleteFunc(sources, func(s catalog.Source) bool { return !own[s.Writer] })
	for _, s := range sources {
		sl, err := r.lockSource(ctx, s.Path)
		if err != nil {
			return nil, err
		}
		sd, ids, stats, err := r.applyPolicy(ctx, s, opts.Policy, opts.Tags, opts.DryRun, opts.IncludeProtected)
		sl.Release()
		if err != nil {
			return nil, err
		}
		res.Sources = append(res.Sources, sd)
		res.Forgotten = append(res.Forgotten, ids...)
		res.Stats.Snapshots += stats.Snapshots
		res.Stats.Versions += stats.Versions
		res.Stats.Contents += stats.Contents
	}
	return res, nil
}

// applyPolicy decides and forgets for one source; the caller holds the
// source's lock. Protected snapshots stay unless includeProtected (held
// ones stay even then).
func (r *Repo) applyPolicy(ctx context.Context, s catalog.Source, override *Policy, tags []string, dryRun, includeProtected bool) (SourceDecisions, []int64, catalog.ForgetStats, error) {
	settings, err := parseSource(s)
	if err != nil {
		return SourceDecisions{}, nil, catalog.ForgetStats{}, err
	}
	p := settings.Policy
	if override != nil {
		p = *override
	}
	snaps, err := r.db.Snapshots(ctx, s.ID)
	if err != nil {
		return SourceDecisions{}, nil, catalog.ForgetStats{}, err
	}
	snaps = slices.DeleteFunc(snaps, func(sn Snapshot) bool {
		for _, t := range tags {
			if !slices.Contains(sn.Tags, t) {
				return true
			}
		}
		return false
	})
	states, err := r.db.SnapshotStates(ctx, s.ID)
	if err != nil {
		return SourceDecisions{}, nil, catalog.ForgetStats{}, err
	}
	protected, dead, err := r.protections(ctx, s.ID, snaps, includeProtected)
	if err != nil {
		return SourceDecisions{}, nil, catalog.ForgetStats{}, err
	}
	in := make([]retention.Snapshot, len(snaps))
	for i, sn := range snaps {
		in[i] = retention.Snapshot{ID: sn.ID, Time: sn.Started, Tags: sn.Tags, State: states[sn.ID], Protected: protected[sn.ID]}
	}
	sd := SourceDecisions{Source: s.Path, Policy: p, Decisions: retention.Apply(in, p, r.now(), time.Local)}
	var ids []int64
	for _, d := range sd.Decisions {
		if !d.Keep {
			ids = append(ids, d.Snapshot.ID)
		}
	}
	slices.Sort(ids)
	var stats catalog.ForgetStats
	if (len(ids) > 0 || len(dead) > 0) && !dryRun {
		var kept []int64
		if stats, kept, err = r.db.ForgetUnheld(ctx, ids, dead); err != nil {
			return sd, nil, stats, err
		}
		// A restore that began after the holds were read holds these now.
		ids = slices.DeleteFunc(ids, func(id int64) bool { return slices.Contains(kept, id) })
	}
	return sd, ids, stats, nil
}

// UndoLabel labels the snapshot a restore takes before it replaces files
// in place (the undo point).
const UndoLabel = "pre-restore"

// protections says which snapshots of a source no policy may forget, and
// why (docs/design.md, "Retention and gc", has the reasons):
//   - a labelled snapshot: someone named it, so someone relies on it;
//   - an undo point, for retention.ProtectFor after it was taken: the
//     restore printed "undo with: cairn restore --snapshot N";
//   - a snapshot a warning named (as the one to restore from), for
//     catalog.WarningHoldFor after the warning;
//   - a snapshot a running command holds (holdSnapshots), while it runs.
//
// With includeProtected only holds count. It also returns the holds that no
// longer count (their process is gone, or they expired) for the forget to
// delete, so a killed restore holds nothing.
func (r *Repo) protections(ctx context.Context, sourceID int64, snaps []catalog.Snapshot, includeProtected bool) (map[int64][]retention.Protection, []int64, error) {
	out := map[int64][]retention.Protection{}
	if !includeProtected {
		for _, sn := range snaps {
			switch {
			case sn.Label == UndoLabel:
				out[sn.ID] = append(out[sn.ID], retention.Protection{Reason: "undo point", Until: sn.Started.Add(retention.ProtectFor)})
			case sn.Label != "":
				out[sn.ID] = append(out[sn.ID], retention.Protection{Reason: "labelled " + sn.Label})
			}
		}
	}
	holds, err := r.db.Holds(ctx, sourceID)
	if err != nil {
		return nil, nil, err
	}
	now := r.now()
	var stale []int64
	for _, h := range holds {
		switch {
		case h.Holder != "" && holderAlive(h.Holder, h.Created, now):
			out[h.SnapshotID] = append(out[h.SnapshotID], retention.Protection{Reason: fmt.Sprintf("held by %s (pid %d)", h.Reason, h.PID)})
		case h.Holder != "":
			stale = append(stale, h.ID)
		case !now.Before(h.Expires):
			stale = append(stale, h.ID)
		case !includeProtected:
			out[h.SnapshotID] = append(out[h.SnapshotID], retention.Protection{Reason: "named by " + h.Reason, Until: h.Expires})
		}
	}
	return out, stale, nil
}

// refuseHeld fails if a running command holds any of ids: forgetting a
// snapshot under a restore that reads it would break that restore.
func (r *Repo) refuseHeld(ctx context.Context, ids []int64) error {
	holds, err := r.db.Holds(ctx, 0)
	if err != nil {
		return err
	}
	now := r.now()
	for _, h := range holds {
		if h.Holder != "" && slices.Contains(ids, h.SnapshotID) && holderAlive(h.Holder, h.Created, now) {
			return fmt.Errorf("snapshot %d: %w by %s (pid %d); forget it when that has finished", h.SnapshotID, ErrHeld, h.Reason, h.PID)
		}
	}
	return nil
}
