package restore

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// ErrUnsafePath refuses a catalog path that would land outside the target:
// absolute, with "..", or otherwise not a plain relative path. Only a
// damaged or tampered catalog holds one.
var ErrUnsafePath = errors.New("restore: path escapes the target")

// checkPath accepts "." and clean, relative, '/'-separated paths.
func checkPath(p string) error {
	if p == "." {
		return nil
	}
	if p == "" || strings.ContainsRune(p, 0) || path.Clean(p) != p || !filepath.IsLocal(filepath.FromSlash(p)) ||
		strings.HasPrefix(p, "/") {
		return fmt.Errorf("catalog path %q: %w", p, ErrUnsafePath)
	}
	return nil
}

// DefaultRuntime are the patterns of files that belong to a running
// program, never to a backup: restoring them would clobber the machine's
// live state. A source adds its own (Request.Runtime); read-only.
var DefaultRuntime = []string{"*.pid", "*.lock", "*.sock"}

func isRuntime(rel string, extra []string) bool {
	base := path.Base(rel)
	for _, pats := range [][]string{DefaultRuntime, extra} {
		for _, p := range pats {
			if ok, _ := path.Match(p, base); ok {
				return true
			}
			if ok, _ := path.Match(p, rel); ok {
				return true
			}
		}
	}
	return false
}
