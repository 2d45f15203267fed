package blobstore

import (
	"context"
	"time"
)

// DatedLister is a Store that can say when each pack was committed, in
// the store's own clock: a local file's modification time, an object's
// Last-Modified. Both come with the listing at no extra cost, which is
// why this is a listing and not a per-pack call. gc measures the grace
// period of unreferenced packs with it (an interrupted snapshot's packs
// must survive until the next snapshot resumes from them).
type DatedLister interface {
	ListDated(ctx context.Context, fn func(name string, size int64, committed time.Time) error) error
}

// ListDated lists s with each pack's commit time where s is a
// DatedLister; otherwise it lists s and reports the zero time, which
// callers must take as "unknown", never as "old".
func ListDated(ctx context.Context, s Store, fn func(name string, size int64, committed time.Time) error) error {
	if d, ok := s.(DatedLister); ok {
		return d.ListDated(ctx, fn)
	}
	return s.List(ctx, func(name string, size int64) error { return fn(name, size, time.Time{}) })
}
