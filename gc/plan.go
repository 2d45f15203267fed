package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// Two-phase deletion. A host's snapshot may be deciding to reuse a chunk
// while a gc on another host decides the chunk is dead: no lock spans
// the two (snapshots take none across hosts). So gc never deletes a pack
// file in the run that finds it dead. It drops the catalog rows (a record
// in its log, so every writer learns of it) and writes a plan, an object
// gc/<stamp>-<token> that condemns the pack files; a later gc, holding
// the lease, deletes them once the plan is older than the grace period
// in store time, but only those that are still dead then: a pack that
// some catalog row names again (a record appended after the plan, by any
// writer, that names the pack: a snapshot that resumed from it, or
// another writer's snapshot that reused a chunk in it before it saw the
// plan) is revived, dropped from the plan and kept. A pack whose footer
// holds a chunk a content uses while the catalog keeps it nowhere that
// stays is kept too.
//
// Snapshots list gc/ (one LIST, the plans since the last one seen) and
// treat the chunks of condemned packs as absent: they store them again
// instead of referring to them (snapshot.Options.Condemned). A snapshot
// that listed before a plan was written may refer to its packs; it
// commits well within the grace period, and its record revives them.
// With a grace of 0 and a single writer, the plan is carried out in the
// run that writes it: today's immediate deletion.

const planPrefix = "gc/"

// Plan is the content of one plan object.
type Plan struct {
	Writer  string    `json:"writer"`
	Host    string    `json:"host"`
	Created time.Time `json:"created"` // the writing host's clock: for people only
	// Grace is the period the writing gc asked for; the gc that carries
	// a plan out applies its own.
	Grace time.Duration `json:"grace_ns"`
	Packs []Condemned   `json:"packs"`
}

// Condemned is a pack file a plan condemns, and why.
type Condemned struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Why is "orphan" (no row ever named it), "dead" (every chunk in it
	// was dropped) or "repacked" (its live chunks were copied out).
	Why string `json:"why"`
}

// storedPlan is a plan object as listed.
type storedPlan struct {
	key  string
	date time.Time // store time of its put
	plan Plan
}

// loadPlans reads every plan object. One that does not parse is
// reported and ignored: it condemns nothing (it was not written by this
// cairn, or was damaged), and deleting packs on its word would be a guess.
func loadPlans(ctx context.Context, o blobstore.Objects, rep *Report) ([]storedPlan, error) {
	var plans []storedPlan
	err := o.ListObjectsDated(ctx, planPrefix, func(key string, _ int64, date time.Time) error {
		plans = append(plans, storedPlan{key: key, date: date})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list gc plans: %w", err)
	}
	out := plans[:0]
	for _, sp := range plans {
		b, err := o.GetObject(ctx, sp.key)
		if errors.Is(err, blobstore.ErrNotFound) {
			continue // carried out meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read gc plan: %w", err)
		}
		if err := json.Unmarshal(b, &sp.plan); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("gc plan %s ignored: %v", sp.key, err))
			continue
		}
		out = append(out, sp)
	}
	return out, nil
}

