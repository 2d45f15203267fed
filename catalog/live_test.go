package catalog

import (
	"context"
	"path"
	"slices"
	"sort"
	"testing"
)

// TestLiveChildren checks both ways of listing a directory's live
// children against a plain filter, on names that sort around '/' ('-',
// '.', '0'), start below '.', or are not valid UTF-8.
func TestLiveChildren(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	paths := []string{".", "-x", " sp", "a", "a-b", "a.b", "a0", "a/b", "a/b/c", "a/b-c", "a/b/c/d", "a/b0", "a/é", "a/\xff\xfe",
		"a-b/x", "a.b/y", "b", "b/a", "\xff", "\xff/z", "z"}
	var vs []NewVersion
	for _, p := range paths {
		vs = append(vs, dirVersion(p))
	}
	if _, err := db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: t0, Finished: t0, Versions: vs}); err != nil {
		t.Fatal(err)
	}
	src, err := db.SourceByPath(ctx, "/src")
	if err != nil {
		t.Fatal(err)
	}
	defer func(old int) { rangeMax = old }(rangeMax)
	for _, max := range []int{0, 5000} {
		rangeMax = max
		for _, dir := range []string{".", "a", "a/b", "a/b/c", "a-b", "b", "\xff", "none"} {
			var want []string
			for _, p := range paths {
				if p != "." && path.Dir(p) == dir {
					want = append(want, p)
				}
			}
			got, err := db.LiveChildren(ctx, src.ID, dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, v := range got {
				names = append(names, v.Path)
			}
			sort.Strings(names)
			sort.Strings(want)
			if !slices.Equal(names, want) {
				t.Errorf("rangeMax %d: LiveChildren(%q) = %q, want %q", max, dir, names, want)
			}
		}
	}
	tree, err := db.LiveTree(ctx, src.ID, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range tree {
		names = append(names, v.Path)
	}
	sort.Strings(names)
	if want := []string{"a/b", "a/b/c", "a/b/c/d"}; !slices.Equal(names, want) {
		t.Errorf("LiveTree(a/b) = %q, want %q", names, want)
	}
}
