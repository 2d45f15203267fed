package importer

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// ErrUnsafePath refuses an archive entry that would land outside the
// directory it is unpacked into: an absolute name, a ".." component, a
// backslash (a Windows separator that Linux takes for a name byte), a NUL,
// or an entry beneath a symbolic link the archive made. An archive holding
// one is refused whole: it is hostile or broken, and half of it is not the
// state anyone backed up.
var ErrUnsafePath = errors.New("importer: entry escapes the backup")

// CleanName turns an archive entry's name into the '/'-separated relative
// path it is unpacked at, "." for the archive's root, or fails with
// ErrUnsafePath. Leading "./" and trailing "/" are dropped, as tar and zip
// writers add them freely; "a//b" and "a/./b" are cleaned. Any ".." is
// refused, even one that would stay inside ("a/../b"): no honest backup
// tool writes one.
func CleanName(name string) (string, error) {
	unsafe := func(why string) (string, error) {
		return "", fmt.Errorf("entry %q (%s): %w", name, why, ErrUnsafePath)
	}
	switch {
	case strings.ContainsRune(name, 0):
		return unsafe("NUL byte")
	case strings.ContainsRune(name, '\\'):
		return unsafe("backslash")
	case strings.HasPrefix(name, "/"):
		return unsafe("absolute")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return unsafe("..")
		}
	}
	rel := path.Clean(strings.TrimRight(name, "/"))
	if rel == "" || rel == "." {
		return ".", nil
	}
	// path.Clean already removed "./" and "//"; IsLocal is the last word on
	// what Linux would resolve outside.
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return unsafe("not local")
	}
	return rel, nil
}

// linkInside reports whether a symbolic link at rel with target stays in
// the backup: a relative target that, resolved from the link's directory
// without following other links, never climbs above the root. Absolute
// targets are refused: inside the snapshot they would name this machine's
// files, not the backup's.
func linkInside(rel, target string) bool {
	if target == "" || strings.ContainsRune(target, 0) || path.IsAbs(target) {
		return false
	}
	// Walk the components: "a/../../x" climbs out even though a later
	// component comes back in.
	depth := strings.Count(rel, "/") // directories above the link
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return false
			}
		default:
			depth++
		}
	}
	return true
}
