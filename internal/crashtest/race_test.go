package crashtest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// raceCorpus keeps each command near 100 ms, so iterations are cheap but
// the commands still overlap.
var raceCorpus = corpusSpec{small: 80, big: 1, bigSize: 2 << 20}

// startBoth starts a and b with b offset by up to ±maxOffset, and waits
// for both.
func (e *env) startBoth(rng *rand.Rand, maxOffset time.Duration, a, b []string) (ra, rb result) {
	e.t.Helper()
	off := time.Duration(rng.Int64N(int64(2*maxOffset)+1)) - maxOffset
	var pa, pb *proc
	if off >= 0 {
		pa = e.start(a...)
		time.Sleep(off)
		pb = e.start(b...)
	} else {
		pb = e.start(b...)
		time.Sleep(-off)
		pa = e.start(a...)
	}
	ra, rb = pa.wait(), pb.wait()
	assertNoPanic(e.t, ra)
	assertNoPanic(e.t, rb)
	return ra, rb
}

func waited(r result) bool { return strings.Contains(r.stderr, "waiting for") }

// TestConcurrentSnapsDifferentSources: two sources snapshotted at once
// both commit, and both restore.
func TestConcurrentSnapsDifferentSources(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(10, 10))
	src2 := filepath.Join(e.base, "src2")
	c1 := newCorpus(t, e.src, 10, raceCorpus)
	c2 := newCorpus(t, src2, 11, raceCorpus)
	h1, h2 := history{}, history{}
	for i := 0; i < 4; i++ {
		if i > 0 {
			c1.mutate(true)
			c2.mutate(true)
		}
		s1, s2 := scan(t, e.src), scan(t, src2)
		r1, r2 := e.startBoth(rng, 30*time.Millisecond, []string{"snap", e.src}, []string{"snap", src2})
		if r1.code != 0 || r2.code != 0 {
			t.Fatalf("concurrent snaps of two sources:\n%v\n%v", r1, r2)
		}
		if n := len(e.adoptFor(e.src, h1, s1)); n != 1 {
			t.Fatalf("snap of %s committed %d snapshots", e.src, n)
		}
		if n := len(e.adoptFor(src2, h2, s2)); n != 1 {
			t.Fatalf("snap of %s committed %d snapshots", src2, n)
		}
		e.checkData()
		e.verifyNewest(e.src, h1)
		e.verifyNewest(src2, h2)
	}
}

// TestConcurrentSnapsSameSource: two snaps of one source at once both
// succeed (one waits for the other's source lock) and commit two
// snapshots of the same state.
func TestConcurrentSnapsSameSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(12, 12))
	c := newCorpus(t, e.src, 12, raceCorpus)
	h := history{}
	waits := 0
	for i := 0; i < 4; i++ {
		if i > 0 {
			c.mutate(true)
		}
		state := scan(t, e.src)
		r1, r2 := e.startBoth(rng, 30*time.Millisecond, []string{"snap", e.src}, []string{"snap", e.src})
		if r1.code != 0 || r2.code != 0 {
			t.Fatalf("concurrent snaps of one source:\n%v\n%v", r1, r2)
		}
		if waited(r1) || waited(r2) {
			waits++
		}
		added := e.adopt(h, state)
		if len(added) != 2 {
			t.Fatalf("two snaps committed %d snapshots", len(added))
		}
		e.checkData()
		for _, id := range added {
			e.verifySnapshot(id, e.src, state)
		}
	}
	t.Logf("same source: 4 races, one snap waited for the other in %d", waits)
}

// TestGCSnapRace runs gc and snap together, many times, in the setting
// of the classic race: the snap needs chunks that only forgotten
// snapshots referenced, so gc considers them dead. Whichever way they
// interleave, no snapshot may reference missing data.
func TestGCSnapRace(t *testing.T) {
	t.Parallel()
	iterations := 20
	if testing.Short() {
		iterations = 5
	}
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(13, 13))
	c := newCorpus(t, e.src, 13, raceCorpus)
	h := history{}
	// These files flip between old and new content; their old content is
	// what gc wants to delete and the racing snap wants to reuse. mutate
	// leaves them alone (it touches f* and big* files only).
	c.mkdir("stable")
	flip := []string{"stable/volume.img"}
	c.write(flip[0], c.bytes(1<<20))
	for i := 0; i < 20; i++ {
		flip = append(flip, fmt.Sprintf("stable/k%02d.dat", i))
		c.write(flip[i+1], c.bytes(1+c.rng.IntN(maxSmall)))
	}
	state := scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)
	var snapWaited, gcWaited int
	for i := 0; i < iterations; i++ {
		saved := map[string][]byte{}
		for _, rel := range flip {
			b, err := os.ReadFile(filepath.Join(e.src, rel))
			if err != nil {
				t.Fatal(err)
			}
			saved[rel] = b
			c.write(rel, c.bytes(len(b)))
		}
		c.mutate(false)
		e.must("snap", e.src)
		e.adopt(h, nil) // forgotten next, never restored
		e.must("forget", "--keep-last", "1")
		e.adopt(h, nil)
		for rel, b := range saved {
			c.write(rel, b)
		}
		c.mutate(false)
		state = scan(t, e.src)
		rs, rg := e.startBoth(rng, 150*time.Millisecond, []string{"snap", e.src}, []string{"gc", "--max-unused", "1%"})
		if rs.code != 0 || rg.code != 0 {
			t.Fatalf("iteration %d: snap and gc at once:\n%v\n%v", i, rs, rg)
		}
		if waited(rs) {
			snapWaited++
		}
		if waited(rg) {
			gcWaited++
		}
		if n := len(e.adopt(h, state)); n != 1 {
			t.Fatalf("iteration %d: snap committed %d snapshots", i, n)
		}
		e.checkData()
		e.verifyNewest(e.src, h)
	}
	t.Logf("gc vs snap: %d races; snap waited for gc %d times, gc waited for snap %d times", iterations, snapWaited, gcWaited)
}

