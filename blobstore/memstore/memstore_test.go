package memstore_test

import (
	"testing"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/memstore"
	"github.com/cairn-dev/cairn/blobstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blobstore.Store { return memstore.New() })
}

func TestObjectsConformance(t *testing.T) {
	storetest.RunObjects(t, func(t *testing.T) blobstore.Objects {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
