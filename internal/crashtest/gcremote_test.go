package crashtest

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestKillRemoteGC kills cairn gc at random points while it collects a
// repository in a bucket (versitygw): every round changes the source,
// snapshots it, forgets all but the newest snapshot, and runs gc, killed;
// half the rounds with --grace 0 (the plan carried out in the same run,
// so kills land among the deletions), half with the default grace (a plan
// left for later). After each kill the next command (a snapshot) works
// and every snapshot restores; the killed gc's lease does not block the
// next gc (its process is gone), and a final gc --grace 0 carries out
// every plan the killed runs left: no condemned or orphan pack, no plan,
// no lease remains.
func TestKillRemoteGC(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kill tests are skipped under -short")
	}
	b := newBucketRepo(t)
	srv, prefix := b.srv, b.prefix
	e := newEnv(t)
	e.repo = b.url
	e.extraEnv = append(b.env, "XDG_CACHE_HOME="+e.fresh("cache"))
	_, kills, _, _ := killBudget(t)
	kills = max(4, kills/2) // each command pays argon2id and the network
	rng := rand.New(rand.NewPCG(12, 12))
	c := newCorpus(t, e.src, 2, killCorpus)
	h := history{}
	e.must("init")
	state := scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)
	round := func() {
		c.mutate(true)
		state := scan(t, e.src)
		e.must("snap", e.src)
		e.adopt(h, state)
		e.must("forget", "--keep-last", "1")
		e.adopt(h, nil)
	}
	round()
	typical := e.must("gc", "--max-unused", "1%", "--grace", "0").dur
	stats := newKillStats("remote gc")
	for i := 0; stats.kills < kills && i < 3*kills; i++ {
		round()
		args := []string{"gc", "--max-unused", "1%"}
		if i%2 == 0 {
			args = append(args, "--grace", "0")
		}
		delay := randomDelay(rng, typical)
		r := e.start(args...).killAfter(delay)
		assertNoPanic(t, r)
		if !r.killed {
			if r.code != 0 {
				t.Fatalf("gc (not killed) failed: %v", r)
			}
			typical = ewma(typical, r.dur)
		}
		stats.add(delay, typical, r, "killed")
		// The next command works, and nothing committed is lost.
		c.mutate(false)
		state := scan(t, e.src)
		e.must("snap", e.src)
		e.adopt(h, state)
		e.verifyAll(h)
	}
	r := e.must("gc", "--max-unused", "1%", "--grace", "0")
	if n := e.checkData(); n != 0 {
		t.Fatalf("a full gc after the kills left %d packs the catalog does not name: %v", n, r)
	}
	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"/gc/", "/locks/"} {
		for obj := range client.ListObjects(context.Background(), srv.Bucket, minio.ListObjectsOptions{Prefix: prefix + dir, Recursive: true}) {
			if obj.Err != nil {
				t.Fatal(obj.Err)
			}
			t.Errorf("after the final gc the bucket still holds %s", strings.TrimPrefix(obj.Key, prefix+"/"))
		}
	}
	e.verifyAll(h)
	stats.log(t)
}
