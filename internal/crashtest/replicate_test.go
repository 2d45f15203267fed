package crashtest

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestKillReplicate: cairn replicate to S3 (versitygw) killed with SIGKILL
// once the first pack is on the target; the next replicate copies only
// what is missing, and a new machine (a fresh cache) recovers the replica
// with the password alone and restores every snapshot byte for byte.
func TestKillReplicate(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kill tests are skipped under -short")
	}
	b := newBucketRepo(t)
	srv, prefix, replica := b.srv, b.prefix, b.url
	e := newEnv(t)
	e.extraEnv = append(b.env, "XDG_CACHE_HOME="+e.fresh("cache"))
	writeBigFiles(t, e.src, 64<<20, 1)
	e.must("init")
	e.must("snap", e.src)
	h := history{}
	e.adopt(h, scan(t, e.src))

	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	packsOnTarget := func() int {
		n := 0
		for obj := range client.ListObjects(context.Background(), srv.Bucket, minio.ListObjectsOptions{Prefix: prefix + "/packs/", Recursive: true}) {
			if obj.Err == nil && strings.HasSuffix(obj.Key, ".pack") {
				n++
			}
		}
		return n
	}
	p := e.start("replicate", "--to", replica)
	deadline := time.Now().Add(cmdTimeout)
	for packsOnTarget() == 0 {
		select {
		case <-p.done:
			t.Fatalf("replicate finished before it could be killed: %v", p.wait())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("replicate never wrote a pack")
		}
		time.Sleep(2 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	if r := p.wait(); !r.killed {
		t.Fatalf("not killed: %v", r)
	}
	copied := packsOnTarget()
	r := e.must("replicate", "--to", replica)
	t.Logf("killed with %d packs on the target; then: %s", copied, strings.TrimSpace(r.stdout))
	if !strings.Contains(r.stdout, "were there already") || strings.Contains(r.stdout, "; 0 packs and") {
		t.Errorf("the replicate after the kill found no pack there already: %v", r)
	}

	// A new machine: the replica and the password.
	e.extraEnv = append(e.extraEnv, "XDG_CACHE_HOME="+filepath.Join(e.fresh("new-machine"), "cache"))
	e.repo = replica
	if r := e.must("recover"); !strings.Contains(r.stdout, "1 snapshot,") {
		t.Errorf("recover: %v", r)
	}
	e.verifyAll(h)
}
