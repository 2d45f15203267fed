package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The scale section is replaced by a run of the scale corpus alone and
// kept by a run without it; the rest of the report goes the other way.
func TestMergedReport(t *testing.T) {
	section := func(s string) string { return scaleBegin + "\n" + s + "\n" + scaleEnd }
	old := "# main v1\n\n" + section("scale v1") + "\n"
	for _, tc := range []struct {
		name               string
		main, scale        string
		ranMain, ranScale  bool
		wantMain, wantScal string
	}{
		{"scale alone", "", section("scale v2"), false, true, "main v1", "scale v2"},
		{"main alone", "# main v2\n", "", true, false, "main v2", "scale v1"},
		{"both", "# main v2\n", section("scale v2"), true, true, "main v2", "scale v2"},
	} {
		got := merged(old, tc.main, tc.scale, tc.ranMain, tc.ranScale)
		rest, sec := splitScale(got)
		if !strings.Contains(rest, tc.wantMain) || strings.Contains(rest, "scale v") || !strings.Contains(sec, tc.wantScal) {
			t.Errorf("%s: got %q", tc.name, got)
		}
		if strings.Count(got, scaleBegin) != 1 {
			t.Errorf("%s: %d scale sections in %q", tc.name, strings.Count(got, scaleBegin), got)
		}
	}
	if got := merged("", "# main\n", "", true, false); got != "# main\n" {
		t.Errorf("no old report, no scale run: got %q", got)
	}
}

// Tree B has the files asked for, in 300 x 20 directories, every one
// valid JSON, of varied sizes.
func TestGenScaleB(t *testing.T) {
	dir := t.TempDir()
	if err := genScaleB(dir, 6500); err != nil {
		t.Fatal(err)
	}
	files, dirs, small, large := 0, map[string]bool{}, 0, 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !json.Valid(data) {
			t.Errorf("%s is not valid JSON", p)
		}
		files++
		dirs[filepath.Dir(p)] = true
		if len(data) < 200 {
			small++
		}
		if len(data) > 4096 {
			large++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 6500 || len(dirs) != scaleTopDirs*scaleSubDirs || small == 0 || large == 0 {
		t.Errorf("%d files in %d directories, %d under 200 B, %d over 4 KiB", files, len(dirs), small, large)
	}
}
