package crashtest

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// TestTwoWritersConcurrentGC: two installations (two caches, hosts alpha
// and beta) share one bucket (versitygw) and snapshot concurrently, real
// processes; a file both sources hold is stored once (beta dedups against
// alpha's packs), and alpha keeps changing its copy and forgetting, so in
// alpha's own history the old bytes die while beta's snapshots still use
// them. alpha's gc runs concurrently with beta's snapshots (default grace:
// it condemns, deletes nothing), and at the end, with nothing running, gc
// --grace 0 (it deletes). Nothing referenced is lost: every snapshot of
// both hosts restores from its own installation, beta's newest from
// alpha's too, and check --read-data finds no damage from either.
func TestTwoWritersConcurrentGC(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kill tests are skipped under -short")
	}
	b := newBucketRepo(t)
	e := newEnv(t)
	e.repo = b.url
	common := append(b.env, "CAIRN_CATCHUP_INTERVAL=0s")
	alpha := append(slices.Clone(common), "XDG_CACHE_HOME="+e.fresh("cache-alpha"), "CAIRN_HOST=alpha")
	beta := append(slices.Clone(common), "XDG_CACHE_HOME="+e.fresh("cache-beta"), "CAIRN_HOST=beta")
	as := func(env []string) { e.extraEnv = env }

	srcA, srcB := e.src, filepath.Join(e.base, "srcb")
	if err := os.Mkdir(srcB, 0o755); err != nil {
		t.Fatal(err)
	}
	cA := newCorpus(t, srcA, 21, corpusSpec{small: 40, big: 2, bigSize: 1 << 20})
	cB := newCorpus(t, srcB, 22, corpusSpec{small: 40, big: 2, bigSize: 1 << 20})
	shared := randomBytes(3<<20, 7)
	writeOld(t, filepath.Join(srcA, "shared.bin"), shared)
	writeOld(t, filepath.Join(srcB, "shared.bin"), shared)

	hA, hB := history{}, history{}
	as(alpha)
	e.must("init")
	state := scan(t, srcA)
	e.must("snap", srcA)
	e.adoptFor(srcA, hA, state)
	as(beta)
	state = scan(t, srcB)
	e.must("snap", srcB)
	e.adoptFor(srcB, hB, state)

	for round := 0; round < 4; round++ {
		cA.mutate(true)
		cB.mutate(true)
		// alpha's copy of the shared file changes; beta's does not.
		writeOld(t, filepath.Join(srcA, "shared.bin"), randomBytes(3<<20, byte(10+round)))
		stA, stB := scan(t, srcA), scan(t, srcB)
		as(alpha)
		pa := e.start("snap", srcA)
		as(beta)
		pb := e.start("snap", srcB)
		if r := pa.wait(); r.code != 0 {
			t.Fatalf("alpha: %v", r)
		}
		if r := pb.wait(); r.code != 0 {
			t.Fatalf("beta: %v", r)
		}
		as(alpha)
		e.adoptFor(srcA, hA, stA)
		e.must("forget", "--source", srcA, "--keep-last", "1")
		e.adoptFor(srcA, hA, nil)
		as(beta)
		e.adoptFor(srcB, hB, stB)

		// alpha's gc while beta snapshots.
		cB.mutate(false)
		stB = scan(t, srcB)
		as(alpha)
		pg := e.start("gc", "--max-unused", "1%")
		as(beta)
		pb = e.start("snap", srcB)
		if r := pg.wait(); r.code != 0 {
			t.Fatalf("alpha's gc: %v", r)
		}
		if r := pb.wait(); r.code != 0 {
			t.Fatalf("beta: %v", r)
		}
		e.adoptFor(srcB, hB, stB)
	}
	as(alpha)
	r := e.must("gc", "--max-unused", "1%", "--grace", "0")
	t.Logf("final gc: %s", r.stdout)

	as(alpha)
	for _, id := range sortedIDs(hA) {
		e.verifySnapshot(id, srcA, hA[id])
	}
	e.checkData()
	as(beta)
	for _, id := range sortedIDs(hB) {
		e.verifySnapshot(id, srcB, hB[id])
	}
	e.checkData()
	// beta's newest, restored by alpha.
	ids := sortedIDs(hB)
	newest := ids[len(ids)-1]
	as(alpha)
	dir := e.fresh("cross")
	if r := e.run("restore", "--snapshot", "beta:"+strconv.FormatInt(newest, 10), "--to", dir, srcB); r.code != 0 {
		t.Fatalf("alpha restoring beta's newest snapshot: %v", r)
	}
	if d := diffManifest(hB[newest], scan(t, dir), true); len(d) > 0 {
		t.Fatalf("beta's newest snapshot restored by alpha differs: %v", d)
	}
}
