package blobstore_test

import (
	"path/filepath"
	"testing"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/storetest"
)

func TestLocalObjectsConformance(t *testing.T) {
	storetest.RunObjects(t, func(t *testing.T) blobstore.Objects {
		dir := t.TempDir()
		o, err := blobstore.NewLocalObjects(filepath.Join(dir, "repo"), filepath.Join(dir, "tmp"))
		if err != nil {
			t.Fatal(err)
		}
		return o
	})
}
