package cairn_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/blobstore/s3store"
	"github.com/cairn-dev/cairn/internal/s3test"
	"github.com/cairn-dev/cairn/restore"
)

// TestSeaweedFSVolumeKilled: snapshots into a real distributed engine (a
// SeaweedFS cluster of master, three volume servers with replication
// 001, filer and S3 gateway), one volume server killed with SIGKILL while
// a snapshot uploads. The snapshot under way and the ones after either
// commit or fail cleanly, and every committed snapshot restores byte for
// byte from the surviving servers.
func TestSeaweedFSVolumeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a SeaweedFS cluster")
	}
	ctx := context.Background()
	start := time.Now()
	w := s3test.Seaweed(t)
	t.Logf("SeaweedFS cluster up in %v", time.Since(start).Round(time.Millisecond))
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeTree(t, src, 1)

	rc := &requestCounter{n: map[string]int{}}
	store, err := s3store.New(s3store.Config{
		Endpoint: w.Endpoint, Bucket: w.Bucket, Prefix: "weed",
		Creds:  credentials.NewStaticV4(w.AccessKey, w.SecretKey, ""),
		TmpDir: t.TempDir(),
		// The master notices a dead volume server within seconds; until
		// then writes assigned to it fail. Retry for up to ~30 s.
		Attempts: 10, Backoff: 250 * time.Millisecond,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper { rc.inner = rt; return rc },
	})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()

	var states []manifest
	var ids []int64
	snap := func(what string) error {
		t0 := time.Now()
		res, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
		reqs, _ := rc.take()
		if err != nil {
			t.Logf("%s failed after %v (%s): %v", what, time.Since(t0).Round(time.Millisecond), reqs, err)
			return err
		}
		t.Logf("%s: snapshot %d in %v, %d bytes added (%s)", what, res.ID, time.Since(t0).Round(time.Millisecond), res.BytesAdded, reqs)
		states, ids = append(states, takeManifest(t, src)), append(ids, res.ID)
		return nil
	}
	if err := snap("before the kill"); err != nil {
		t.Fatal(err)
	}

	// Kill a volume server as soon as the next snapshot's first PUT is on
	// its way.
	writeTree(t, filepath.Join(src, "more"), 2)
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			rc.mu.Lock()
			puts := rc.n["PUT"]
			rc.mu.Unlock()
			if puts > 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		w.KillVolume(1)
		t.Log("volume server 1 killed with SIGKILL")
	}()
	snap("during the kill")
	<-killed

	// Later snapshots work on the two servers left (a few tries while
	// the master learns that one is gone).
	for i := range 3 {
		writeTree(t, filepath.Join(src, fmt.Sprintf("after%d", i)), uint64(10+i))
		var err error
		for try := range 4 {
			if err = snap(fmt.Sprintf("after the kill %d, try %d", i, try)); err == nil {
				break
			}
			time.Sleep(2 * time.Second)
		}
		if err != nil {
			t.Fatalf("no snapshot commits after the kill: %v", err)
		}
	}

	for i, id := range ids {
		req, _, err := repo.Resolve(ctx, src, id, false)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(base, fmt.Sprintf("restored-%d", id))
		t0 := time.Now()
		if _, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
			t.Fatalf("restore snapshot %d: %v", id, err)
		}
		reqs, _ := rc.take()
		t.Logf("restore of snapshot %d in %v (%s)", id, time.Since(t0).Round(time.Millisecond), reqs)
		compareTrees(t, fmt.Sprintf("snapshot %d restored from SeaweedFS with a volume server dead", id), states[i], takeManifest(t, to))
		os.RemoveAll(to)
	}
	check, err := repo.Check(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !check.OK() {
		t.Errorf("check --read-data: %v", check.Problems)
	}
	t.Logf("SeaweedFS test in %v, %d snapshots committed", time.Since(start).Round(time.Millisecond), len(ids))
}
