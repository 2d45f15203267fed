package main

import (
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