// TestCheckDuringSnaps: a check running beside snapshots (both hold the
// repository lock shared) must never report damage that is not there.
func TestCheckDuringSnaps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCorpus(t, e.src, 14, raceCorpus)
	e.must("snap", e.src)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []result
	checks := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := e.start("check").wait()
			mu.Lock()
			checks++
			if r.code != 0 || strings.Contains(r.stderr, "panic:") {
				bad = append(bad, r)
			}
			mu.Unlock()
		}
	}()
	for i := 0; i < 6; i++ {
		c.mutate(i%2 == 0)
		if r := e.start("snap", e.src).wait(); r.code != 0 {
			close(stop)
			wg.Wait()
			t.Fatalf("snap failed beside check: %v", r)
		}
	}
	close(stop)
	wg.Wait()
	for _, r := range bad {
		t.Errorf("check beside snapshots reported a problem: %v", r)
	}
	t.Logf("%d checks ran beside 6 snapshots", checks)
	e.checkData()
}

// TestWaitingSaysForWhat: a command that has to wait says for whom and for
// which lock, and then succeeds.
func TestWaitingSaysForWhat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCorpus(t, e.src, 15, corpusSpec{small: 20})
	e.must("snap", e.src)
	lock := filepath.Join(e.repo, "local", "lock")

	// gc-like holder of the exclusive repository lock.
	c.mutate(false)
	hold := startHolder(t, 1500*time.Millisecond, false, lock)
	r := e.must("snap", e.src)
	want := fmt.Sprintf("waiting for cairn gc (pid %d) to release the repository lock", hold.pid())
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("snap did not say %q: %v", want, r)
	}
	if r.dur < time.Second {
		t.Fatalf("snap finished in %v while the repository lock was held for 1.5s", r.dur)
	}

	// A snap-like holder of the shared lock and the source's lock.
	sourceLocks, _ := filepath.Glob(filepath.Join(e.repo, "local", "locks", "*.lock"))
	if len(sourceLocks) != 1 {
		t.Fatalf("want one source lock file, have %v", sourceLocks)
	}
	c.mutate(false)
	startHolder(t, time.Second, false, sourceLocks[0])
	r = e.must("snap", e.src)
	if !strings.Contains(r.stderr, "waiting for") || !strings.Contains(r.stderr, "lock on source "+e.src) {
		t.Fatalf("snap did not say it waits for the source lock: %v", r)
	}
	startHolder(t, time.Second, true, lock)
	r = e.must("gc")
	if !strings.Contains(r.stderr, "waiting for") || !strings.Contains(r.stderr, "repository lock") {
		t.Fatalf("gc did not say it waits for the repository lock: %v", r)
	}
	e.checkData()
}

// TestKilledHolderNeverBlocks: whoever holds a lock and is killed with
// SIGKILL releases it; a command waiting for it goes on at once.
func TestKilledHolderNeverBlocks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCorpus(t, e.src, 16, corpusSpec{small: 20})
	state := scan(t, e.src)
	e.must("snap", e.src)
	h := history{}
	e.adopt(h, state)
	locks, _ := filepath.Glob(filepath.Join(e.repo, "local", "locks", "*.lock"))
	locks = append(locks, filepath.Join(e.repo, "local", "lock"))

	c.mutate(true)
	state = scan(t, e.src)
	hold := startHolder(t, 0, false, locks...)
	p := e.start("snap", e.src)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "waiting for") {
		if time.Now().After(deadline) {
			t.Fatalf("snap never said it was waiting: %q", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	killed := time.Now()
	hold.kill()
	r := p.wait()
	if r.code != 0 {
		t.Fatalf("snap after the holder was killed: %v", r)
	}
	if d := time.Since(killed); d > 5*time.Second {
		t.Fatalf("snap took %v after the holder died", d)
	}
	e.adopt(h, state)

	// A real cairn killed while it holds the exclusive lock.
	c.mutate(true)
	e.must("forget", "--keep-last", "1")
	e.adopt(h, nil)
	g := e.start("gc", "--max-unused", "1%")
	time.Sleep(30 * time.Millisecond)
	g.killAfter(0)
	start := time.Now()
	state = scan(t, e.src)
	e.must("snap", e.src)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("snap after a killed gc took %v", d)
	}
	e.adopt(h, state)
	e.checkData()
	e.verifyAll(h)
}
