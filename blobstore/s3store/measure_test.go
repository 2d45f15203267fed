package s3store_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore/s3store"
	"github.com/cairn-dev/cairn/internal/s3test"
)

// TestMeasureThroughput prints PUT and GET throughput of 16 MiB packs to
// versitygw on loopback, one at a time and with the default four uploads
// in flight. It is a measurement, not a check: CAIRN_S3_MEASURE=1 runs it.
//
//	CAIRN_S3_MEASURE=1 go test ./blobstore/s3store -run MeasureThroughput -v
func TestMeasureThroughput(t *testing.T) {
	if os.Getenv("CAIRN_S3_MEASURE") == "" {
		t.Skip("a measurement: set CAIRN_S3_MEASURE=1")
	}
	srv := s3test.Versity(t)
	ctx := context.Background()
	const packs, size = 16, 16 << 20
	data := make([][]byte, packs)
	for i := range data {
		data[i] = randBytes(uint64(1000+i), size)
	}
	mib := float64(packs*size) / (1 << 20)
	for _, run := range []struct {
		par      int
		unsigned bool
	}{{1, false}, {4, false}, {1, true}, {4, true}} {
		par := run.par
		s, c := counted(t, srv, func(c *s3store.Config) { c.UnsignedPayload = run.unsigned })
		t.Logf("UnsignedPayload: %v", run.unsigned)
		names := make([]string, packs)
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, par)
		for i := range data {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				names[i] = put(t, s, data[i])
			})
		}
		wg.Wait()
		d := time.Since(start)
		t.Logf("PUT %d packs of 16 MiB, %d at a time: %v, %.0f MiB/s, %v requests", packs, par, d.Round(time.Millisecond), mib/d.Seconds(), c.reset())

		start = time.Now()
		sem = make(chan struct{}, par)
		for i := range names {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				p := make([]byte, size)
				if err := s.ReadAt(ctx, names[i], p, 0); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		d = time.Since(start)
		t.Logf("GET %d whole packs, %d at a time: %v, %.0f MiB/s, %v requests", packs, par, d.Round(time.Millisecond), mib/d.Seconds(), c.reset())

		start = time.Now()
		for _, name := range names[:4] {
			p := make([]byte, 128<<10)
			for off := int64(8); off+int64(len(p)) < size; off += int64(len(p)) {
				if err := s.ReadAt(ctx, name, p, off); err != nil {
					t.Fatal(err)
				}
			}
		}
		d = time.Since(start)
		t.Logf("ReadAt 128 KiB in order through 4 packs: %v, %.0f MiB/s, %v requests", d.Round(time.Millisecond), 64/d.Seconds(), c.reset())
	}
}
