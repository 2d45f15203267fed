package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

// docField is one row of a field table in docs/json.md.
type docField struct {
	Type     string
	Required bool
}

var (
	docHeading = regexp.MustCompile("^### `([a-z_]+)`")
	docRow     = regexp.MustCompile("^\\| `([a-z_]+)` \\| ([^|]+?) \\| (yes|no) \\|")
)

// readJSONDoc reads docs/json.md's field tables: object name -> field ->
// its documented type and whether it is always present.
func readJSONDoc(t testing.TB) map[string]map[string]docField {
	b, err := os.ReadFile("../../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]map[string]docField{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if m := docHeading.FindStringSubmatch(line); m != nil {
			cur = m[1]
			doc[cur] = map[string]docField{}
			continue
		}
		if m := docRow.FindStringSubmatch(line); m != nil && cur != "" {
			doc[cur][m[1]] = docField{strings.TrimSpace(m[2]), m[3] == "yes"}
		}
	}
	return doc
}

// structFields lists the JSON fields of a struct type as documented:
// embedded structs flattened, omitempty meaning "not required".
func structFields(t reflect.Type) map[string]docField {
	out := map[string]docField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			for k, v := range structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		out[name] = docField{docType(f.Type), !strings.Contains(opts, "omitempty")}
	}
	return out
}

var jsonTimeType = reflect.TypeOf(jsonTime{})

// docType is the name docs/json.md gives a Go type.
func docType(t reflect.Type) string {
	if t == jsonTimeType {
		return "time"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return docType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "array of " + docType(t.Elem())
	case reflect.Struct:
		for name, v := range jsonSchemas {
			if reflect.TypeOf(v) == t {
				return "`" + name + "`"
			}
		}
	}
	return t.String()
}

// TestJSONDocMatchesCode holds docs/json.md and the structs that print
// JSON to the same fields, types and required-ness.
func TestJSONDocMatchesCode(t *testing.T) {
	doc := readJSONDoc(t)
	var names []string
	for name := range jsonSchemas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fields, ok := doc[name]
		if !ok {
			t.Errorf("docs/json.md has no table for %q", name)
			continue
		}
		code := structFields(reflect.TypeOf(jsonSchemas[name]))
		for f, want := range code {
			got, ok := fields[f]
			switch {
			case !ok:
				t.Errorf("%s.%s (%s) is printed but not documented", name, f, want.Type)
			case got != want:
				t.Errorf("%s.%s: documented %+v, printed %+v", name, f, got, want)
			}
		}
		for f := range fields {
			if _, ok := code[f]; !ok {
				t.Errorf("%s.%s is documented but not printed", name, f)
			}
		}
	}
	for name := range doc {
		if _, ok := jsonSchemas[name]; !ok {
			t.Errorf("docs/json.md documents %q, which no command prints", name)
		}
	}
}

func TestJSONTimeIsUTC(t *testing.T) {
	loc := time.FixedZone("X", 5*3600)
	b, err := json.Marshal(jsonTime(time.Date(2024, 1, 2, 8, 4, 5, 7, loc)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `"2024-01-02T03:04:05.000000007Z"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// validateJSON checks that raw is a NAME object (or an array of them):
// no field the document does not list, every required one present, each
// nested object checked the same way.
func validateJSON(raw json.RawMessage, t reflect.Type) error {
	raw = bytes.TrimSpace(raw)
	switch {
	case t == jsonTimeType:
		var v jsonTime
		return json.Unmarshal(raw, &v)
	case t.Kind() == reflect.Pointer:
		return validateJSON(raw, t.Elem())
	case t.Kind() == reflect.Slice:
		if string(raw) == "null" {
			return fmt.Errorf("null where an array belongs")
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		for i, it := range items {
			if err := validateJSON(it, t.Elem()); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case t.Kind() != reflect.Struct:
		v := reflect.New(t)
		return json.Unmarshal(raw, v.Interface())
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(reflect.New(t).Interface()); err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	return validateFields(obj, t)
}

func validateFields(obj map[string]json.RawMessage, t reflect.Type) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			if err := validateFields(obj, f.Type); err != nil {
				return err
			}
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		v, ok := obj[name]
		if !ok {
			if !strings.Contains(opts, "omitempty") {
				return fmt.Errorf("required field %q missing", name)
			}
			continue
		}
		if err := validateJSON(v, f.Type); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// cmdJSONSchema implements "jsonschema NAME" (stdout is one NAME object),
// "jsonschema NAME array" (an array of them) and "jsonschema lines" (JSON
// lines, each the object its message_type names, prefixed by snap_).
func cmdJSONSchema(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: jsonschema NAME [array] | jsonschema lines")
	}
	out := []byte(ts.ReadFile("stdout"))
	if args[0] == "lines" {
		lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
		for i, line := range lines {
			var head struct {
				MessageType string `json:"message_type"`
			}
			ts.Check(json.Unmarshal(line, &head))
			v, ok := jsonSchemas["snap_"+head.MessageType]
			if !ok {
				ts.Fatalf("line %d: message_type %q is not documented", i+1, head.MessageType)
			}
			if err := validateJSON(line, reflect.TypeOf(v)); err != nil {
				ts.Fatalf("line %d (%s): %v", i+1, head.MessageType, err)
			}
		}
		return
	}
	v, ok := jsonSchemas[args[0]]
	if !ok {
		ts.Fatalf("no documented object %q", args[0])
	}
	t := reflect.TypeOf(v)
	if len(args) == 2 {
		if args[1] != "array" {
			ts.Fatalf("usage: jsonschema NAME [array]")
		}
		t = reflect.SliceOf(t)
	}
	if err := validateJSON(out, t); err != nil {
		ts.Fatalf("stdout is not a documented %s: %v", strings.Join(args, " "), err)
	}
}

// snap --json's status lines are documented snap_status objects, one per
// line.
func TestSnapStatusLine(t *testing.T) {
	var buf bytes.Buffer
	fn := snapJSONStatus(&buf)
	fn(cairn.Progress{FilesDone: 1, FilesToRead: 4, BytesRead: 10})
	fn(cairn.Progress{FilesDone: 4, FilesToRead: 4, BytesRead: 40})
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	if want := `{"message_type":"status","files_done":1,"files_total":4,"bytes_done":10,"percent_done":0.25}`; lines[0] != want {
		t.Errorf("got %s, want %s", lines[0], want)
	}
	for _, l := range lines {
		if err := validateJSON([]byte(l), reflect.TypeOf(snapStatusJSON{})); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
}

// TestJSONDocListsEveryCommand holds docs/json.md's table of commands to
// the commands that have --json: each is listed, and each listed has it.
func TestJSONDocListsEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z ]+) --json`").FindAllStringSubmatch(string(b), -1) {
		listed[m[1]] = true
	}
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	has := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.LocalFlags().Lookup("json") != nil {
			has[strings.TrimPrefix(c.CommandPath(), "cairn ")] = true
		}
	}
	walk(a.rootCommand())
	for name := range has {
		if !listed[name] {
			t.Errorf("cairn %s has --json, docs/json.md does not list it", name)
		}
	}
	for name := range listed {
		if !has[name] {
			t.Errorf("docs/json.md lists %s --json, which cairn does not have", name)
		}
	}
}
