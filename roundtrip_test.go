package cairn_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/restore"
	"github.com/cairn-dev/cairn/retention"
	"github.com/cairn-dev/cairn/snapshot"
)

// defaultSeed makes the round trip reproducible; CAIRN_SEED overrides it.
const defaultSeed = 20260501

func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(defaultSeed)
	if s := os.Getenv("CAIRN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random tree seed %d; rerun with CAIRN_SEED=%d", seed, seed)
		}
	})
	return seed
}

// node is what the round trip compares about one path.
type node struct {
	typ   string // "file", "dir", "symlink"
	mode  fs.FileMode
	size  int64
	sum   [sha256.Size]byte
	link  string
	mtime int64
	// Change detection only (what cairn fingerprints), never compared
	// between a source and a restore.
	ino   uint64
	ctime int64
}

// manifest maps '/'-separated paths relative to a root ("." is the root).
type manifest map[string]node

const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

func takeManifest(t *testing.T, root string) manifest {
	t.Helper()
	m := manifest{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n := node{mode: fi.Mode() & modeBits, mtime: fi.ModTime().UnixNano()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n.ino, n.ctime = st.Ino, st.Ctim.Nano()
		}
		switch {
		case fi.IsDir():
			n.typ = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			n.typ = "symlink"
			if n.link, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			n.typ = "file"
			n.size = fi.Size()
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n.sum = sha256.Sum256(data)
		default:
			return fmt.Errorf("%s: unexpected file type %v", p, fi.Mode())
		}
		m[rel] = n
		return nil
	})
	if err != nil {
		t.Fatalf("manifest of %s: %v", root, err)
	}
	return m
}

// sameNode compares what a restore must reproduce. Symlink mtimes are not
// compared: restore cannot set them (os.Root has no Lchtimes).
func sameNode(want, got node) string {
	switch {
	case want.typ != got.typ:
		return fmt.Sprintf("type %s, want %s", got.typ, want.typ)
	case want.mode != got.mode:
		return fmt.Sprintf("mode %v, want %v", got.mode, want.mode)
	case want.typ == "symlink" && want.link != got.link:
		return fmt.Sprintf("link target %q, want %q", got.link, want.link)
	case want.typ == "file" && want.size != got.size:
		return fmt.Sprintf("size %d, want %d", got.size, want.size)
	case want.typ == "file" && want.sum != got.sum:
		return "bytes differ"
	case want.typ != "symlink" && want.mtime != got.mtime:
		return fmt.Sprintf("mtime %s, want %s", time.Unix(0, got.mtime).UTC().Format(time.RFC3339Nano),
			time.Unix(0, want.mtime).UTC().Format(time.RFC3339Nano))
	}
	return ""
}

// compareTrees reports every path that differs, is missing or is extra.
func compareTrees(t *testing.T, label string, want, got manifest) {
	t.Helper()
	var problems []string
	for _, p := range sortedPaths(want) {
		g, ok := got[p]
		if !ok {
			problems = append(problems, fmt.Sprintf("%q missing (%s)", p, want[p].typ))
			continue
		}
		if d := sameNode(want[p], g); d != "" {
			problems = append(problems, fmt.Sprintf("%q: %s", p, d))
		}
	}
	for _, p := range sortedPaths(got) {
		if _, ok := want[p]; !ok {
			problems = append(problems, fmt.Sprintf("%q extra (%s)", p, got[p].typ))
		}
	}
	reportProblems(t, label, problems)
}

func reportProblems(t *testing.T, label string, problems []string) {
	t.Helper()
	if len(problems) == 0 {
		return
	}
	const show = 25
	if len(problems) > show {
		problems = append(problems[:show], fmt.Sprintf("... and %d more", len(problems)-show))
	}
	t.Errorf("%s: %d differences:\n  %s", label, len(problems), strings.Join(problems, "\n  "))
}

