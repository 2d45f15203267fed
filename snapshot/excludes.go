package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/ignore"
)

// Excludes are what a source leaves out of its snapshots besides its
// .cairnignore. A source remembers them (catalog source.excludes), so
// that a later snapshot without them neither records the excluded files
// as new nor, with one added, as removed.
type Excludes struct {
	// Patterns are gitignore-style patterns.
	Patterns []string `json:"patterns,omitempty"`
	// Caches leaves out the contents of every directory marked as a cache
	// by a CACHEDIR.TAG (https://bford.info/cachedir/); the directory and
	// its tag are recorded, as restic does.
	Caches bool `json:"caches,omitempty"`
	// LargerThan leaves out regular files of more bytes; 0 is no limit.
	LargerThan int64 `json:"larger_than,omitempty"`
	// OneFileSystem does not enter directories on another file system
	// than the source's (mount points are recorded, empty).
	OneFileSystem bool `json:"one_file_system,omitempty"`
}

// IsZero reports whether nothing is excluded.
func (e Excludes) IsZero() bool {
	return len(e.Patterns) == 0 && !e.Caches && e.LargerThan == 0 && !e.OneFileSystem
}

// Union is e with everything o excludes too (the lower non-zero size).
func (e Excludes) Union(o Excludes) Excludes {
	out := Excludes{Patterns: slices.Clone(e.Patterns), Caches: e.Caches || o.Caches,
		LargerThan: e.LargerThan, OneFileSystem: e.OneFileSystem || o.OneFileSystem}
	for _, p := range o.Patterns {
		if !slices.Contains(out.Patterns, p) {
			out.Patterns = append(out.Patterns, p)
		}
	}
	if o.LargerThan > 0 && (out.LargerThan == 0 || o.LargerThan < out.LargerThan) {
		out.LargerThan = o.LargerThan
	}
	return out
}

// Marshal is the form stored in the catalog ("" for none).
func (e Excludes) Marshal() string {
	if e.IsZero() {
		return ""
	}
	b, _ := json.Marshal(e)
	return string(b)
}

// ParseExcludes reads what Marshal wrote.
func ParseExcludes(s string) (Excludes, error) {
	var e Excludes
	if s == "" {
		return e, nil
	}
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return e, fmt.Errorf("parse stored excludes %q: %w", s, err)
	}
	return e, nil
}

// cacheTag is the file, and cacheSignature the start of its content, that
// mark a cache directory (Cache Directory Tagging Specification 0.4).
const (
	cacheTag       = "CACHEDIR.TAG"
	cacheSignature = "Signature: 8a477f597d28d172789f06886806bc55"
)

// exclusion applies Excludes beyond the patterns during one walk, and
// remembers the directories it emptied, so that a path it left out is not
// taken for a removal by the mass-deletion warning.
type exclusion struct {
	Excludes
	rootDev uint64

	mu      sync.Mutex
	emptied []string // cache directories and mount points, relative
}

// isCache reports whether the directory open at fd holds a valid tag.
func (x *exclusion) isCache(fd int) bool {
	if x == nil || !x.Caches {
		return false
	}
	f, err := unix.Openat(fd, cacheTag, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer unix.Close(f)
	var st unix.Stat_t
	if unix.Fstat(f, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false
	}
	buf := make([]byte, len(cacheSignature))
	n, _ := unix.Read(f, buf)
	return n == len(buf) && bytes.Equal(buf, []byte(cacheSignature))
}

// tooLarge reports whether a regular file is over the size limit.
func (x *exclusion) tooLarge(st *unix.Stat_t) bool {
	return x != nil && x.LargerThan > 0 && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size > x.LargerThan
}

// otherDevice reports whether a directory lies on another file system.
func (x *exclusion) otherDevice(st *unix.Stat_t) bool {
	return x != nil && x.OneFileSystem && uint64(st.Dev) != x.rootDev
}

func (x *exclusion) emptiedDir(rel string) {
	x.mu.Lock()
	x.emptied = append(x.emptied, rel)
	x.mu.Unlock()
}

// excludedNow reports whether a live version the walk did not see was
// left out by an exclude rather than removed: a pattern matches it or a
// parent, it is over the size limit, or it lies in a directory emptied as
// a cache or a mount point.
func (x *exclusion) excludedNow(ex *ignore.Matcher, v *catalog.Version) bool {
	if x != nil && x.LargerThan > 0 && v.Type == catalog.TypeFile && v.Size > x.LargerThan {
		return true
	}
	if x != nil && beneathAny(v.Path, x.emptied) && v.Path != path.Join(emptiedOf(x.emptied, v.Path), cacheTag) {
		return true
	}
	for p, isDir := v.Path, v.Type == catalog.TypeDir; p != "." && p != ""; p, isDir = path.Dir(p), true {
		if ex.Match(p, isDir) {
			return true
		}
	}
	return false
}

// emptiedOf is the emptied directory rel lies beneath.
func emptiedOf(dirs []string, rel string) string {
	for _, d := range dirs {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return d
		}
	}
	return ""
}

// LeftOut returns the rule by which snapshots with these excludes leave
// entries of the tree at base out (rel is '/'-separated, relative to
// base): what matches a pattern, what lies in a directory tagged as a
// cache, a regular file larger than LargerThan, and what lies on another
// file system than base. restore --delete never deletes what a snapshot
// could not have held: its absence from the snapshot says nothing.
func (e Excludes) LeftOut(base string) (func(rel string, isDir bool) bool, error) {
	m, err := ignore.New(e.Patterns)
	if err != nil {
		return nil, err
	}
	var baseDev uint64
	if e.OneFileSystem {
		var st unix.Stat_t
		if err := unix.Lstat(base, &st); err != nil {
			return nil, fmt.Errorf("stat %s: %w", base, err)
		}
		baseDev = st.Dev
	}
	var mu sync.Mutex
	caches := map[string]bool{}
	isCache := func(dir string) bool {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := caches[dir]; ok {
			return c
		}
		head := make([]byte, len(cacheSignature))
		c := false
		if fd, err := unix.Open(path.Join(base, dir, cacheTag), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0); err == nil {
			n, _ := unix.Read(fd, head)
			unix.Close(fd)
			c = n == len(head) && bytes.Equal(head, []byte(cacheSignature))
		}
		caches[dir] = c
		return c
	}
	return func(rel string, isDir bool) bool {
		if m.Match(rel, isDir) {
			return true
		}
		if e.Caches {
			for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
				if isCache(d) {
					return true
				}
			}
		}
		if e.LargerThan > 0 || e.OneFileSystem {
			var st unix.Stat_t
			if unix.Lstat(path.Join(base, rel), &st) == nil {
				if e.LargerThan > 0 && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size > e.LargerThan {
					return true
				}
				if e.OneFileSystem && st.Dev != baseDev {
					return true
				}
			}
		}
		return false
	}, nil
}
