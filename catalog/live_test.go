package catalog

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
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

// TestLiveInOrder streams a source's live versions in Go's string order
// of the path (SQLite's BINARY collation), across batch boundaries, on
// names that sort around '/', start below '.', or are not valid UTF-8;
// a closed version and another source's are not in it.
func TestLiveInOrder(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	paths := []string{".", "-x", " sp", "a", "a-b", "a.b", "a0", "a/b", "a/b/c", "a/b-c", "a/b0", "a/é", "a/\xff\xfe", "\xff", "\xc3(", "z"}
	for i := 0; i < 2*liveBatch+7; i++ {
		paths = append(paths, fmt.Sprintf("many/%d", i))
	}
	var vs []NewVersion
	for _, p := range paths {
		vs = append(vs, dirVersion(p))
	}
	vs = append(vs, dirVersion("gone"))
	if _, err := db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: t0, Finished: t0, Versions: vs}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CommitSnapshot(ctx, &Commit{Source: "/other", Started: t0, Finished: t0, Versions: []NewVersion{dirVersion("."), dirVersion("b")}}); err != nil {
		t.Fatal(err)
	}
	src, err := db.SourceByPath(ctx, "/src")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := db.LiveVersion(ctx, src.ID, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: t0.Add(time.Second), Finished: t0.Add(time.Second), Close: []int64{gone.ID}}); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(paths)
	slices.Sort(want)
	s, err := db.LiveInOrder(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		v, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			break
		}
		got = append(got, v.Path)
	}
	s.Close()
	if !slices.Equal(got, want) {
		t.Errorf("LiveInOrder:\ngot  %q\nwant %q", got, want)
	}

	// A stream closed early stops its reader.
	s, err = db.LiveInOrder(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Next(); err != nil || v == nil || v.Path != want[0] {
		t.Fatalf("first version: %v, %v", v, err)
	}
	s.Close()
}

// TestLiveInOrderNeedsNoSort: the stream reads the version_live index in
// its order; a sort of every live version would cost memory and time
// proportional to the source.
func TestLiveInOrderNeedsNoSort(t *testing.T) {
	db, _ := openNew(t)
	text := queryPlan(t, db, liveInOrder, 1)
	if strings.Contains(text, "TEMP B-TREE") || !strings.Contains(text, "version_live") {
		t.Errorf("query plan of liveInOrder:\n%s", text)
	}
}