func sortedPaths(m manifest) []string {
	ps := make([]string, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// gen builds and mutates a random tree under root.
type gen struct {
	t    *testing.T
	rng  *rand.Rand
	root string
	now  time.Time
	n    int
	// special holds top-level directories that mutations leave alone: the
	// large files (so every round has some) and a read-only directory
	// (which a non-root user could not change).
	special map[string]bool
}

func newGen(t *testing.T, seed uint64, root string) *gen {
	return &gen{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), root: root, now: time.Now(),
		special: map[string]bool{}}
}

func (g *gen) abs(rel string) string { return filepath.Join(g.root, filepath.FromSlash(rel)) }

func (g *gen) check(err error) {
	g.t.Helper()
	if err != nil {
		g.t.Fatal(err)
	}
}

// exactName pads prefix with ASCII to exactly n bytes.
func exactName(prefix string, n int) string {
	return prefix + strings.Repeat("x", n-len(prefix))
}

// name returns a fresh, unique name in one of many awkward styles. None
// matches a pattern restore treats specially (*.pid, *.lock, *.sock,
// .env, *.key, *.pem, auth.json), a SQLite sidecar suffix, .json, or
// .cairnignore.
func (g *gen) name() string {
	g.n++
	n := g.n
	switch g.rng.IntN(13) {
	case 0:
		return fmt.Sprintf("with space %d.txt", n)
	case 1:
		return fmt.Sprintf("café %d", n)
	case 2:
		return fmt.Sprintf("日本語-%d.txt", n)
	case 3:
		return fmt.Sprintf("🪨 stone %d 🚀", n)
	case 4:
		return fmt.Sprintf("-dash-%d", n)
	case 5:
		return fmt.Sprintf("--help=%d", n)
	case 6:
		return fmt.Sprintf("new\nline %d", n)
	case 7:
		return exactName(fmt.Sprintf("long-%d-日本-é-", n), 200)
	case 8:
		return fmt.Sprintf(".hidden-%d", n)
	case 9:
		return fmt.Sprintf("latin1-\xe9t\xe9-%d", n) // not valid UTF-8
	case 10:
		return fmt.Sprintf("tab\tand 'quotes' \"%d\"", n)
	case 11:
		return fmt.Sprintf("UPPER.%d.TXT", n)
	default:
		return fmt.Sprintf("f%d.bin", n)
	}
}

// shortName avoids the 200-byte style, for paths many levels deep.
func (g *gen) shortName() string {
	for {
		if s := g.name(); len(s) < 60 {
			return s
		}
	}
}

var (
	fileModes = []fs.FileMode{0o644, 0o600, 0o640, 0o755, 0o700, 0o444, 0o664}
	dirModes  = []fs.FileMode{0o755, 0o700, 0o750, 0o775}
)

func pick[T any](g *gen, xs []T) T { return xs[g.rng.IntN(len(xs))] }

// pastTime is between 1995 and 2024 (far outside cairn's 2 s racy
// window), with nanoseconds. The bounds are fixed: the random stream, and
// so the tree, must depend on the seed alone.
func (g *gen) pastTime() time.Time {
	lo := time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	hi := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	return time.Unix(0, lo+g.rng.Int64N(hi-lo))
}

func (g *gen) randomBytes(n int) []byte {
	var seed [32]byte
	for i := 0; i < 32; i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			seed[i+j] = byte(v >> (8 * j))
		}
	}
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	return b
}

var words = strings.Fields("cairn stone pile snapshot chunk pack catalog interval restore mtime mode link déjà 日本 🪨 the of and")

func (g *gen) text(n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(pick(g, words))
		if g.rng.IntN(12) == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// repetitive is highly compressible text whose lines differ only by a
// counter, so chunk boundaries depend on content.
func (g *gen) repetitive(n int) []byte {
	var b bytes.Buffer
	line := string(g.text(60 + g.rng.IntN(60)))
	line = strings.ReplaceAll(line, "\n", " ")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%08d %s\n", i, line)
	}
	return b.Bytes()[:n]
}

// smallContent is empty, small, or medium, text or binary.
func (g *gen) smallContent() []byte {
	switch r := g.rng.IntN(10); {
	case r < 2:
		return nil
	case r < 5:
		return g.text(1 + g.rng.IntN(3000))
	case r < 8:
		return g.randomBytes(1 + g.rng.IntN(4000))
	default:
		return g.randomBytes(10_000 + g.rng.IntN(150_000))
	}
}

func (g *gen) writeFile(rel string, data []byte, mode fs.FileMode) {
	g.t.Helper()
	g.check(os.WriteFile(g.abs(rel), data, 0o600))
	g.check(os.Chmod(g.abs(rel), mode)) // exact, whatever the umask
}

