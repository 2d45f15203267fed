package crashtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// copyTree copies a directory of regular files and directories.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}

// packFiles lists a repository's pack files (relative path → size).
func packFiles(t *testing.T, repo string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	paths, _ := filepath.Glob(filepath.Join(repo, "packs", "*", "*.pack"))
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repo, p)
		out[rel] = fi.Size()
	}
	return out
}

// affected parses check's "affected: SRC/PATH in snapshots N" lines into
// paths relative to src.
func affected(out, src string) map[string]bool {
	paths := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, "affected: "+src+"/")
		if !ok {
			continue
		}
		if i := strings.LastIndex(rest, " in snapshots "); i >= 0 {
			paths[rest[:i]] = true
		}
	}
	return paths
}

// TestDamagedPack: a pack with flipped bytes, truncated, or missing.
// check names the pack and the affected files and exits 4; the
// undamaged files still restore exactly; restoring a damaged file fails
// with one clear line and leaves nothing partial behind.
func TestDamagedPack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCorpus(t, e.src, 20, killCorpus)
	e.must("snap", e.src)
	// A second snapshot adds a pack of its own: damaging that one leaves
	// most files of the snapshot intact.
	c.mutate(true)
	state := scan(t, e.src)
	e.must("snap", e.src)
	h := history{}
	e.adopt(h, state)
	ids := sortedIDs(h)
	id := ids[len(ids)-1]
	packs := packFiles(t, e.repo)
	if len(packs) < 2 {
		t.Fatalf("want several packs to damage one, have %v", packs)
	}
	var victim string
	for p, size := range packs {
		if victim == "" || size < packs[victim] {
			victim = p
		}
	}
	packName := strings.TrimSuffix(filepath.Base(victim), ".pack")

	cases := []struct {
		name     string
		damage   func(path string, size int64) error
		readData bool   // whether plain check can see it
		says     string // in check's report
	}{
		{"flipped bytes", func(p string, size int64) error {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			b := make([]byte, 16)
			off := size / 3
			if _, err := f.ReadAt(b, off); err != nil {
				return err
			}
			for i := range b {
				b[i] ^= 0x5a
			}
			_, err = f.WriteAt(b, off)
			return err
		}, true, "corrupt"},
		{"truncated", func(p string, size int64) error { return os.Truncate(p, size/2) }, false, "bytes, the catalog recorded"},
		{"missing", func(p string, size int64) error { return os.Remove(p) }, false, "missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := filepath.Join(e.scratch, "repo-"+strings.ReplaceAll(tc.name, " ", "-"))
			copyTree(t, e.repo, repo)
			if err := tc.damage(filepath.Join(repo, victim), packs[victim]); err != nil {
				t.Fatal(err)
			}
			args := []string{"check"}
			if tc.readData {
				args = append(args, "--read-data")
			}
			r := e.runIn(repo, args...)
			assertOneLineError(t, r, 4, "damaged") // exit 4: check found damage (docs/exit-codes.md)
			if !strings.Contains(r.stdout, "damaged: ") || !strings.Contains(r.stdout, packName) || !strings.Contains(r.stdout, tc.says) {
				t.Fatalf("check does not name pack %s as %q: %v", packName, tc.says, r)
			}
			bad := affected(r.stdout, e.src)
			if len(bad) == 0 {
				t.Fatalf("check names no affected file: %v", r)
			}
			// --read-data sees at least what plain check saw.
			rd := r
			if !tc.readData {
				if rd = e.runIn(repo, "check", "--read-data"); rd.code != 4 {
					t.Fatalf("check --read-data misses the damage: %v", rd)
				}
			}
			badRD := affected(rd.stdout, e.src)

			// The whole snapshot: undamaged files come back exactly,
			// damaged ones not at all.
			dir := e.fresh("damaged")
			r = e.runIn(repo, "restore", "--snapshot", strconv.FormatInt(id, 10), "--to", dir, e.src)
			// Each refused path has its line, naming the pack; the last
			// line counts them and names the pack once.
			assertOneLineError(t, r, 1, "not restored", packName)
			assertSomeLine(t, r, packName)
			// (Plain check marks every file of a short pack; --read-data
			// finds exactly the chunks that are gone.)
			for p := range badRD {
				if !bad[p] {
					t.Fatalf("check --read-data finds %s damaged, plain check did not", p)
				}
			}
			bad = badRD
			want := manifest{}
			for p, x := range state {
				if !bad[p] {
					want[p] = x
				}
			}
			if d := diffManifest(want, scan(t, dir), true); len(d) > 0 {
				t.Fatalf("restore of a damaged snapshot (affected: %d files):\n%s", len(bad), strings.Join(d, "\n"))
			}

			// One damaged file: a clear error naming the pack; one
			// undamaged file: restored.
			var badFile, goodFile string
			for _, p := range sortedKeys(bad) {
				badFile = p
				break
			}
			for _, p := range sortedKeys(state) {
				if !bad[p] && state[p].typ == 'f' && state[p].size > 0 {
					goodFile = p
					break
				}
			}
			dir = e.fresh("damaged-one")
			r = e.runIn(repo, "restore", "--to", dir, filepath.Join(e.src, badFile))
			assertOneLineError(t, r, 1, "1 path not restored", badFile, packName)
			assertSomeLine(t, r, badFile, packName)
			if _, err := os.Lstat(filepath.Join(dir, badFile)); err == nil {
				t.Fatalf("a failed restore left %s behind", badFile)
			}
			if goodFile != "" {
				r = e.runIn(repo, "restore", "--to", dir, filepath.Join(e.src, goodFile))
				if r.code != 0 {
					t.Fatalf("an undamaged file does not restore: %v", r)
				}
				if x, err := stat(filepath.Join(dir, goodFile)); err != nil || !x.sameContent(state[goodFile]) {
					t.Fatalf("undamaged %s restored as %v, %v", goodFile, x, err)
				}
			}

			// gc on the damaged repository deletes nothing it should not:
			// the damaged pack stays as it is, and the damage report is
			// unchanged (gc may merge the undamaged small packs, whose
			// chunks check --read-data reads below).
			r = e.runIn(repo, "gc", "--max-unused", "1%")
			if r.code != 0 && r.code != 1 {
				t.Fatalf("gc on a damaged repository: %v", r)
			}
			if size, ok := packFiles(t, repo)[victim]; tc.name != "missing" && !ok {
				t.Fatalf("gc on a damaged repository deleted the damaged pack %s", packName)
			} else if ok && tc.name == "flipped bytes" && size != packs[victim] {
				t.Fatalf("gc on a damaged repository changed the damaged pack %s", packName)
			}
			r = e.runIn(repo, "check", "--read-data")
			if r.code != 4 || fmt.Sprint(sortedKeys(affected(r.stdout, e.src))) != fmt.Sprint(sortedKeys(badRD)) {
				t.Fatalf("gc changed the damage (before: %d affected files): %v", len(badRD), r)
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestDamagedCatalog: a catalog truncated (to half, to less than a
// SQLite header, to nothing) is rebuilt from the repository's log by the
// next command, whichever it is, which says so in one line; the damaged
// file is kept aside unchanged, no pack is deleted as an "orphan", and the
// snapshot restores byte for byte. A catalog from a newer cairn is not
// damage: every command refuses it with one clear line and changes
// nothing.
func TestDamagedCatalog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	newCorpus(t, e.src, 21, corpusSpec{small: 100, big: 1, bigSize: 1 << 20})
	state := scan(t, e.src)
	e.must("snap", e.src)
	if _, err := os.Stat(catalogFile(e.repo) + "-wal"); err == nil {
		t.Fatal("catalog.db-wal left after cairn exited")
	}
	cases := []struct {
		name   string
		damage func(path string) error
		says   []string // for a refusal; nil: rebuilt
	}{
		{"truncated to half", func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()/2)
		}, nil},
		{"truncated inside the header", func(p string) error { return os.Truncate(p, 50) }, nil},
		{"truncated to one byte", func(p string) error { return os.Truncate(p, 1) }, nil},
		{"truncated to nothing", func(p string) error { return os.Truncate(p, 0) }, nil},
		{"newer version", func(p string) error {
			// user_version is the big-endian uint32 at offset 60 of the
			// database header.
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], 999)
			_, err = f.WriteAt(b[:], 60)
			return err
		}, []string{"newer", "upgrade"}},
	}
	commands := [][]string{
		{"check"}, {"check", "--read-data"}, {"snapshots"}, {"snap", e.src}, {"restore", "--to", "DIR", e.src},
		{"gc"}, {"forget", "--keep-last", "1"}, {"init"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := filepath.Join(e.scratch, "repo-"+strings.ReplaceAll(tc.name, " ", "-"))
			copyTree(t, e.repo, repo)
			cat := catalogFile(repo)
			if err := tc.damage(cat); err != nil {
				t.Fatal(err)
			}
			packs := packFiles(t, repo)
			catBefore, err := os.ReadFile(cat)
			if err != nil {
				t.Fatal(err)
			}
			if tc.says == nil {
				for i, args := range commands[:5] {
					args = append([]string(nil), args...)
					to := ""
					for i, a := range args {
						if a == "DIR" {
							to = e.fresh("restore")
							args[i] = to
						}
					}
					r := e.runIn(repo, args...)
					if r.code != 0 {
						t.Fatalf("after the damage: %v", r)
					}
					rebuilt := strings.Contains(r.stderr, "rebuilt it from the repository's log (1 snapshot")
					if rebuilt != (i == 0) || strings.Count(r.stderr, "\n") > 1 {
						t.Fatalf("want the first command alone to say, in one line, that it rebuilt the catalog: %v", r)
					}
					if to != "" {
						if d := diffManifest(state, scan(t, to), true); len(d) > 0 {
							t.Fatalf("the snapshot restored from the rebuilt catalog differs:\n%s", strings.Join(d, "\n"))
						}
					}
				}
				if after := packFiles(t, repo); len(after) < len(packs) {
					t.Fatalf("packs lost under a damaged catalog:\nbefore %v\nafter  %v", packs, after)
				}
				aside, _ := filepath.Glob(cat + ".*.old")
				if len(aside) != 1 {
					t.Fatalf("damaged catalog kept aside as %v, want one file", aside)
				}
				if b, err := os.ReadFile(aside[0]); err != nil || !bytes.Equal(b, catBefore) {
					t.Fatalf("the damaged catalog kept aside was modified (%v)", err)
				}
				return
			}
			for _, args := range commands {
				args = append([]string(nil), args...)
				for i, a := range args {
					if a == "DIR" {
						args[i] = e.fresh("restore")
					}
				}
				r := e.runIn(repo, args...)
				assertOneLineError(t, r, 1, tc.says...)
			}
			after := packFiles(t, repo)
			if fmt.Sprint(after) != fmt.Sprint(packs) {
				t.Fatalf("packs changed under a damaged catalog:\nbefore %v\nafter  %v", packs, after)
			}
			catAfter, err := os.ReadFile(cat)
			if err != nil || !bytes.Equal(catBefore, catAfter) {
				t.Fatalf("the damaged catalog was modified (%v)", err)
			}
		})
	}
}

