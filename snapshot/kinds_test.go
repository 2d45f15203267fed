package snapshot

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/cairn-dev/cairn/catalog"
)

// TestWarningKindsAreDocumented: every warning kind this package writes,
// as a constant or still as a string literal, is one of catalog's kinds,
// which docs/sql.md lists (catalog's TestWarningKindsDocumented).
func TestWarningKindsAreDocumented(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	literal := regexp.MustCompile(`(?:Kind:\s*|warn\([^,()]+,\s*)"([^"]+)"`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllSubmatch(src, -1) {
			if kind := string(m[1]); !slices.Contains(catalog.WarningKinds, kind) {
				t.Errorf("%s writes warning kind %q, which catalog.WarningKinds (and docs/sql.md) does not list", f, kind)
			}
		}
	}
}