// writable runs fn with the file writable by its owner, as a program
// that rewrites its own read-only file would, and puts the mode back.
func (g *gen) writable(rel string, fn func()) {
	g.t.Helper()
	fi, err := os.Lstat(g.abs(rel))
	g.check(err)
	mode := fi.Mode() & modeBits
	if mode&0o200 == 0 {
		g.check(os.Chmod(g.abs(rel), mode|0o200))
		defer func() { g.check(os.Chmod(g.abs(rel), mode)) }()
	}
	fn()
}

func (g *gen) mkdir(rel string) {
	g.t.Helper()
	g.check(os.Mkdir(g.abs(rel), 0o755))
}

func (g *gen) symlink(target, rel string) {
	g.t.Helper()
	g.check(os.Symlink(target, g.abs(rel)))
}

// dirModesAtEnd are applied after everything is written, so a 0555
// directory can still be filled by a non-root user.
type pendingModes map[string]fs.FileMode

func (g *gen) build() {
	modes := pendingModes{}
	// Random nested directories with random files and symlinks.
	var fill func(dir string, depth int)
	fill = func(dir string, depth int) {
		for range 2 + g.rng.IntN(6) {
			g.writeFile(path.Join(dir, g.name()), g.smallContent(), pick(g, fileModes))
		}
		if g.rng.IntN(3) == 0 {
			g.symlink(pick(g, []string{"../nowhere", "sibling", "/etc/hostname", "."}), path.Join(dir, g.name()))
		}
		if depth >= 3 {
			return
		}
		for range g.rng.IntN(4) {
			sub := path.Join(dir, g.name())
			g.mkdir(sub)
			modes[sub] = pick(g, dirModes)
			fill(sub, depth+1)
		}
	}
	for range 5 {
		d := g.shortName()
		g.mkdir(d)
		modes[d] = pick(g, dirModes)
		fill(d, 1)
	}

	// Twenty levels deep, with files on the way and a long name at the end.
	deep := "deep"
	g.mkdir(deep)
	for i := 1; i <= 20; i++ {
		deep = path.Join(deep, fmt.Sprintf("lvl %02d é", i))
		g.mkdir(deep)
		if i%5 == 0 {
			g.writeFile(path.Join(deep, g.shortName()), g.smallContent(), pick(g, fileModes))
		}
	}
	g.writeFile(path.Join(deep, exactName("bottom-日本-", 200)), g.text(500), 0o640)

	// Empty directories, one nested, one with a restrictive mode.
	g.mkdir("empty dir")
	g.mkdir("empty dir/nested empty")
	g.mkdir("-empty-700")
	modes["-empty-700"] = 0o700

	// Large files: random, repetitive text, and random blocks repeated.
	g.mkdir("big")
	g.special["big"] = true
	mib := func() int { return 1<<20 + g.rng.IntN(5<<20) }
	g.writeFile("big/random.bin", g.randomBytes(mib()), 0o644)
	g.writeFile("big/repetitive log.txt", g.repetitive(mib()), 0o640)
	block := g.randomBytes(300 << 10)
	var mixed bytes.Buffer
	for mixed.Len() < 2<<20 {
		mixed.Write(block)
		mixed.Write(g.randomBytes(1 + g.rng.IntN(5000)))
	}
	g.writeFile("big/"+exactName("mixed-日本-", 200), mixed.Bytes(), 0o600)

	// Exactly representable special bits.
	g.mkdir("shared group")
	g.writeFile("shared group/member.txt", g.text(100), 0o664)
	g.mkdir("shared group/sub")
	modes["shared group"] = 0o775 | fs.ModeSetgid
	g.mkdir("sticky")
	g.writeFile("sticky/scratch", g.text(10), 0o666)
	modes["sticky"] = 0o777 | fs.ModeSticky
	g.writeFile("tool", g.text(300), 0o755|fs.ModeSetuid)
	g.mkdir("readonly")
	g.special["readonly"] = true
	g.writeFile("readonly/frozen.txt", g.text(200), 0o444)
	modes["readonly"] = 0o555

	// Symlinks of every kind.
	g.mkdir("links")
	g.writeFile("links/target file.txt", g.text(64), 0o644)
	g.writeFile("top file.txt", g.text(64), 0o644)
	g.symlink("target file.txt", "links/relative")
	g.symlink("../top file.txt", "links/relative up")
	g.symlink(g.abs("links/target file.txt"), "links/absolute")
	g.symlink("no such file", "links/dangling")
	g.symlink("../deep", "links/to dir")
	g.symlink("relative", "links/to link")
	g.symlink("/nonexistent/cairn/target", "links/absolute outside")
	g.symlink("日本/é\nnew line", "links/unicode target")
	g.symlink("target file.txt", "links/"+exactName("long-link-", 200))
	g.symlink("target file.txt", "links/"+exactName("max-link-", 255))
	g.writeFile(exactName("max-file-", 255), g.text(255), 0o644)

	// A hard-linked pair, in two directories.
	g.mkdir("hard")
	g.mkdir("hard/other dir")
	g.writeFile("hard/original", g.text(4000), 0o644)
	g.check(os.Link(g.abs("hard/original"), g.abs("hard/other dir/linked")))

	// A sidecar-like name beside a plain file that is not a database.
	g.writeFile("notes", g.text(700), 0o644)
	g.writeFile("notes-journal", g.text(300), 0o644)

	// Before 1970.
	g.writeFile("moon landing.txt", []byte("one small step\n"), 0o644)
	moon := time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC)
	g.check(os.Chtimes(g.abs("moon landing.txt"), moon, moon))

	for rel, m := range modes {
		g.check(os.Chmod(g.abs(rel), m))
	}
	// Some systems refuse a special bit to an ordinary user; record what
	// is actually there rather than failing.
	for _, rel := range []string{"shared group", "sticky", "tool"} {
		fi, err := os.Lstat(g.abs(rel))
		g.check(err)
		if fi.Mode()&(fs.ModeSetgid|fs.ModeSticky|fs.ModeSetuid) == 0 {
			g.t.Logf("%s: special mode bit did not stick (mode %v); not covered", rel, fi.Mode())
		}
	}
	g.backdate(true)
}

