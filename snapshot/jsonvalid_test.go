package snapshot

import (
	"encoding/json"
	"strings"
	"testing"
)

var jsonCases = []string{
	``, ` `, `{}`, `[]`, ` [ ] `, `{"a":1}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{1:2}`,
	`"x"`, `"`, `"\"`, `"\u00e9"`, `"\u00g9"`, `"\u00e"`, `"\x"`, `"\/\b\f\n\r\t\\"`, "\"a\tb\"", "\"a\x7fb\"",
	"\"\xff\xfe\"", `true`, `tru`, `truex`, `false`, `null`, `nul`, `nulll`, `0`, `-0`, `-`, `01`, `1.`, `1.5`,
	`.5`, `1e`, `1e+`, `1e+5`, `1E-05`, `-1.0e3`, `+1`, `1 2`, `[1 2]`, `{"a":1 "b":2}`, `[[[]]]`, `[[[]]`,
	`[]]`, `{"a":[1,{"b":null}],"c":"d"}`, "\t\n\r {\"a\" : [ true , false ] } \n", `[1,2,3}`, `{"a":1]`,
	`{"a":{"b":{}}}`, `"abc`, `[`, `{`, `{"a":1}x`, "\x00", `[-]`, `[1e5.0]`, `{"":""}`, `[0.0e0]`, `nan`,
	`Infinity`, `[.1]`, `{"a":-}`, "\u00a0[]", `{"a":[]}`, `{"a":[1,2],"b":[3,4,5],"c":{"d":[1,2,3,4]}}`,
	`{"a":1,"b":"[,,,]"}`, `[[1,2],[3]]`, `{"a":[[1,2,3]],"b":[]}`, `[{"a":[1,2,3]}]`, ` "s" `, `[""]`, `{"a":{},"b":[]}`,
}

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	for _, c := range jsonCases {
		sameAsStd(t, []byte(c))
	}
	for _, depth := range []int{maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1} {
		for _, open := range []string{"[", `{"k":`} {
			close := "]"
			if open != "[" {
				close = "}"
			}
			doc := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(close, depth))
			if got, _ := validJSON(doc); got != json.Valid(doc) {
				t.Errorf("depth %d of %s: validJSON = %v, json.Valid says the opposite", depth, open, got)
			}
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(sameAsStd)
}

// sameAsStd checks validJSON against json.Valid, and its count of a valid
// document against jsonEntries.
func sameAsStd(t *testing.T, data []byte) {
	valid, entries := validJSON(data)
	if want := json.Valid(data); valid != want {
		t.Fatalf("validJSON(%q) = %v, json.Valid says %v", data, valid, want)
	}
	if valid {
		want := jsonEntries(data)
		if entries != want {
			t.Fatalf("validJSON(%q) counts %d entries, jsonEntries %d", data, entries, want)
		}
	}
}
