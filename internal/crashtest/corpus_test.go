package crashtest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// ---- manifests ----------------------------------------------------------------

// entryInfo is what a manifest records about one path.
type entryInfo struct {
	typ   byte // 'f' file, 'd' directory, 'l' symlink
	perm  fs.FileMode
	size  int64
	sum   [32]byte
	link  string
	mtime int64 // files only
}

func (x entryInfo) String() string {
	switch x.typ {
	case 'd':
		return fmt.Sprintf("dir %v", x.perm)
	case 'l':
		return "symlink -> " + x.link
	}
	return fmt.Sprintf("file %v %d bytes sha256 %x", x.perm, x.size, x.sum[:6])
}

// sameContent compares type, bytes and link target, not metadata.
func (x entryInfo) sameContent(y entryInfo) bool {
	return x.typ == y.typ && x.size == y.size && x.sum == y.sum && x.link == y.link
}

// manifest maps '/'-separated paths relative to a root ("." is the root)
// to what was there.
type manifest map[string]entryInfo

// scan records a tree.
func scan(t *testing.T, root string) manifest {
	t.Helper()
	m := manifest{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		x, err := stat(p)
		if err != nil {
			return err
		}
		m[filepath.ToSlash(rel)] = x
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	return m
}

func stat(p string) (entryInfo, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return entryInfo{}, err
	}
	x := entryInfo{perm: fi.Mode().Perm()}
	switch {
	case fi.IsDir():
		x.typ = 'd'
	case fi.Mode()&fs.ModeSymlink != 0:
		x.typ = 'l'
		x.perm = 0
		if x.link, err = os.Readlink(p); err != nil {
			return x, err
		}
	case fi.Mode().IsRegular():
		x.typ = 'f'
		x.size = fi.Size()
		x.mtime = fi.ModTime().UnixNano()
		f, err := os.Open(p)
		if err != nil {
			return x, err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return x, err
		}
		copy(x.sum[:], h.Sum(nil))
	default:
		return x, fmt.Errorf("%s: unexpected file type %v", p, fi.Mode())
	}
	return x, nil
}

// diffManifest lists how got differs from want; with meta, file modes and
// mtimes count too (the root directory's metadata never does).
func diffManifest(want, got manifest, meta bool) []string {
	var out []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			out = append(out, "missing "+p+" ("+w.String()+")")
		case !w.sameContent(g):
			out = append(out, fmt.Sprintf("%s: want %v, got %v", p, w, g))
		case meta && p != "." && w.typ != 'l' && w.perm != g.perm:
			out = append(out, fmt.Sprintf("%s: want mode %v, got %v", p, w.perm, g.perm))
		case meta && w.typ == 'f' && w.mtime != g.mtime:
			out = append(out, fmt.Sprintf("%s: want mtime %d, got %d", p, w.mtime, g.mtime))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			out = append(out, "unexpected "+p+" ("+g.String()+")")
		}
	}
	sort.Strings(out)
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... and %d more", len(out)-20))
	}
	return out
}

// ---- corpus -------------------------------------------------------------------

// corpus is a generated source tree: small files of mixed compressibility
// in nested directories, a few multi-MiB files, symlinks, an empty file
// and an empty directory. It avoids names cairn treats specially (JSON,
// databases, runtime files, secrets).
type corpus struct {
	t    *testing.T
	root string
	rng  *rand.Rand
	seq  int
}

type corpusSpec struct {
	small   int // files of up to maxSmall bytes
	big     int // files of bigSize bytes
	bigSize int
}

const maxSmall = 24 << 10