// backdate gives every regular file and directory whose mtime is recent (or,
// with all, every one) a random past mtime with nanoseconds, so cairn
// trusts their stat next time. Symlinks keep theirs: os has no Lchtimes.
func (g *gen) backdate(all bool) {
	recent := g.now.Add(-time.Hour).UnixNano()
	var dirs []string
	err := filepath.WalkDir(g.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !all && fi.ModTime().UnixNano() < recent {
			return nil
		}
		if fi.Name() == "moon landing.txt" && fi.ModTime().Year() == 1969 {
			return nil
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, p)
		case fi.Mode().IsRegular():
			t := g.pastTime()
			return os.Chtimes(p, t, t)
		}
		return nil
	})
	g.check(err)
	for _, d := range dirs { // touching a directory never changes its parent's mtime
		t := g.pastTime()
		g.check(os.Chtimes(d, t, t))
	}
}

// live lists the current tree's types, for choosing what to mutate.
func (g *gen) live() map[string]string {
	out := map[string]string{}
	err := filepath.WalkDir(g.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(g.root, p)
		rel = filepath.ToSlash(rel)
		if rel != "." && g.special[strings.SplitN(rel, "/", 2)[0]] {
			if rel == "big/random.bin" || rel == "big/repetitive log.txt" {
				out[rel] = "bigfile"
			}
			return nil
		}
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			out[rel] = "symlink"
		default:
			out[rel] = "file"
		}
		return nil
	})
	g.check(err)
	return out
}

