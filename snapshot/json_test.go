package snapshot

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONEntries(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want int64
	}{
		{`[]`, 0},
		{`[1]`, 1},
		{`[1,2,3]`, 3},
		{`{}`, 0},
		{`{"a":1}`, 1},
		{`{"a":1,"b":2}`, 2},
		{`{"jobs":[1,2],"x":[1]}`, 2},
		{`{"x":[1],"jobs":[1,2,3]}`, 3},
		{`{"jobs":[]}`, 0},
		{`{"jobs":[],"n":5}`, 0},
		{`{"a":{"b":1,"c":2},"d":3}`, 2},
		// Nested containers count once, at their own level.
		{`[[1,2,3],[4,5]]`, 2},
		{`[{"a":1,"b":2},{"c":3}]`, 2},
		{`{"a":[[1,2,3],[4]]}`, 2},
		{`{"a":{"b":[1,2,3,4]}}`, 1},
		{`[[],{},[[]]]`, 3},
		{`[[]]`, 1},
		{`[{}]`, 1},
		// Strings hiding the structure characters and escaped quotes.
		{`[",", "[", "]", "{", "}"]`, 5},
		{`["a,b]", "c\"],{"]`, 2},
		{`{"k,[{":"v\"}]","jobs":["\\",",\\\""]}`, 2},
		{`["\\"]`, 1},
		{`["a\\\"b,c"]`, 1},
		{`{"\"":[1,2]}`, 2},
		// Scalars hold no entries.
		{`1`, 0},
		{`-2.5e3`, 0},
		{`"a,b,[c]"`, 0},
		{`true`, 0},
		{`null`, 0},
		// Whitespace anywhere.
		{" \n\t[ 1 ,\r\n 2 ] \n", 2},
		{"{\n  \"a\" : [ ] ,\n  \"b\" : [ 1 , 2 ]\n}\n", 2},
		{" [ ] ", 0},
		{"\t{ }\n", 0},
	} {
		if !json.Valid([]byte(tc.doc)) {
			t.Fatalf("test case %q is not valid JSON", tc.doc)
		}
		if got := jsonEntries([]byte(tc.doc)); got != tc.want {
			t.Errorf("jsonEntries(%q) = %d, want %d", tc.doc, got, tc.want)
		}
		valid, count := checkJSON([]byte(tc.doc))
		if !valid || count != tc.want {
			t.Errorf("checkJSON(%q) = %v, %d", tc.doc, valid, count)
		}
	}
	for _, doc := range []string{``, `[1,2`, `{"a":`, `[1,]`, `{"a":1}}`, `nul`} {
		if valid, count := checkJSON([]byte(doc)); valid || count != -1 {
			t.Errorf("checkJSON(%q) = %v, %d; want invalid, -1", doc, valid, count)
		}
	}
}

func TestStreamValidJSON(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{`{"a":[1,2,{"b":"c"}]}`, true},
		{`[]`, true},
		{` "just a string" `, true},
		{`42`, true},
		{"{\n \"a\": 1\n}\n", true},
		{`{"a":[1,2`, false}, // torn inside an array
		{`{"a":`, false},     // torn after a key
		{`{"a":1,`, false},
		{`[1,2,3`, false},
		{`{"a":"unterminated`, false},
		{`[1,2]]`, false},
		{`{"a" 1}`, false},
		{`{"a":1} x`, false},
		{`{"a":1}{"b":2}`, false}, // two documents are not one JSON file
		{``, false},
		{"   \n", false},
	} {
		got, err := streamValid(strings.NewReader(tc.doc), false)
		if err != nil {
			t.Errorf("streamValid(%q): %v", tc.doc, err)
			continue
		}
		if got != tc.want {
			t.Errorf("streamValid(%q, json) = %v, want %v", tc.doc, got, tc.want)
		}
		// The in-memory check must agree with the streaming one.
		if mem := json.Valid([]byte(tc.doc)); mem != tc.want {
			t.Errorf("json.Valid(%q) = %v, but the test expects %v", tc.doc, mem, tc.want)
		}
	}
}

func TestStreamValidJSONLines(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{"{\"a\":1}\n{\"b\":[2]}\n", true},
		{"{\"a\":1}\n{\"b\":[2]}", true}, // no final newline
		{"{\"a\":1}\n\n\n{\"b\":2}\n\n", true},
		{"\n  \n\t\n", true},
		{"", true},
		{"{\"a\":1}\r\n{\"b\":2}\r\n", true},
		{"1\n\"s\"\nnull\n[1,2]\n", true},
		{"{\"a\":1}\n{\"b\":", false}, // torn last line
		{"{\"a\":1}\n{\"b\"\n{\"c\":3}\n", false},
		{"{\"a\":1} {\"b\":2}\n", false}, // two values on one line
		{"{\"a\":\n1}\n", false},         // a document across lines
	} {
		got, err := streamValid(strings.NewReader(tc.doc), true)
		if err != nil {
			t.Errorf("streamValid(%q): %v", tc.doc, err)
			continue
		}
		if got != tc.want {
			t.Errorf("streamValid(%q, jsonl) = %v, want %v", tc.doc, got, tc.want)
		}
	}
}

func TestJSONNames(t *testing.T) {
	for name, want := range map[string][2]bool{
		"a.json":          {true, false},
		"dir/b.json":      {true, false},
		"c.jsonl":         {false, true},
		"d.ndjson":        {false, true},
		"e.JSON":          {false, false},
		"json":            {false, false},
		"f.json.bak":      {false, false},
		"dir.json/g.txt":  {false, false},
		".json":           {true, false},
		"x/y/z/log.jsonl": {false, true},
	} {
		if got := [2]bool{isJSON(name), isJSONLines(name)}; got != want {
			t.Errorf("%s: isJSON, isJSONLines = %v, want %v", name, got, want)
		}
	}
}

// TestJSONByteOrderMark: a UTF-8 BOM before a valid document is valid (a
// BOM alone, or before a torn document, is not), in memory and streamed.
func TestJSONByteOrderMark(t *testing.T) {
	const bom = "\xEF\xBB\xBF"
	for _, tc := range []struct {
		doc     string
		valid   bool
		entries int64
	}{
		{bom + `{"jobs":[1,2,3]}`, true, 3},
		{bom + "[1,2]\n", true, 2},
		{bom, false, -1},
		{bom + `{"jobs":[1,`, false, -1},
		{bom + bom + `[1]`, false, -1}, // one BOM, not two
		{`[1]` + bom, false, -1},
	} {
		valid, entries := checkJSON([]byte(tc.doc))
		if valid != tc.valid || entries != tc.entries {
			t.Errorf("checkJSON(%q) = %v, %d; want %v, %d", tc.doc, valid, entries, tc.valid, tc.entries)
		}
		got, err := streamValid(strings.NewReader(tc.doc), false)
		if err != nil || got != tc.valid {
			t.Errorf("streamValid(%q) = %v, %v; want %v", tc.doc, got, err, tc.valid)
		}
	}
	if got, err := streamValid(strings.NewReader(bom+"{\"a\":1}\n{\"b\":2}\n"), true); err != nil || !got {
		t.Errorf("streamValid(BOM + JSON Lines) = %v, %v; want valid", got, err)
	}
}
