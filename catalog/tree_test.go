package catalog

import (
	"context"
	"path"
	"slices"
	"strings"
	"testing"
)

// TestTreeNames checks Tree of a subtree against a plain filter, on names
// that sort around '/' ('-', '.', ' ', '0') or are not valid UTF-8.
func TestTreeNames(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	paths := []string{".", "-x", " sp", "a", "a b", "a-b", "a.b", "a0", "a/b", "a/b/c", "a/b-c", "a/b/c/d", "a/b0", "a/é", "a/\xff\xfe",
		"a-b/x", "a.b/y", "ab", "b", "b/a", "\xff", "\xff/z", "z"}
	var vs []NewVersion
	for _, p := range paths {
		vs = append(vs, dirVersion(p))
	}
	if _, err := db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: t0, Finished: t0, Versions: vs}); err != nil {
		t.Fatal(err)
	}
	snaps, err := db.Snapshots(ctx, 0)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("Snapshots = %v, %v", snaps, err)
	}
	for _, root := range []string{"a", "a/b", "a/b/c", "a-b", "a.b", "b", "\xff", "a/b/c/d", "none"} {
		var want []string
		for _, p := range paths {
			for q := p; q != "." && q != "/"; q = path.Dir(q) {
				if q == root {
					want = append(want, p)
					break
				}
			}
		}
		slices.Sort(want)
		got, err := db.Tree(ctx, snaps[0], root)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, v := range got {
			names = append(names, v.Path)
		}
		if !slices.Equal(names, want) {
			t.Errorf("Tree(%q) = %q, want %q", root, names, want)
		}
	}
}

// TestTreeSearchesPath: Tree and LiveTree of one file or directory search
// their index on the path too, not on the source alone, which would read
// every path of the source (a one-file restore read 1.9 MB of a cold
// catalog for it).
func TestTreeSearchesPath(t *testing.T) {
	db, _ := openNew(t)
	for _, c := range []struct {
		name, query, want string
		args              []any
	}{
		{"Tree", treeWhere, "version_by_path (source_id=? AND path>? AND path<?)", []any{1, 1, 1, "a", "a0", "a", "a/"}},
		{"LiveTree", liveTreeWhere, "version_live (source_id=? AND path>? AND path<?)", []any{1, "a", "a0", "a", "a/"}},
	} {
		text := queryPlan(t, db, "SELECT "+versionColumns+versionFrom+c.query, c.args...)
		if !strings.Contains(text, c.want) || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("query plan of %s:\n%s", c.name, text)
		}
	}
}