// choose picks a random live path of one of the types, or "" if none.
func (g *gen) choose(types ...string) string {
	var cands []string
	for p, typ := range g.live() {
		if p != "." && slices.Contains(types, typ) {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	slices.Sort(cands) // map order is random; the seed must decide
	return pick(g, cands)
}

// mutate applies every kind of change at least once, in random order.
func (g *gen) mutate() {
	ops := []func(){
		func() { // bytes in the middle of a large file, in place
			p := g.choose("bigfile")
			g.writable(p, func() {
				f, err := os.OpenFile(g.abs(p), os.O_RDWR, 0)
				g.check(err)
				fi, err := f.Stat()
				g.check(err)
				_, err = f.WriteAt(g.randomBytes(1+g.rng.IntN(4096)), fi.Size()/2)
				g.check(err)
				g.check(f.Close())
			})
		},
		func() { // appends, one of them large
			for i := range 3 {
				p := g.choose("file", "bigfile")
				if p == "" {
					return
				}
				data := g.text(1 + g.rng.IntN(5000))
				if i == 0 {
					data = g.randomBytes(200 << 10)
				}
				g.writable(p, func() {
					f, err := os.OpenFile(g.abs(p), os.O_WRONLY|os.O_APPEND, 0)
					g.check(err)
					_, err = f.Write(data)
					g.check(err)
					g.check(f.Close())
				})
			}
		},
		func() { // truncate to zero
			for range 2 {
				if p := g.choose("file"); p != "" {
					g.writable(p, func() { g.check(os.Truncate(g.abs(p), 0)) })
				}
			}
		},
		func() { // delete files and symlinks
			for range 3 {
				if p := g.choose("file", "symlink"); p != "" {
					g.check(os.Remove(g.abs(p)))
				}
			}
		},
		func() { // delete a directory tree
			if p := g.choose("dir"); p != "" {
				g.check(os.RemoveAll(g.abs(p)))
			}
		},
		func() { // new files, a new directory with files, a new empty one, a new link
			for range 4 {
				if d := g.choose("dir"); d != "" {
					g.writeFile(path.Join(d, g.name()), g.smallContent(), pick(g, fileModes))
				}
			}
			d := path.Join(g.choose("dir"), g.name())
			g.mkdir(d)
			g.writeFile(path.Join(d, g.name()), g.smallContent(), pick(g, fileModes))
			g.writeFile(path.Join(d, g.name()), g.smallContent(), pick(g, fileModes))
			g.mkdir(path.Join(g.choose("dir"), g.name()))
			g.symlink(g.name(), path.Join(g.choose("dir"), g.name()))
		},
		func() { // mode changes
			for range 3 {
				if p := g.choose("file"); p != "" {
					g.check(os.Chmod(g.abs(p), pick(g, fileModes)))
				}
			}
			if p := g.choose("dir"); p != "" {
				g.check(os.Chmod(g.abs(p), pick(g, dirModes)))
			}
			if _, err := os.Lstat(g.abs("tool")); err == nil {
				g.check(os.Chmod(g.abs("tool"), 0o755)) // drops setuid
			}
		},
		func() { // a file becomes a symlink
			if p := g.choose("file"); p != "" {
				g.check(os.Remove(g.abs(p)))
				g.symlink("replaced by a link", p)
			}
		},
		func() { // a directory becomes a file
			if p := g.choose("dir"); p != "" {
				g.check(os.RemoveAll(g.abs(p)))
				g.writeFile(p, g.text(123), 0o644)
			}
		},
		func() { // a file becomes a directory
			if p := g.choose("file"); p != "" {
				g.check(os.Remove(g.abs(p)))
				g.mkdir(p)
				g.writeFile(path.Join(p, g.name()), g.smallContent(), 0o644)
			}
		},
		func() { // renames: a file into another directory, a directory in place
			if p := g.choose("file", "symlink"); p != "" {
				g.check(os.Rename(g.abs(p), g.abs(path.Join(g.choose("dir"), g.name()))))
			}
			if p := g.choose("dir"); p != "" {
				g.check(os.Rename(g.abs(p), g.abs(path.Join(path.Dir(p), g.name()))))
			}
		},
		func() { // a symlink gets a new target
			if p := g.choose("symlink"); p != "" {
				g.check(os.Remove(g.abs(p)))
				g.symlink("retargeted "+g.name(), p)
			}
		},
	}
	order := g.rng.Perm(len(ops))
	for range 4 {
		order = append(order, g.rng.IntN(len(ops)))
	}
	for _, i := range order {
		ops[i]()
	}
	g.backdate(false)
}

// expected is what a snapshot's Result must say given the previous and the
// current state.
type expected struct {
	news, changed, unchanged, removed int
	files                             int64
	total, read                       int64
	// massDeletion: more than half of the files went away, which cairn
	// warns about.
	massDeletion bool
}

func expectResult(prev, cur manifest) expected {
	var e expected
	for p, c := range cur {
		if c.typ == "file" {
			e.files++
			e.total += c.size
		}
		o, ok := prev[p]
		switch {
		case !ok:
			e.news++
			if c.typ == "file" {
				e.read += c.size
			}
		case o.typ != c.typ:
			e.changed++
			if c.typ == "file" {
				e.read += c.size
			}
		case c.typ == "file":
			if o.size == c.size && o.mode == c.mode && o.mtime == c.mtime && o.ctime == c.ctime && o.ino == c.ino {
				e.unchanged++ // trusted by its stat, not read
				break
			}
			e.read += c.size
			if o.sum == c.sum && o.mode == c.mode && o.mtime == c.mtime {
				e.unchanged++ // read again, found equal
			} else {
				e.changed++
			}
		case o.mode == c.mode && o.mtime == c.mtime && o.link == c.link:
			e.unchanged++
		default:
			e.changed++
		}
	}
	prevFiles, removedFiles := 0, 0
	for p, o := range prev {
		if o.typ == "file" {
			prevFiles++
		}
		if _, ok := cur[p]; !ok {
			e.removed++
			if o.typ == "file" {
				removedFiles++
			}
		}
	}
	e.massDeletion = prevFiles > 0 && float64(removedFiles) > 0.5*float64(prevFiles)
	return e
}

func checkResult(t *testing.T, label string, res *snapshot.Result, want expected) {
	t.Helper()
	got := expected{news: res.New, changed: res.Changed, unchanged: res.Unchanged, removed: res.Removed,
		files: res.Files, total: res.TotalBytes, read: res.BytesRead}
	for _, w := range res.Warnings {
		if w.Kind == "mass-deletion" && w.Path == "." && !got.massDeletion {
			got.massDeletion = true
			t.Logf("%s: warned as expected: %s", label, w.Message)
			continue
		}
		t.Errorf("%s: unexpected warning %s %q: %s", label, w.Kind, w.Path, w.Message)
	}
	if got != want {
		t.Errorf("%s: result %+v, want %+v", label, got, want)
	}
}

// canonicalTempDir is a t.TempDir with symlinks resolved, as cairn records
// sources.
func canonicalTempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// A read-only directory could keep TempDir's cleanup from removing
	// what is inside it (for a non-root user); open everything up first.
	t.Cleanup(func() {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
	})
	return d
}

func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	seed := testSeed(t)
	base := canonicalTempDir(t)
	src := filepath.Join(base, "source")
	if err := os.Mkdir(src, 0o750); err != nil {
		t.Fatal(err)
	}
	g := newGen(t, seed, src)
	g.build()

	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()

	var states []manifest
	var ids []int64
	prev := manifest{}
	for i := range 3 {
		if i > 0 {
			g.mutate()
		}
		before := takeManifest(t, src)
		res, err := repo.Snapshot(ctx, src, snapshot.Options{})
		if err != nil {
			t.Fatalf("snapshot %d: %v", i+1, err)
		}
		m := takeManifest(t, src)
		compareTrees(t, fmt.Sprintf("source changed while snapshot %d ran", i+1), before, m)
		checkResult(t, fmt.Sprintf("snapshot %d", res.ID), res, expectResult(prev, m))
		if i == 1 {
			// The point of the stat fingerprint: most of an unchanged tree
			// is not read again.
			if res.Unchanged == 0 || res.BytesRead >= res.TotalBytes {
				t.Errorf("snapshot 2 read %d of %d bytes with %d unchanged paths; unchanged files must not be read",
					res.BytesRead, res.TotalBytes, res.Unchanged)
			}
		}
		t.Logf("snapshot %d: %d paths, new %d changed %d unchanged %d removed %d, read %d of %d bytes, added %d",
			res.ID, len(m), res.New, res.Changed, res.Unchanged, res.Removed, res.BytesRead, res.TotalBytes, res.BytesAdded)
		states = append(states, m)
		ids = append(ids, res.ID)
		prev = m
	}

	// Every snapshot, restored whole into a fresh directory, is the tree
	// as it was.
	for i, id := range ids {
		req, _, err := repo.Resolve(ctx, src, id, false)
		if err != nil {
			t.Fatalf("resolve %s at snapshot %d: %v", src, id, err)
		}
		to := filepath.Join(base, fmt.Sprintf("restored-%d", id))
		res, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to})
		if err != nil {
			t.Fatalf("restore snapshot %d: %v", id, err)
		}
		if len(res.Undo) != 0 {
			t.Errorf("restore --to took an undo snapshot %v; nothing in place was replaced", res.Undo)
		}
		compareTrees(t, fmt.Sprintf("snapshot %d restored to %s", id, to), states[i], takeManifest(t, to))
	}

	restoreInPlace(t, repo, src, ids[0], states[0])
}

