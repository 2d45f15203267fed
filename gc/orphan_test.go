package gc_test

import (
	"github.com/cairn-dev/cairn/blobstore"
)

// newOrphan writes a durable pack that the catalog does not record.
func newOrphan(f *fixture) (string, error) {
	w, err := blobstore.NewPackWriter(f.ctx, f.store, nil)
	if err != nil {
		return "", err
	}
	data := []byte("orphaned chunk")
	if _, err := w.Add(blobstore.Sum(data), len(data), blobstore.Encode(nil, data)); err != nil {
		return "", err
	}
	info, err := w.Finish(f.ctx)
	return info.Name, err
}