// TestNotARepository: a directory with other files is refused by every
// command, named as not a repository, and left exactly as it was.
func TestNotARepository(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	newCorpus(t, e.src, 22, corpusSpec{small: 10})
	dir := filepath.Join(e.scratch, "photos")
	if err := os.MkdirAll(filepath.Join(dir, "2024"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.jpg"), []byte("not a picture"), 0o644)
	os.WriteFile(filepath.Join(dir, "2024", "b.jpg"), []byte("nor this"), 0o644)
	before := scan(t, dir)
	for _, args := range [][]string{
		{"init"}, {"snap", e.src}, {"check"}, {"check", "--read-data"}, {"snapshots"},
		{"restore", "--to", e.fresh("restore"), e.src}, {"gc"}, {"forget", "--keep-last", "1"}, {"sql", "SELECT 1"},
	} {
		r := e.runIn(dir, args...)
		assertOneLineError(t, r, 1, "not a cairn repository", dir)
	}
	if d := diffManifest(before, scan(t, dir), true); len(d) > 0 {
		t.Fatalf("a directory that is not a repository was changed:\n%s", strings.Join(d, "\n"))
	}
}

// writeTree makes a tree of many small files quickly.
func writeTree(t *testing.T, root string, rng *rand.Rand, dirs, files int) {
	t.Helper()
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(root, fmt.Sprintf("dir%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < files; f++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%03d.dat", f)), genBytes(rng, 512+rng.IntN(4096)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestSourceVanishes deletes the source while it is being snapshotted:
// the snap fails with one clear line or commits what it read, never
// panics, and the repository stays sound.
func TestSourceVanishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(23, 23))
	writeTree(t, e.src, rng, 20, 25)
	typical := e.must("snap", e.src).dur
	outcomes := map[string]int{}
	for i := 0; i < 6; i++ {
		os.RemoveAll(e.src)
		writeTree(t, e.src, rng, 20, 25)
		state := scan(t, e.src)
		h := history{}
		e.adopt(h, nil)
		p := e.start("snap", e.src)
		if i > 0 { // the first round deletes at once
			time.Sleep(randomDelay(rng, typical))
		}
		if err := os.RemoveAll(e.src); err != nil {
			t.Fatal(err)
		}
		r := p.wait()
		assertNoPanic(t, r)
		added := e.adopt(h, nil)
		switch {
		case r.code == 0:
			if len(added) != 1 {
				t.Fatalf("snap succeeded but committed %d snapshots: %v", len(added), r)
			}
			// What it holds is what was there: a subset of the tree.
			dir := e.fresh("vanished")
			rr := e.must("restore", "--snapshot", strconv.FormatInt(added[0], 10), "--to", dir, e.src)
			got := scan(t, dir)
			for p, x := range got {
				if w, ok := state[p]; !ok || !w.sameContent(x) {
					t.Fatalf("snapshot of a vanishing source holds %s as %v, the source had %v: %v", p, x, w, rr)
				}
			}
			kind := "committed all"
			if len(got) < len(state) {
				kind = "committed part"
			}
			outcomes[kind]++
		default:
			assertOneLineError(t, r, 1)
			if len(added) != 0 {
				t.Fatalf("snap failed but committed snapshots %v: %v", added, r)
			}
			outcomes["failed: "+strings.TrimPrefix(strings.SplitN(r.stderr, ":", 3)[1], " ")]++
			t.Logf("vanished source: %s", strings.TrimSpace(r.stderr))
		}
		e.checkData()
	}
	t.Logf("vanishing source: %v", outcomes)
}

// TestFileChangesWhileRead: a big file that grows, or shrinks and grows,
// while a snapshot reads it. The snapshot commits and restores to a
// consistent, hash-verified content: a prefix of what the file was
// being filled from, as long as some state the file really had. A read
// that raced a truncate can hold zeros the file never had: such a read is
// not stored, the previous version continues (snapshot's TestTornRead).
func TestFileChangesWhileRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(24, 24))
	newCorpus(t, e.src, 24, corpusSpec{small: 20})
	master := genBytes(rng, 32<<20)
	big := filepath.Join(e.src, "growing.log")
	const start = 12 << 20
	warned := 0
	for round := 0; round < 6; round++ {
		shrink := round%2 == 1
		if err := os.WriteFile(big, master[:start], 0o644); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var changes int
		wg.Add(1)
		go func() {
			defer wg.Done()
			mrng := rand.New(rand.NewPCG(uint64(round), 99))
			f, err := os.OpenFile(big, os.O_RDWR, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			size := int64(start)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if shrink && mrng.IntN(2) == 0 {
					size = max(size-int64(mrng.IntN(1<<20)), 1<<20)
					f.Truncate(size)
				} else if size < int64(len(master)) {
					n := min(int64(64<<10), int64(len(master))-size)
					f.WriteAt(master[size:size+n], size)
					size += n
				}
				changes++
				time.Sleep(time.Millisecond)
			}
		}()
		p := e.start("snap", e.src)
		r := p.wait()
		close(stop)
		wg.Wait()
		if r.code != 0 {
			t.Fatalf("snap of a changing file (shrink=%v): %v", shrink, r)
		}
		if strings.Contains(r.stderr, "growing.log") {
			warned++
		}
		ids := sortedIDs(func() history { h := history{}; e.adopt(h, nil); return h }())
		dir := e.fresh("changing")
		e.must("restore", "--snapshot", strconv.FormatInt(ids[len(ids)-1], 10), "--to", dir, big)
		got, err := os.ReadFile(filepath.Join(dir, "growing.log"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > len(master) || !bytes.Equal(got, master[:len(got)]) {
			t.Fatalf("round %d: the restored file (%d bytes) is not a state the file had: %s; %s", round, len(got),
				firstDifference(got, master), strings.TrimSpace(r.stderr))
		}
		if !shrink && len(got) < start {
			t.Fatalf("round %d: a growing file restored with %d bytes, fewer than it started with", round, len(got))
		}
		t.Logf("round %d (shrink=%v): %d changes during the snap; stored %d bytes; %s", round, shrink, changes, len(got),
			strings.TrimSpace(r.stderr))
		os.RemoveAll(dir)
	}
	t.Logf("%d of 6 snapshots warned about growing.log", warned)
	e.checkData()
}

// firstDifference says where got first differs from a prefix of master,
// and what is there: a run of zeros up to a page boundary is what a read
// racing a truncate returns (the kernel zeroes the folio past the new end).
func firstDifference(got, master []byte) string {
	i := 0
	for i < len(got) && i < len(master) && got[i] == master[i] {
		i++
	}
	if i == len(master) {
		return fmt.Sprintf("%d bytes longer than the longest state", len(got)-len(master))
	}
	zeros := 0
	for i+zeros < len(got) && got[i+zeros] == 0 {
		zeros++
	}
	if zeros == 0 {
		return fmt.Sprintf("from byte %d on: %x", i, got[i:min(i+16, len(got))])
	}
	return fmt.Sprintf("from byte %d on: %d zero bytes, up to byte %d (%d into a 4 KiB page)", i, zeros, i+zeros, (i+zeros)%4096)
}

// TestFullDisk puts the repository on a small tmpfs and snapshots more
// than fits: one clear line about the lack of space, exit 1, and the
// repository still checks and restores its earlier snapshots. A sweep of
// almost-full disks makes the space run out at different steps (pack
// upload, catalog commit).
func TestFullDisk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mnt := filepath.Join(realTempDir(t), "tmpfs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	e.repo = filepath.Join(mnt, "repo")
	rng := rand.New(rand.NewPCG(25, 25))

	newCorpus(t, e.src, 25, corpusSpec{small: 30, big: 1, bigSize: 1 << 20})
	h := history{}
	state := scan(t, e.src)
	e.must("snap", e.src)
	e.adopt(h, state)

	huge := filepath.Join(e.base, "huge")
	writeTree(t, huge, rng, 1, 1)
	video := make([]byte, 12<<20) // incompressible
	for i := 0; i < len(video); i += 8 {
		binary.LittleEndian.PutUint64(video[i:], rng.Uint64())
	}
	if err := os.WriteFile(filepath.Join(huge, "video.bin"), video, 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("snap", huge)
	assertOneLineError(t, r, 1, "no space")
	if n := e.tmpFiles(); n != 0 {
		t.Fatalf("a failed snap left %d files in tmp/", n)
	}
	e.checkData()
	e.verifyAll(h)

	// Almost full: the space runs out somewhere along the way.
	many := filepath.Join(e.base, "many")
	writeTree(t, many, rng, 6, 40)
	filler := filepath.Join(mnt, "filler")
	kinds := map[string]int{}
	for free := int64(16 << 10); ; free += 32 << 10 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		avail := int64(st.Bavail) * st.Bsize
		if err := os.WriteFile(filler, make([]byte, max(avail-free, 0)), 0o600); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
		r := e.run("snap", many)
		os.Remove(filler)
		if r.code == 0 {
			t.Logf("full disk: the snap succeeded with %d KiB free; failures before: %v", free>>10, kinds)
			break
		}
		assertOneLineError(t, r, 1, "no space")
		kind := "other"
		switch {
		case strings.Contains(r.stderr, "commit snapshot"):
			kind = "catalog commit"
		case strings.Contains(r.stderr, "pack"):
			kind = "pack"
		}
		if kinds[kind] == 0 {
			t.Logf("full disk (%d KiB free): %s", free>>10, strings.TrimSpace(r.stderr))
		}
		kinds[kind]++
		e.checkData()
		if free > 4<<20 {
			t.Fatalf("the snap still fails with %d KiB free: %v", free>>10, r)
		}
	}
	e.checkData()
	e.verifyAll(h)
	e.must("gc", "--grace", "0")
	if n := e.checkData(); n != 0 {
		t.Fatalf("gc left %d orphan packs", n)
	}
	e.verifyAll(h)
}

// TestSnapshotAfterForgettingNewest: forgetting the newest snapshots and
// taking a new one must not bring back versions only they held (snapshot
// ids used to be reused, and the new snapshot then also showed the stale
// versions whose recorded interval reached the reused id).
func TestSnapshotAfterForgettingNewest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCorpus(t, e.src, 26, corpusSpec{small: 30})
	h := history{}
	var ids []int64
	for i := 0; i < 4; i++ {
		if i != 2 { // snapshot 3 changes nothing: versions closed later span 2..3
			c.mutate(true)
		}
		state := scan(t, e.src)
		e.must("snap", e.src)
		ids = append(ids, e.adopt(h, state)...)
	}
	e.must("forget", strconv.FormatInt(ids[2], 10), strconv.FormatInt(ids[3], 10))
	e.adopt(h, nil)
	c.mutate(true)
	state := scan(t, e.src)
	e.must("snap", e.src)
	added := e.adopt(h, state)
	e.checkData()
	e.verifyAll(h)
	for _, old := range ids {
		if added[0] == old {
			t.Fatalf("the new snapshot reuses id %d", old)
		}
	}
}
