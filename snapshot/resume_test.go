package snapshot

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/faultstore"
	"github.com/cairn-dev/cairn/check"
	"github.com/cairn-dev/cairn/chunker"
)

// resumeSource writes n incompressible files of size bytes each (ChaCha8,
// so every one is a different stream) and backdates them.
func resumeSource(t *testing.T, src string, seed byte, n, size int) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for i := range n {
		var s [32]byte
		s[0], s[1] = seed, byte(i)
		data := make([]byte, size)
		rand.NewChaCha8(s).Read(data)
		rel := "big-" + strconv.Itoa(i) + ".bin"
		writeFile(t, filepath.Join(src, rel), string(data))
		files[rel] = data
	}
	backdate(t, src, time.Hour)
	return files
}

// interrupted runs a snapshot of src whose nth pack commit fails, as a
// snapshot killed after sealing n-1 packs, and returns the bytes the store
// holds afterwards (all in orphans).
func (r *testRepo) interrupted(t *testing.T, src string, nth int) int64 {
	t.Helper()
	fs := faultstore.New(r.store, 1)
	fs.Set(faultstore.Commit, faultstore.Fault{Nth: nth})
	d := r.deps
	d.Store = fs
	if _, err := Run(context.Background(), d, src, Options{}); !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("interrupted snapshot: err = %v, want the injected fault", err)
	}
	if got := r.orphanCount(t); got != nth-1 {
		t.Fatalf("the interrupted snapshot left %d packs, want %d", got, nth-1)
	}
	return r.storeBytes(t)
}

