package restore

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/cairn-dev/cairn/internal/runtimefile"
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
var DefaultRuntime = runtimefile.Default

func isRuntime(rel string, extra []string) bool { return runtimefile.Match(rel, extra) }
