package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn"
)

// TestHelpStatesTheDefaults ties the defaults the help text states in
// prose to their one home in the library, so that changing a default
// without its documentation fails here.
func TestHelpStatesTheDefaults(t *testing.T) {
	help := func(args ...string) string {
		var out bytes.Buffer
		if code := run(append(args, "--help"), nil, &out, &out); code != 0 {
			t.Fatalf("cairn %v --help: exit %d\n%s", args, code, out.String())
		}
		return strings.Join(strings.Fields(out.String()), " ") // the prose is wrapped
	}
	policy, restore, gc := help("policy"), help("restore"), help("gc")
	for _, rule := range strings.Split(cairn.DefaultPolicy.String(), ", ") {
		if !strings.Contains(policy, rule) {
			t.Errorf("cairn policy --help does not state the default rule %q", rule)
		}
	}
	runtime := cairn.DefaultRuntime()
	last := len(runtime) - 1
	listed := strings.Join(runtime[:last], ", ") + " and " + runtime[last]
	if !strings.Contains(policy, "besides "+listed) {
		t.Errorf("cairn policy --help does not list the default runtime files %s", listed)
	}
	for _, h := range []string{"(" + strings.Join(runtime, ", ") + ",", "besides " + strings.Join(runtime, ", ") + " (repeatable)"} {
		if !strings.Contains(restore, h) {
			t.Errorf("cairn restore --help does not say %q", h)
		}
	}
	if want := "(default " + percent(cairn.DefaultMassDeletion) + ")"; !strings.Contains(policy, want) {
		t.Errorf("cairn policy --help does not say %q", want)
	}
	if want := `(default "` + percent(cairn.DefaultMaxUnused) + `")`; !strings.Contains(gc, want) {
		t.Errorf("cairn gc --help does not say %q", want)
	}
}
