package crashtest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// resumeSize is the big-files corpus of TestKillResume: 96 MiB (six packs
// or so) by default; CAIRN_RESUME_SIZE=400 (MiB) for the figure.
func resumeSize(t *testing.T) int64 {
	if s := os.Getenv("CAIRN_RESUME_SIZE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 16 {
			t.Fatalf("CAIRN_RESUME_SIZE=%q: want MiB, at least 16", s)
		}
		return int64(n) << 20
	}
	return 96 << 20
}

// writeBigFiles writes four files of total/4 bytes, as the benchmark's
// big-files corpus: two incompressible (ChaCha8), two of log lines.
func writeBigFiles(t *testing.T, dir string, total int64, seed uint64) {
	t.Helper()
	for i, name := range []string{"random-0.bin", "log-0.log", "random-1.bin", "log-1.log"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var key [32]byte
		key[0], key[1] = byte(seed), byte(i)
		c := rand.NewChaCha8(key)
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		buf := make([]byte, 0, 4<<20)
		for left := total / 4; left > 0; {
			buf = buf[:0]
			if strings.HasSuffix(name, ".bin") {
				buf = buf[:min(int64(cap(buf)), left)]
				c.Read(buf)
			} else {
				for int64(len(buf)) < min(int64(cap(buf))-200, left) {
					buf = strconv.AppendInt(buf, 1_700_000_000_000+r.Int64N(1e9), 10)
					buf = append(buf, []string{" INFO ", " DEBUG ", " WARN "}[r.IntN(3)]...)
					buf = append(buf, "job="...)
					buf = strconv.AppendInt(buf, int64(r.IntN(500)), 10)
					buf = append(buf, " took="...)
					buf = strconv.AppendInt(buf, int64(r.IntN(5000)), 10)
					buf = append(buf, "ms bytes="...)
					buf = strconv.AppendInt(buf, int64(r.IntN(1<<20)), 10)
					buf = append(buf, '\n')
				}
				buf = buf[:min(int64(len(buf)), left)]
			}
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
			left -= int64(len(buf))
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		os.Chtimes(f.Name(), old, old)
	}
}

// packBytes is what the repository's packs/ holds: sealed packs only
// (uploads are written in tmp/).
func packBytes(t *testing.T, repo string) int64 {
	t.Helper()
	var n int64
	for _, size := range packFiles(t, repo) {
		n += size
	}
	return n
}

// TestKillResume: a first snapshot of big files killed with SIGKILL once
// it has sealed two thirds of what it stores (or a little more). A gc in between keeps the
// packs (grace period); a snapshot of another source takes nothing from
// them; the next snapshot of the source stores only what they lack, and
// every file restores byte for byte.
func TestKillResume(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kill tests are skipped under -short")
	}
	e := newEnv(t)
	size := resumeSize(t)
	writeBigFiles(t, e.src, size, 1)
	state := scan(t, e.src)

	// What a whole first snapshot stores, in a repository of its own.
	ref := e.fresh("ref-repo")
	if r := e.runIn(ref, "snap", e.src); r.code != 0 {
		t.Fatalf("reference snapshot: %v", r)
	}
	full := packBytes(t, ref)
	os.RemoveAll(ref)

	p := e.start("snap", e.src)
	deadline := time.Now().Add(cmdTimeout)
	// Packs seal in 16 MiB steps, two at a time: a kill once two thirds
	// are sealed lands at about 70% on the 400 MiB corpus of the
	// measurement (CAIRN_RESUME_SIZE=400). On the default 96 MiB one the
	// kill comes at half, so that the rest of the snapshot outlasts a
	// loaded machine's late kill (at two thirds it once committed first).
	killAt := full / 2
	if os.Getenv("CAIRN_RESUME_SIZE") != "" {
		killAt = full * 2 / 3
	}
	for packBytes(t, e.repo) < killAt {
		select {
		case <-p.done:
			t.Fatalf("the first snapshot finished before it could be killed: %v", p.wait())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the first snapshot never sealed two thirds of its packs")
		}
		time.Sleep(2 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	if r := p.wait(); !r.killed {
		t.Fatalf("not killed: %v", r)
	}
	orphaned := packBytes(t, e.repo)
	if n := len(e.snapshots()); n != 0 {
		t.Fatalf("the killed snapshot committed: %d snapshots", n)
	}

	// gc keeps young orphans, and leaves the next snapshot able to find them.
	r := e.must("gc")
	if !strings.Contains(r.stdout, "kept ") || packBytes(t, e.repo) != orphaned {
		t.Fatalf("gc did not keep the young orphans: %v", r)
	}
	// Another source, interleaved: it shares nothing with the orphans.
	other := e.fresh("other")
	os.MkdirAll(other, 0o755)
	writeOld(t, filepath.Join(other, "x.bin"), randomBytes(3<<20, 9))
	if r := e.must("snap", other); strings.Contains(r.stdout, "resumed") {
		t.Fatalf("a snapshot of another source resumed from the orphans: %v", r)
	}
	otherState := scan(t, other)
	before := packBytes(t, e.repo)

	r = e.must("snap", e.src)
	written := packBytes(t, e.repo) - before
	share := float64(written) / float64(full)
	t.Logf("corpus %d MiB, a whole first snapshot stores %.1f MiB; killed after %.1f MiB (%.0f%%); the next snapshot stored %.1f MiB again (%.1f%% of the data); repository %.1f MiB",
		size>>20, mb(full), mb(orphaned), 100*float64(orphaned)/float64(full), mb(written), 100*share, mb(packBytes(t, e.repo)))
	if !strings.Contains(r.stdout, "resumed: ") {
		t.Fatalf("the snapshot after the kill did not resume: %v", r)
	}
	// All but what the orphans hold, and a little: the target is
	// at most 35% again after a kill at 70%.
	if want := float64(full-orphaned)/float64(full) + 0.05; share > want {
		t.Fatalf("stored %.1f%% of the data again, want at most %.1f%%", 100*share, 100*want)
	}
	h := history{}
	e.adopt(h, state)
	e.verifyAll(h)
	e.verifySnapshot(e.snapshotOf(other), other, otherState)
	if n := e.checkData(); n != 0 {
		t.Fatalf("%d packs still unrecorded after the resumed snapshot", n)
	}
	e.must("gc", "--grace", "0")
	e.verifyAll(h)
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

// snapshotOf returns the id of the newest snapshot of src.
func (e *env) snapshotOf(src string) int64 {
	e.t.Helper()
	var id int64
	for _, s := range e.snapshots() {
		if s.Source == src && s.ID > id {
			id = s.ID
		}
	}
	if id == 0 {
		e.t.Fatalf("no snapshot of %s", src)
	}
	return id
}