func (r *testRepo) storeBytes(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := r.store.List(context.Background(), func(_ string, size int64) error { n += size; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// orphanCount is the number of packs in the store no catalog row names.
func (r *testRepo) orphanCount(t *testing.T) int {
	t.Helper()
	rep, err := check.Run(context.Background(), r.db, r.store, false)
	if err != nil {
		t.Fatal(err)
	}
	return len(rep.Unreferenced)
}

// verify checks the repository with --read-data and restores every file
// of snapshot id, byte for byte.
func (r *testRepo) verify(t *testing.T, id int64, files map[string][]byte) {
	t.Helper()
	rep, err := check.Run(context.Background(), r.db, r.store, true)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("check --read-data: %v", rep.Problems)
	}
	for rel, want := range files {
		got, err := os.ReadFile(r.restoreTo(t, id, rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s restored with %d bytes that differ from the %d snapshotted", rel, len(got), len(want))
		}
	}
}

func markers(t *testing.T, r *testRepo) []string {
	t.Helper()
	des, err := os.ReadDir(r.deps.TmpDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), markerPrefix) {
			out = append(out, de.Name())
		}
	}
	return out
}

// TestResumeAfterInterruptedSnapshot: a first snapshot that fails after
// sealing 3 packs of about 5 leaves them; the next one stores only what
// they lack, records them, and every file restores.
func TestResumeAfterInterruptedSnapshot(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	files := resumeSource(t, src, 1, 4, 18<<20)
	orphaned := r.interrupted(t, src, 4)
	if len(markers(t, r)) != 1 {
		t.Fatalf("markers after the failure: %v, want one", markers(t, r))
	}

	res := r.snap(t, src, Options{})
	if res.ResumedPacks != 3 || res.ResumedBytes != orphaned {
		t.Fatalf("resumed %d packs (%d bytes), want 3 (%d bytes)", res.ResumedPacks, res.ResumedBytes, orphaned)
	}
	total := r.storeBytes(t)
	// Without resuming it would add everything (~72 MiB) again.
	if res.BytesAdded != total-orphaned || res.BytesAdded > total-orphaned+(1<<20) || float64(res.BytesAdded) > 0.45*float64(total) {
		t.Fatalf("added %d bytes of %d stored (orphans: %d)", res.BytesAdded, total, orphaned)
	}
	if n := r.orphanCount(t); n != 0 {
		t.Fatalf("%d packs still unrecorded after the resumed snapshot", n)
	}
	if m := markers(t, r); len(m) != 0 {
		t.Fatalf("markers left after the resumed snapshot: %v", m)
	}
	r.verify(t, res.ID, files)

	// The next snapshot has nothing to look for and nothing to add.
	again := r.snap(t, src, Options{})
	if again.ResumedPacks != 0 || again.BytesAdded != 0 {
		t.Fatalf("unchanged snapshot: %+v", again)
	}
}

// TestResumeIgnoresBadOrphans: a truncated orphan, one with a flipped
// byte and one whose footer lies about what it holds give nothing; the
// snapshot stores those chunks again and succeeds.
func TestResumeIgnoresBadOrphans(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	files := resumeSource(t, src, 2, 4, 18<<20)
	r.interrupted(t, src, 4)
	var names []string
	r.store.List(context.Background(), func(name string, _ int64) error { names = append(names, name); return nil })
	if len(names) != 3 {
		t.Fatalf("want 3 orphans, have %v", names)
	}
	path := func(name string) string { return filepath.Join(r.dir, "packs", name[:2], name+".pack") }
	// Truncated: the footer is gone.
	st, err := os.Stat(path(names[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path(names[0]), st.Size()-100); err != nil {
		t.Fatal(err)
	}
	// A flipped byte in a blob: the footer reads, the pack no longer
	// hashes to its name.
	f, err := os.OpenFile(path(names[1]), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	f.ReadAt(b, 1000)
	b[0] ^= 0xff
	f.WriteAt(b, 1000)
	f.Close()
	// A pack that hashes to its name, whose footer lists chunks of the
	// source over other bytes.
	liar := lyingPack(t, r.store, files["big-3.bin"])
	r.store.Delete(context.Background(), names[2])

	res := r.snap(t, src, Options{})
	if res.ResumedPacks != 0 {
		t.Fatalf("resumed %d packs from damaged or lying orphans", res.ResumedPacks)
	}
	if res.BytesAdded < 72<<20 {
		t.Fatalf("added only %d bytes: chunks of bad orphans were taken", res.BytesAdded)
	}
	for _, bad := range []string{names[0], names[1], liar} {
		if got := r.query(t, "SELECT count(*) FROM pack WHERE name = ?", bad); got[0] != "0" {
			t.Fatalf("bad orphan %s was recorded", bad)
		}
	}
	// The orphans stay unrecorded (gc removes them); check --read-data
	// verifies only what the catalog names.
	r.verify(t, res.ID, files)
}

// lyingPack stores a pack whose footer names the first chunks of data,
// with other bytes in their place, and returns its name.
func lyingPack(t *testing.T, store blobstore.Store, data []byte) string {
	t.Helper()
	ctx := context.Background()
	w, err := blobstore.NewPackWriter(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := chunker.New(bytes.NewReader(data), chunker.Default, nil)
	for range 5 {
		chunk, err := sp.Next()
		if err != nil {
			t.Fatal(err)
		}
		other := bytes.Repeat([]byte{0xaa}, len(chunk))
		if _, err := w.Add(blobstore.Sum(chunk), len(other), blobstore.Encode(nil, other)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.Name
}

// TestResumeTwoSourcesInterleaved: source A is interrupted; a snapshot of
// source B, which shares nothing with A, takes nothing from A's orphans
// and leaves the marker; A's next snapshot resumes.
func TestResumeTwoSourcesInterleaved(t *testing.T) {
	r := newRepo(t, t.TempDir())
	srcA, srcB := t.TempDir(), t.TempDir()
	filesA := resumeSource(t, srcA, 3, 3, 18<<20)
	filesB := resumeSource(t, srcB, 4, 1, 4<<20)
	orphaned := r.interrupted(t, srcA, 3)

	resB := r.snap(t, srcB, Options{})
	if resB.ResumedPacks != 0 {
		t.Fatalf("B resumed %d of A's packs", resB.ResumedPacks)
	}
	if len(markers(t, r)) != 1 {
		t.Fatalf("B's snapshot removed the marker of A's orphans: %v", markers(t, r))
	}
	resA := r.snap(t, srcA, Options{})
	if resA.ResumedPacks != 2 || resA.ResumedBytes != orphaned {
		t.Fatalf("A resumed %d packs (%d bytes), want 2 (%d)", resA.ResumedPacks, resA.ResumedBytes, orphaned)
	}
	if len(markers(t, r)) != 0 {
		t.Fatalf("markers left: %v", markers(t, r))
	}
	r.verify(t, resA.ID, filesA)
	r.verify(t, resB.ID, filesB)
}

// TestResumeMarkers: only the markers of runs that are over make a
// snapshot look for orphans; a running snapshot's packs are its own.
func TestResumeMarkers(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	for _, name := range []string{
		markerPrefix + strconv.Itoa(os.Getpid()) + "-1",             // this process, running
		markerPrefix + strconv.Itoa(os.Getppid()) + "-2",            // a live process
		markerPrefix + strconv.Itoa(dead.Process.Pid) + "-3",        // gone
		markerPrefix + abandonedPID + "-4",                          // a failed run, or gc
		"upload-5.tmp", markerPrefix + "junk", markerPrefix + "0-6", // not markers of a run that ended
	} {
		writeFile(t, filepath.Join(dir, name), "")
	}
	var got []string
	for _, p := range staleMarkers(dir) {
		got = append(got, filepath.Base(p))
	}
	want := []string{markerPrefix + strconv.Itoa(dead.Process.Pid) + "-3", markerPrefix + abandonedPID + "-4"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("stale markers = %v, want %v", got, want)
	}
}

// TestNoOrphanLookupWithoutMarker: the store is listed only when a
// marker says so; an ordinary snapshot of a repository with an orphan
// (say, copied in by hand) neither lists nor resumes.
func TestNoOrphanLookupWithoutMarker(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	resumeSource(t, src, 5, 1, 1<<20)
	fs := faultstore.New(r.store, 1)
	d := r.deps
	d.Store = fs
	if _, err := Run(context.Background(), d, src, Options{}); err != nil {
		t.Fatal(err)
	}
	if n := fs.Calls(faultstore.List); n != 0 {
		t.Fatalf("an ordinary snapshot listed the store %d times", n)
	}
	if m := markers(t, r); len(m) != 0 {
		t.Fatalf("a committed snapshot left markers: %v", m)
	}
}

// TestResumeBesideRunningSnapshot: while snapshot A runs with packs
// sealed and not yet committed, a snapshot of source B that holds one of
// A's files looks for orphans (an abandoned marker says so) and may take
// chunks from A's packs. Both commit, and both restore byte for byte.
func TestResumeBesideRunningSnapshot(t *testing.T) {
	r := newRepo(t, t.TempDir())
	srcA, srcB := t.TempDir(), t.TempDir()
	filesA := resumeSource(t, srcA, 6, 3, 18<<20)
	writeFile(t, filepath.Join(srcB, "big-0.bin"), string(filesA["big-0.bin"]))
	backdate(t, srcB, time.Hour)
	filesB := map[string][]byte{"big-0.bin": filesA["big-0.bin"]}
	if err := NoteOrphans(r.deps.TmpDir); err != nil {
		t.Fatal(err)
	}

	slow := faultstore.New(r.store, 1)
	slow.Set(faultstore.Commit, faultstore.Fault{Delay: 300 * time.Millisecond})
	dA := r.deps
	dA.Store = slow
	type result struct {
		res *Result
		err error
	}
	doneA := make(chan result, 1)
	go func() {
		res, err := Run(context.Background(), dA, srcA, Options{Workers: 1})
		doneA <- result{res, err}
	}()
	for deadline := time.Now().Add(time.Minute); r.orphanCount(t) < 1; {
		if time.Now().After(deadline) {
			t.Fatal("A sealed no pack within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resB := r.snap(t, srcB, Options{})
	a := <-doneA
	if a.err != nil {
		t.Fatalf("snapshot A: %v", a.err)
	}
	t.Logf("B took chunks from %d of A's packs", resB.ResumedPacks)
	if n := r.orphanCount(t); n != 0 {
		t.Fatalf("%d packs unrecorded after both committed", n)
	}
	r.verify(t, a.res.ID, filesA)
	r.verify(t, resB.ID, filesB)
}
