package snapshot

import (
	"reflect"
	"testing"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/ignore"
)

func TestExcludesUnionAndStore(t *testing.T) {
	a := Excludes{Patterns: []string{"*.tmp"}, LargerThan: 2048}
	b := Excludes{Patterns: []string{"*.tmp", "cache/"}, Caches: true, LargerThan: 1024}
	got := a.Union(b)
	want := Excludes{Patterns: []string{"*.tmp", "cache/"}, Caches: true, LargerThan: 1024}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Union = %+v, want %+v", got, want)
	}
	back, err := ParseExcludes(got.Marshal())
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("ParseExcludes(Marshal) = %+v, %v", back, err)
	}
	if (Excludes{}).Marshal() != "" {
		t.Error("no excludes must store as nothing")
	}
}

func TestExcludedNow(t *testing.T) {
	ex, err := ignore.New([]string{"logs/"})
	if err != nil {
		t.Fatal(err)
	}
	x := &exclusion{Excludes: Excludes{LargerThan: 10}, emptied: []string{"cache"}}
	for _, tt := range []struct {
		v    catalog.Version
		want bool
	}{
		{catalog.Version{Path: "logs/a/b.txt", Type: catalog.TypeFile}, true}, // a parent matches
		{catalog.Version{Path: "big", Type: catalog.TypeFile, Size: 11}, true},
		{catalog.Version{Path: "cache/blob", Type: catalog.TypeFile}, true},
		{catalog.Version{Path: "cache/CACHEDIR.TAG", Type: catalog.TypeFile}, false}, // the tag is kept
		{catalog.Version{Path: "notes.txt", Type: catalog.TypeFile, Size: 3}, false},
	} {
		if got := x.excludedNow(ex, &tt.v); got != tt.want {
			t.Errorf("excludedNow(%s) = %v, want %v", tt.v.Path, got, tt.want)
		}
	}
}
