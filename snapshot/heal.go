package snapshot

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// A snapshot never commits a new reference to data known to be missing.
// Chunks in packs the catalog records as missing are stored again as if
// new (catalog.FindChunk does not find them, and the commit moves their
// rows to the new pack), and live files whose contents use them are read
// again (catalog.LiveInOrder). A pack can also vanish without anyone
// having noticed: before committing, a snapshot asks the store about the
// packs of the known chunks it refers to anew, one Stat per distinct pack.
// An unchanged snapshot refers to none and asks nothing, so it stays as
// cheap on a remote store as it is; files that did not change are healed
// only once check has recorded their pack as missing.

// statWorkers is how many packs missingReused asks about at once: on a
// remote store each Stat is a HEAD, and a snapshot of a file that grew
// over many small snapshots reuses chunks of many older packs.
const statWorkers = 8

// missingReused returns the packs holding chunks this snapshot reuses
// that the store no longer has, in name order.
func (r *run) missingReused(ctx context.Context) ([]string, error) {
	r.index.mu.Lock()
	packs := make([]string, 0, len(r.index.reused))
	for name := range r.index.reused {
		packs = append(packs, name)
	}
	r.index.mu.Unlock()
	sort.Strings(packs)
	gone := make([]bool, len(packs))
	errs := make([]error, len(packs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(statWorkers, len(packs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				_, err := r.Store.Stat(ctx, packs[i])
				if errors.Is(err, blobstore.ErrNotFound) {
					gone[i] = true
				} else if err != nil {
					errs[i] = fmt.Errorf("check pack %s: %w", packs[i], err)
				}
			}
		}()
	}
	for i := range packs {
		next <- i
	}
	close(next)
	wg.Wait()
	var missing []string
	for i, name := range packs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if gone[i] {
			missing = append(missing, name)
		}
	}
	return missing, nil
}

// healRetries bounds how often a snapshot starts again after finding
// packs missing; each attempt records the packs it found, so the next one
// stores their chunks again and reads the files using them.
const healRetries = 3

// healMissing records the missing packs the snapshot was about to reuse
// and returns them: the snapshot then runs again. The packs written by the
// abandoned attempt are unreferenced; the next attempt takes the chunks it
// needs from them (resume.go).
func (r *run) healMissing(ctx context.Context) ([]string, error) {
	missing, err := r.missingReused(ctx)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	if r.opts.healAttempt >= healRetries {
		return nil, fmt.Errorf("packs keep vanishing from the store while the snapshot runs (%d after %d attempts, e.g. %s)", len(missing), healRetries, missing[0])
	}
	if err := r.DB.SetPacksMissing(ctx, missing, nil); err != nil {
		return nil, err
	}
	return missing, nil
}

// warnHealed tells, once the snapshot found packs missing, that it stored
// their chunks again where the source still had them.
func (r *run) warnHealed(warn func(path, kind, msg string)) {
	if len(r.opts.healed) == 0 {
		return
	}
	what := fmt.Sprintf("%d packs were missing from the store (e.g. %s)", len(r.opts.healed), r.opts.healed[0])
	if len(r.opts.healed) == 1 {
		what = fmt.Sprintf("pack %s was missing from the store", r.opts.healed[0])
	}
	warn(".", catalog.WarnMissingPack, what+"; the chunks of theirs this source still has were stored again, which also heals the older snapshots that share them")
}
