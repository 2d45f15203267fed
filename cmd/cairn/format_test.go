package main

import (
	"os/exec"
	"testing"
)

var displayPathCases = []struct{ name, want string }{
	{"plain.txt", "plain.txt"},
	{"dir/with space.txt", "dir/with space.txt"},
	{"Bob's notes.md", "Bob's notes.md"},
	{"日本語/ファイル.txt", "日本語/ファイル.txt"},
	{"", ""},
	{"red\x1b[31m", `'red'$'\033''[31m'`},
	{"\x1b[31mred", `$'\033''[31mred'`},
	{"two\nlines", `'two'$'\n''lines'`},
	{"tab\there", `'tab'$'\t''here'`},
	{"cr\r\x07", `'cr'$'\r\a'`},
	{"bad\xffutf8", `'bad'$'\377''utf8'`},
	{"it's\n", `'it'\''s'$'\n'`},
	{"'\x01'", `\'$'\001'\'`},
	{"\u202eevil.exe", `$'\342\200\256''evil.exe'`},
	{"del\x7f", `'del'$'\177'`},
	{"c1\u0085", `'c1'$'\302\205'`},
}

func TestDisplayPath(t *testing.T) {
	for _, tc := range displayPathCases {
		if got := displayPath(tc.name); got != tc.want {
			t.Errorf("displayPath(%q) = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// A name displayPath quotes, pasted into bash, is the name itself. (Names
// it leaves alone are for reading: it does not quote spaces.)
func TestDisplayPathPastesIntoBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	for _, tc := range displayPathCases {
		if displayPath(tc.name) == tc.name {
			continue
		}
		out, err := exec.Command(bash, "-c", "printf %s "+displayPath(tc.name)).Output()
		if err != nil || string(out) != tc.name {
			t.Errorf("bash printf %s = %q, %v; want %q", displayPath(tc.name), out, err, tc.name)
		}
	}
}

func TestDisplayText(t *testing.T) {
	for in, want := range map[string]string{
		"restore a.txt: no space":   "restore a.txt: no space",
		"open red\x1b[31m: denied":  `open red\x1b[31m: denied`,
		"first\nsecond\n":           "first; second",
		"bad \xff byte":             `bad \xff byte`,
		"\u202eevil":                `\u202eevil`,
		"it's fine, 日本語 and spaces": "it's fine, 日本語 and spaces",
	} {
		if got := displayText(in); got != want {
			t.Errorf("displayText(%q) = %s, want %s", in, got, want)
		}
	}
}