func newCorpus(t *testing.T, root string, seed uint64, spec corpusSpec) *corpus {
	t.Helper()
	c := &corpus{t: t, root: root, rng: rand.New(rand.NewPCG(seed, 0x63616972))}
	for i := 0; i < 10; i++ {
		c.mkdir(fmt.Sprintf("d%02d/sub", i))
	}
	c.mkdir("empty")
	for i := 0; i < spec.small; i++ {
		c.write(c.newSmallName(), c.bytes(c.rng.IntN(maxSmall)))
	}
	c.write("d00/zero.dat", nil)
	for i := 0; i < spec.big; i++ {
		c.write(fmt.Sprintf("big%d.bin", i), c.bytes(spec.bigSize))
	}
	if err := os.Symlink("d00/zero.dat", filepath.Join(root, "link-to-zero")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("no/such/target", filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *corpus) newSmallName() string {
	c.seq++
	d := fmt.Sprintf("d%02d", c.rng.IntN(10))
	if c.rng.IntN(3) == 0 {
		d += "/sub"
	}
	return fmt.Sprintf("%s/f%05d.dat", d, c.seq)
}

func (c *corpus) mkdir(rel string) {
	if err := os.MkdirAll(filepath.Join(c.root, rel), 0o755); err != nil {
		c.t.Fatal(err)
	}
}

func (c *corpus) write(rel string, data []byte) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.root, rel), data, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// bytes returns n bytes, about half of them random and half text that
// compresses, in blocks, so both stored codecs are exercised.
func (c *corpus) bytes(n int) []byte {
	return genBytes(c.rng, n)
}

func genBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for off := 0; off < n; off += 4096 {
		end := min(off+4096, n)
		if rng.IntN(2) == 0 {
			for i := off; i < end; i += 8 {
				v := rng.Uint64()
				for j := i; j < min(i+8, end); j++ {
					b[j] = byte(v)
					v >>= 8
				}
			}
		} else {
			line := fmt.Sprintf("line %d of a compressible block %x\n", rng.IntN(1000), rng.Uint32())
			for i := off; i < end; i++ {
				b[i] = line[(i-off)%len(line)]
			}
		}
	}
	return b
}

// files lists the regular files of the corpus by relative path.
func (c *corpus) files(prefix string) []string {
	var out []string
	filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(c.root, p)
			if strings.HasPrefix(filepath.Base(rel), prefix) {
				out = append(out, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// mutate changes the tree the way a working directory changes: files
// rewritten, appended to, added, removed, renamed and chmodded, and big
// files edited in the middle (heavy: some rewritten whole, so their old
// chunks die).
func (c *corpus) mutate(heavy bool) {
	c.t.Helper()
	small := c.files("f")
	n := 1 + len(small)/20
	if heavy {
		n = 1 + len(small)/5
	}
	for i := 0; i < n && len(small) > 0; i++ {
		rel := small[c.rng.IntN(len(small))]
		p := filepath.Join(c.root, rel)
		switch c.rng.IntN(6) {
		case 0:
			os.Remove(p)
		case 1:
			os.Rename(p, filepath.Join(c.root, c.newSmallName()))
		case 2:
			os.Chmod(p, 0o600|fs.FileMode(c.rng.IntN(2))*0o044)
		case 3:
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err == nil {
				f.Write(c.bytes(1 + c.rng.IntN(4096)))
				f.Close()
			}
		default:
			c.write(rel, c.bytes(c.rng.IntN(maxSmall)))
		}
	}
	for i := 0; i < n/2+1; i++ {
		c.write(c.newSmallName(), c.bytes(c.rng.IntN(maxSmall)))
	}
	for _, rel := range c.files("big") {
		p := filepath.Join(c.root, rel)
		fi, err := os.Stat(p)
		if err != nil {
			c.t.Fatal(err)
		}
		switch {
		case heavy && c.rng.IntN(2) == 0:
			c.write(rel, c.bytes(int(fi.Size())))
		case c.rng.IntN(2) == 0:
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				c.t.Fatal(err)
			}
			f.WriteAt(c.bytes(64<<10), c.rng.Int64N(max(fi.Size()-64<<10, 1)))
			f.Close()
		}
	}
}
