package cairn_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/restore"
)

// cpuNow is this process's user and system CPU time so far.
func cpuNow(t *testing.T) (user, sys time.Duration) {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// TestMeasureEncryptionCPU measures what encryption costs: the CPU of a
// first snapshot of CAIRN_CRYPT_CORPUS into a repository writing plain
// (format-1) packs and one writing sealed (format-2) packs, both with the
// log, alternating (CAIRN_CRYPT_ROUNDS rounds, default 3), then a
// full restore and a cat of CAIRN_CRYPT_CAT (a path under the corpus) from
// each (CAIRN_CRYPT_RESTORE=0 leaves the restores out). It only runs when CAIRN_CRYPT_CORPUS is set (the agent-state corpus
// of bench/gen.go); the figures are in the log.
func TestMeasureEncryptionCPU(t *testing.T) {
	corpus := os.Getenv("CAIRN_CRYPT_CORPUS")
	if corpus == "" {
		t.Skip("set CAIRN_CRYPT_CORPUS to a corpus directory to measure")
	}
	rounds := 3
	if s := os.Getenv("CAIRN_CRYPT_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		rounds = n
	}
	ctx := context.Background()
	base := t.TempDir()
	type sample struct{ user, sys, wall time.Duration }
	measure := func(f func()) sample {
		runtime.GC()
		u0, s0 := cpuNow(t)
		w0 := time.Now()
		f()
		u1, s1 := cpuNow(t)
		return sample{u1 - u0, s1 - s0, time.Since(w0)}
	}
	// One snapshot first, not measured: the first of a process pays for
	// a cold heap and page cache (3 s more system time on agent-state).
	warm, err := cairn.Open(ctx, filepath.Join(base, "warm-up"), cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := warm.Snapshot(ctx, corpus, cairn.SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	warm.Close()
	os.RemoveAll(filepath.Join(base, "warm-up"))
	var snaps, restores, cats [2][]sample
	packKind := [2]string{"plain", "sealed"}
	for round := range rounds {
		// Which goes first alternates: the first snapshot of a run pays
		// for a cold page cache and heap, and would always be plain.
		for i := range 2 {
			format := (i + round) % 2
			dir := filepath.Join(base, "repo-"+strconv.Itoa(round)+"-"+strconv.Itoa(format+1))
			repo, err := cairn.Open(ctx, dir, cairn.Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			// Both are format-2 repositories with a log; the control
			// writes plain packs, so the difference is the packs'
			// encryption alone (sealed blobs and footers, keyed chunk ids
			// and gear table).
			if format == 0 {
				cairn.PlainPacksForTest(repo)
			}
			if cairn.SealedForTest(repo) != (format == 1) {
				t.Fatalf("format %d repository seals: %v", format+1, cairn.SealedForTest(repo))
			}
			var res *cairn.SnapshotResult
			s := measure(func() {
				if res, err = repo.Snapshot(ctx, corpus, cairn.SnapshotOptions{}); err != nil {
					t.Fatal(err)
				}
			})
			snaps[format] = append(snaps[format], s)
			if os.Getenv("CAIRN_CRYPT_RESTORE") != "0" {
				req, _, err := repo.Resolve(ctx, corpus, res.ID, false)
				if err != nil {
					t.Fatal(err)
				}
				to := filepath.Join(base, "restored")
				restores[format] = append(restores[format], measure(func() {
					if _, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
						t.Fatal(err)
					}
				}))
				os.RemoveAll(to)
			}
			if rel := os.Getenv("CAIRN_CRYPT_CAT"); rel != "" {
				creq, _, err := repo.Resolve(ctx, filepath.Join(corpus, rel), res.ID, false)
				if err != nil {
					t.Fatal(err)
				}
				cats[format] = append(cats[format], measure(func() {
					if err := repo.Cat(ctx, creq, io.Discard); err != nil {
						t.Fatal(err)
					}
				}))
			}
			repo.Close()
			os.RemoveAll(dir)
			t.Logf("round %d, %s packs: snapshot %v user %v sys %v wall, %d bytes added", round+1, packKind[format], s.user, s.sys, s.wall, res.BytesAdded)
		}
	}
	report := func(what string, ss [2][]sample) {
		for format := range 2 {
			var cpu, wall time.Duration
			for _, s := range ss[format] {
				cpu += s.user + s.sys
				wall += s.wall
			}
			if n := time.Duration(len(ss[format])); n > 0 {
				t.Logf("%s, %s packs: mean CPU %v, mean wall %v over %d runs: %v", what, packKind[format], cpu/n, wall/n, n, ss[format])
			}
		}
	}
	report("first snapshot", snaps)
	var cpu, user [2]time.Duration
	for format := range 2 {
		for _, s := range snaps[format] {
			cpu[format] += s.user + s.sys
			user[format] += s.user
		}
	}
	if cpu[0] > 0 && user[0] > 0 {
		// System time is mostly writeback and page faults, which a loaded
		// machine makes noisy; sealing is user time.
		t.Logf("encryption: first snapshot CPU %+.1f%%, user time %+.1f%% (sealed packs against plain ones, the issue's limit +5%%)",
			100*(float64(cpu[1])/float64(cpu[0])-1), 100*(float64(user[1])/float64(user[0])-1))
	}
	report("full restore", restores)
	report("cat", cats)
}
