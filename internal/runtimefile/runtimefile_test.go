package runtimefile

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		rel   string
		extra []string
		want  bool
	}{
		{"agent.pid", nil, true},
		{"run/x.sock", nil, true},
		{"deep/dir/db.lock", nil, true},
		{"config.yaml", nil, false},
		{"pidfile", nil, false},
		{"state/registry.json", []string{"state/registry.json"}, true},
		{"other/registry.json", []string{"state/registry.json"}, false},
		{"cache/x.tmp", []string{"*.tmp"}, true},
	} {
		if got := Match(tc.rel, tc.extra); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.rel, tc.extra, got, tc.want)
		}
	}
}
