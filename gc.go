package cairn

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/gc"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/snapshot"
)

// Garbage collection, as GC is asked and answers.
type (
	// GCOptions tune a collection (MaxUnused 0: DefaultMaxUnused; Grace 0:
	// orphan packs go at once, the command passes DefaultGrace).
	GCOptions = gc.Options
	// GCReport says what a collection reclaimed (or would).
	GCReport = gc.Report
)

// ErrGCUnsafe means GC found the catalog or the packs damaged and deleted
// nothing.
var ErrGCUnsafe = gc.ErrUnsafe

// ErrGCLeaseHeld means another gc, on this host or another sharing the
// repository, holds the gc lease; the error says who (gc.LeaseHeldError).
var ErrGCLeaseHeld = gc.ErrLeaseHeld

// DefaultGCLeaseTTL is how long a crashed gc's lease blocks the next gc
// on another host.
const DefaultGCLeaseTTL = gc.DefaultLeaseTTL

// GC reclaims the space of data no snapshot references. It waits for
// running snapshots and restores, and they wait for it.
func (r *Repo) GC(ctx context.Context, opts GCOptions) (*GCReport, error) {
	// gc clears tmp/, with the markers of the interrupted snapshots whose
	// packs it keeps for the grace period: the next snapshot must still
	// look for them.
	opts.KeptOrphans = func() error { return snapshot.NoteOrphans(r.tmpDir()) }
	rl, err := r.lockRepo(ctx, repolock.Exclusive)
	if err != nil {
		return nil, err
	}
	defer rl.Release()
	if r.objects != nil && !opts.DryRun {
		// The local lock is never seen by another host sharing the
		// store: the lease is (gc/lease.go). It is taken before the log
		// is caught up, so every record appended before it is planned on.
		host, _ := os.Hostname()
		lease, err := gc.AcquireLease(ctx, r.objects, gc.Holder{Writer: r.log.Writer(), Host: host, PID: os.Getpid()}, opts.LeaseTTL)
		if err != nil {
			return nil, err
		}
		defer lease.Release(ctx)
		opts.Lease = lease
	}
	opts.Objects = r.objects
	// Open applied the log, but a command may have appended a record since
	// (and died before its catalog transaction committed) while this one
	// waited for the lock: gc must plan on every committed record, or it
	// takes what that record uses for dead.
	if err := r.catchUpLocked(ctx); err != nil {
		return nil, err
	}
	if !opts.DryRun {
		if err := r.catchUpOtherWriters(ctx); err != nil {
			return nil, err
		}
	}
	opts.TmpDir = r.tmpDir()
	opts.Codec = r.codec()
	rep, err := r.gcRebuilding(ctx, opts)
	if err != nil || opts.DryRun {
		return rep, err
	}
	// The log's share: records and checkpoints the newest two checkpoints
	// supersede. Failing that costs space only.
	if _, err := r.pruneLog(ctx); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("could not remove superseded log records: %v", err))
	}
	return rep, nil
}

// catchUpOtherWriters applies the records of every other writer sharing
// the repository, under the gc lease: gc decides what is dead on every
// writer's records, so a chunk only another host's snapshot uses stays. A
// writer whose records cannot be read (damaged, pruned below what this
// catalog applied) stops gc: planning without them could condemn what
// they use.
func (r *Repo) catchUpOtherWriters(ctx context.Context) error {
	if err := r.catchUpOthers(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrGCUnsafe, err)
	}
	return nil
}

// gcPlansSeen is the file in local/ that remembers the gc plans a
// snapshot has read, so the next one reads only plans new since.
const gcPlansSeen = "gc-plans.json"

// condemnedPacks returns the pack files gc plans condemn, for a snapshot
// to treat as absent (snapshot.Deps.Condemned). It costs one LIST of gc/
// when no plan is new (REMOTE.md's budget for an unchanged snapshot: that
// LIST and the record's PUT) and a GET per new plan. Format 1 has none.
func (r *Repo) condemnedPacks(ctx context.Context) (map[string]bool, map[blobstore.ID]bool, error) {
	if r.objects == nil {
		return nil, nil, nil
	}
	path := filepath.Join(r.localDir, gcPlansSeen)
	seen := map[string]gc.View{}
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &seen) // a damaged cache costs re-reading the plans
	}
	objs, confirm := r.plansLister(len(seen))
	now, err := gc.ReadCondemned(ctx, objs, seen)
	if err == nil {
		err = confirm()
	}
	if err != nil {
		return nil, nil, err
	}
	if !maps.EqualFunc(now, seen, func(a, b gc.View) bool { return slices.Equal(a.Packs, b.Packs) && slices.Equal(a.Chunks, b.Chunks) }) && !r.readOnly {
		if b, err := json.Marshal(now); err == nil {
			tmp := path + ".tmp"
			if os.WriteFile(tmp, b, 0o600) == nil {
				os.Rename(tmp, path)
			}
		}
	}
	var packs map[string]bool
	var chunks map[blobstore.ID]bool
	for _, v := range now {
		for _, name := range v.Packs {
			if packs == nil {
				packs = map[string]bool{}
			}
			packs[name] = true
		}
		for _, h := range v.Chunks {
			id, err := blobstore.ParseID(h)
			if err != nil {
				continue
			}
			if chunks == nil {
				chunks = map[blobstore.ID]bool{}
			}
			chunks[id] = true
		}
	}
	return packs, chunks, nil
}