// ReadCondemned returns the packs that the plans under gc/ condemn, for a
// snapshot to treat as absent. seen holds the plans read before (key ->
// their packs), which are not read again: an unchanged repository costs
// the one LIST. The result replaces seen.
func ReadCondemned(ctx context.Context, o blobstore.Objects, seen map[string][]string) (map[string][]string, error) {
	now := map[string][]string{}
	var fresh []string
	err := o.ListObjects(ctx, planPrefix, func(key string, _ int64) error {
		if packs, ok := seen[key]; ok {
			now[key] = packs
		} else {
			fresh = append(fresh, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list gc plans: %w", err)
	}
	for _, key := range fresh {
		b, err := o.GetObject(ctx, key)
		if errors.Is(err, blobstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read gc plan: %w", err)
		}
		var p Plan
		if json.Unmarshal(b, &p) != nil {
			continue
		}
		names := []string{}
		for _, c := range p.Packs {
			names = append(names, c.Name)
		}
		now[key] = names
	}
	return now, nil
}

// writePlan stores a plan condemning packs.
func writePlan(ctx context.Context, o blobstore.Objects, l *Lease, grace time.Duration, packs []Condemned) error {
	h := l.Holder()
	p := Plan{Writer: h.Writer, Host: h.Host, Created: time.Now().UTC(), Grace: grace, Packs: packs}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	// Keys sort by the writing host's clock, for people; ages come from
	// the store's dates.
	key := fmt.Sprintf("%s%020d-%s", planPrefix, time.Now().UnixNano(), h.Token)
	if err := o.PutObject(ctx, key, b); err != nil {
		return fmt.Errorf("write gc plan: %w", err)
	}
	return nil
}

// condemnedNames is every pack the plans condemn.
func condemnedNames(plans []storedPlan) map[string]bool {
	m := map[string]bool{}
	for _, sp := range plans {
		for _, c := range sp.plan.Packs {
			m[c.Name] = true
		}
	}
	return m
}

// carryOut deletes the packs of the plans older than grace in store time
// that are still dead, then the plans. It holds the lease; the catalog
// has every writer's records applied.
func carryOut(ctx context.Context, db *catalog.DB, store blobstore.Store, opts Options, rep *Report) error {
	o, l := opts.Objects, opts.Lease
	plans, err := loadPlans(ctx, o, rep)
	if err != nil || len(plans) == 0 {
		return err
	}
	now, err := l.Now(ctx)
	if err != nil {
		return err
	}
	var due []storedPlan
	for _, sp := range plans {
		if now.Sub(sp.date) >= opts.Grace {
			due = append(due, sp)
			continue
		}
		rep.WaitingPacks += len(sp.plan.Packs)
		for _, c := range sp.plan.Packs {
			rep.WaitingBytes += c.Size
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool { return due[i].key < due[j].key })
	// The references now, after this run's own drops and repacks and
	// every record appended since the plans were written.
	refs, err := db.ScanReferences(ctx)
	if err != nil {
		return err
	}
	if len(refs.Problems) > 0 {
		return fmt.Errorf("%w: the catalog contradicts itself: %s", ErrUnsafe, strings.Join(refs.Problems, "; "))
	}
	named := map[string]bool{}
	homeOK := map[int64]bool{}
	for _, pk := range refs.Packs {
		named[pk.Name] = true
		homeOK[pk.ID] = !pk.Missing
	}
	for _, sp := range due {
		for _, c := range sp.plan.Packs {
			if named[c.Name] {
				rep.Revived++ // a record named it again after the plan
				continue
			}
			entries, err := blobstore.ReadIndex(ctx, store, opts.Codec, c.Name)
			switch {
			case errors.Is(err, blobstore.ErrNotFound):
				continue // deleted already (a run killed after it)
			case errors.Is(err, blobstore.ErrCorrupt):
				rep.Problems = append(rep.Problems, fmt.Sprintf("condemned pack %s left as it is: %v", c.Name, err))
				continue
			case err != nil:
				return err
			}
			if needed(entries, refs, homeOK) {
				rep.Revived++
				rep.Problems = append(rep.Problems, fmt.Sprintf("condemned pack %s kept: it holds a chunk a file uses that the catalog keeps nowhere else", c.Name))
				continue
			}
			if err := l.Check(); err != nil {
				return err
			}
			if err := store.Delete(ctx, c.Name); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
				return fmt.Errorf("delete condemned pack %s: %w", c.Name, err)
			}
			rep.RemovedPacks++
			rep.BytesFreed += c.Size
		}
		if err := l.Check(); err != nil {
			return err
		}
		if err := o.DeleteObject(ctx, sp.key); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return fmt.Errorf("remove carried out gc plan: %w", err)
		}
	}
	return nil
}

// needed reports whether a footer lists a chunk that a content uses and
// that the catalog keeps only in a pack recorded missing.
func needed(entries []blobstore.Entry, refs *catalog.References, homeOK map[int64]bool) bool {
	for _, e := range entries {
		if home, live := refs.Home[e.ID]; live && !homeOK[home] {
			return true
		}
	}
	return false
}