// restoreInPlace puts single files and one directory of the first snapshot
// back into the live source, which has changed since, and checks that they
// come back as recorded and that nothing else is touched.
func restoreInPlace(t *testing.T, repo *cairn.Repo, src string, id int64, then manifest) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(uint64(id), 99))
	now := takeManifest(t, src)

	// A path can be put back in place unless something of another kind is
	// in its way (restore refuses that on purpose) or an ancestor is not a
	// directory.
	fits := func(p string) bool {
		for a := path.Dir(p); a != "."; a = path.Dir(a) {
			if n, ok := now[a]; ok && n.typ != "dir" {
				return false
			}
		}
		n, ok := now[p]
		return !ok || (n.typ == "dir") == (then[p].typ == "dir")
	}
	differs := func(p string) bool {
		n, ok := now[p]
		return !ok || sameNode(then[p], n) != ""
	}

	// The directory: the one with the most differences that fits whole.
	var dir string
	best := -1
	for _, d := range sortedPaths(then) {
		if d == "." || then[d].typ != "dir" {
			continue
		}
		ok, diffs := true, 0
		for _, p := range sortedPaths(then) {
			if p == d || strings.HasPrefix(p, d+"/") {
				if !fits(p) {
					ok = false
					break
				}
				if differs(p) {
					diffs++
				}
			}
		}
		if ok && diffs > best {
			dir, best = d, diffs
		}
	}
	if dir == "" {
		t.Fatal("no directory of snapshot 1 can be restored in place")
	}
	inDir := func(p string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

	// Single files and links: some of each way they differ now.
	groups := map[string][]string{}
	for _, p := range sortedPaths(then) {
		if then[p].typ == "dir" || inDir(p) || !fits(p) {
			continue
		}
		n, ok := now[p]
		var why string
		switch {
		case !ok:
			why = "deleted"
		case n.typ != then[p].typ:
			why = "replaced by a " + n.typ
		case n.typ == "file" && n.sum != then[p].sum:
			why = "other bytes"
		case n.mode != then[p].mode:
			why = "other mode"
		case differs(p):
			why = "other metadata"
		default:
			why = "unchanged"
		}
		groups[why] = append(groups[why], p)
	}
	var files []string
	for _, why := range mapsKeys(groups) {
		ps := groups[why]
		rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		ps = ps[:min(3, len(ps))]
		t.Logf("in place, %s: %q", why, ps)
		files = append(files, ps...)
	}
	if len(groups["deleted"]) == 0 || len(groups["other bytes"]) == 0 {
		t.Fatalf("the mutations left no deleted or rewritten file to restore: %v", mapsKeys(groups))
	}
	t.Logf("in place, directory %q with %d differences", dir, best)

	var reqs []restore.Request
	for _, p := range append(files, dir) {
		req, _, err := repo.Resolve(ctx, filepath.Join(src, filepath.FromSlash(p)), id, false)
		if err != nil {
			t.Fatalf("resolve %q: %v", p, err)
		}
		reqs = append(reqs, req)
	}
	res, err := repo.Restore(ctx, reqs, restore.Options{})
	if err != nil {
		t.Fatalf("restore in place: %v", err)
	}
	if len(res.Undo) != 1 {
		t.Errorf("restore in place took undo snapshots %v, want one", res.Undo)
	}
	after := takeManifest(t, src)

	restored := map[string]bool{}
	for _, p := range files {
		restored[p] = true
	}
	for p := range then {
		if inDir(p) {
			restored[p] = true
		}
	}
	var problems []string
	for _, p := range mapsKeys(restored) {
		g, ok := after[p]
		if !ok {
			problems = append(problems, fmt.Sprintf("%q not restored", p))
		} else if d := sameNode(then[p], g); d != "" {
			problems = append(problems, fmt.Sprintf("%q: %s", p, d))
		}
	}
	reportProblems(t, "restored in place", problems)

	// Nothing else changed: not the rest of the source, nor what the
	// directory gained since (restore adds, it does not delete). Only the
	// restored paths' ancestors may have new mtimes or be new.
	ancestor := map[string]bool{}
	for p := range restored {
		for a := path.Dir(p); ; a = path.Dir(a) {
			ancestor[a] = true
			if a == "." {
				break
			}
		}
	}
	// Another name of a restored file's inode may change with it: restore
	// fixes the mode and mtime of a file whose bytes are already right in
	// place, and a hard link shares them.
	restoredInodes := map[uint64]bool{}
	for p := range restored {
		if n, ok := now[p]; ok && n.typ == "file" {
			restoredInodes[n.ino] = true
		}
	}
	problems = nil
	for _, p := range sortedPaths(now) {
		if restored[p] || ancestor[p] || (now[p].typ == "file" && restoredInodes[now[p].ino]) {
			continue
		}
		g, ok := after[p]
		if !ok {
			problems = append(problems, fmt.Sprintf("%q removed", p))
		} else if d := sameNode(now[p], g); d != "" {
			problems = append(problems, fmt.Sprintf("%q: %s", p, d))
		}
	}
	for _, p := range sortedPaths(after) {
		if _, ok := now[p]; !ok && !restored[p] && !ancestor[p] {
			problems = append(problems, fmt.Sprintf("%q appeared", p))
		}
	}
	reportProblems(t, "untouched by the restore in place", problems)
}

func mapsKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestRoundTripUnchangedHistoryIsCheap snapshots an unchanged tree of
// 3,000 files 50 times: history is stored as intervals, so the catalog
// grows by a few rows per snapshot, not by a row per file.
func TestRoundTripUnchangedHistoryIsCheap(t *testing.T) {
	if testing.Short() {
		t.Skip("50 snapshots of 3,000 files")
	}
	ctx := t.Context()
	seed := testSeed(t)
	base := canonicalTempDir(t)
	src := filepath.Join(base, "source")
	g := newGen(t, seed, src)
	g.check(os.Mkdir(src, 0o755))
	const dirs, perDir = 30, 100
	for d := range dirs {
		dir := fmt.Sprintf("dir %02d", d)
		g.mkdir(dir)
		for f := range perDir {
			g.writeFile(fmt.Sprintf("%s/file %03d.txt", dir, f), g.text(1+g.rng.IntN(400)), 0o644)
		}
	}
	g.backdate(true)
	paths := 1 + dirs + dirs*perDir

	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	// Keep every snapshot, so retention cannot shrink what is measured (an
	// empty policy keeps everything; keep-last -1 would keep one per state).
	if err := repo.SetPolicy(ctx, src, retention.Policy{}); err != nil {
		t.Fatal(err)
	}
	catalogSize := func() int64 {
		t.Helper()
		if err := repo.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, name := range []string{repo.CatalogPath(), repo.CatalogPath() + "-wal"} {
			fi, err := os.Stat(name)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
		return n
	}

	first, err := repo.Snapshot(ctx, src, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if first.New != paths {
		t.Fatalf("first snapshot: %d new paths, want %d", first.New, paths)
	}
	versionRows := func() int {
		t.Helper()
		var n int
		if err := cairn.CatalogForTest(repo).Reader().QueryRowContext(ctx, "SELECT count(*) FROM version").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	start, rows := catalogSize(), versionRows()
	const rounds = 50
	var last *snapshot.Result
	for i := range rounds {
		res, err := repo.Snapshot(ctx, src, snapshot.Options{})
		if err != nil {
			t.Fatalf("snapshot %d: %v", i+2, err)
		}
		if res.Unchanged != paths || res.New+res.Changed+res.Removed != 0 || res.BytesRead != 0 || res.BytesAdded != 0 {
			t.Fatalf("unchanged snapshot %d: %+v", res.ID, res)
		}
		last = res
	}
	end := catalogSize()
	growth := end - start
	t.Logf("catalog (db + wal, after a TRUNCATE checkpoint): %d bytes after the first snapshot, %d after %d more unchanged ones: +%d bytes (%.0f per snapshot); %d version rows",
		start, end, rounds, growth, float64(growth)/rounds, rows)
	if n := versionRows(); n != rows {
		t.Errorf("unchanged snapshots added version rows: %d, then %d", rows, n)
	}
	if growth >= 256<<10 {
		t.Errorf("catalog grew by %d bytes over %d unchanged snapshots of %d paths; want well under 1 MiB", growth, rounds, paths)
	}

	snaps, err := repo.Snapshots(ctx, cairn.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != rounds+1 {
		t.Fatalf("%d snapshots kept, want %d", len(snaps), rounds+1)
	}
	// Every snapshot still sees the whole tree through the intervals.
	for _, s := range []int64{first.ID, snaps[rounds/2].ID, last.ID} {
		sn, err := repo.SnapshotByID(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		tree, err := cairn.CatalogForTest(repo).Tree(ctx, sn, ".")
		if err != nil {
			t.Fatal(err)
		}
		if len(tree) != paths {
			t.Errorf("snapshot %d has %d paths, want %d", s, len(tree), paths)
		}
	}
	// And one restored from the middle of the history is the tree.
	req, _, err := repo.Resolve(ctx, src, snaps[rounds/2].ID, false)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(base, "restored")
	if _, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, "middle snapshot restored", takeManifest(t, src), takeManifest(t, to))
}
