package cairn_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cairn-dev/cairn"

// layers ranks every package of the module: imports point down (to a lower
// rank) or, where sideways says so, within a layer. restic holds its
// layers with depguard rules; this test reads `go list` the same way. A
// new package must be given a layer here, with a reason if it is special.
var layers = []struct {
	name     string
	rank     int
	sideways bool // may import packages of its own layer
	pkgs     []string
	why      string
}{
	{"command", 5, false, []string{"cmd/cairn"},
		"flags, output and exit codes only; it imports the root package and nothing else of the module, so everything it can do an application can do too"},
	{"tools", 5, false, []string{"bench", "internal/crashtest"},
		"harnesses that drive the built binary; they may use any library package, never the command's code"},
	{"door", 4, false, []string{""},
		"the root package: the one public API (Open, Snapshot, Restore, the read API); it ties the operations together"},
	{"operations", 3, true, []string{"snapshot", "restore", "snapshotfs", "gc", "check", "retention", "archive", "importer", "mountfs", "watch"},
		"each is one thing done to a repository; they never reach up to the door, whose locks and holds make them safe to call"},
	{"storage", 2, true, []string{"catalog", "blobstore", "blobstore/memstore", "blobstore/faultstore", "blobstore/storetest", "blobstore/s3store", "chunker", "migrations", "metalog"},
		"the catalog, the blob store and the chunker: what a repository is made of"},
	{"leaves", 1, true, []string{"keys", "internal/atomicfile", "internal/keycache", "internal/procid", "internal/beneath", "internal/ignore", "internal/repolock", "internal/runtimefile", "internal/secretname", "internal/sqlitefile", "internal/textdiff", "internal/s3test"},
		"small helpers shared by several packages; they know nothing of cairn's model"},
}

// forbidden are imports the ranks would allow but the design does not.
var forbidden = []struct{ from, to, why string }{
	{"blobstore", "catalog", "a store holds packs for any number of catalogs (many hosts on one S3 store), so it must not know one"},
	{"blobstore/memstore", "catalog", "a store must not know the catalog"},
	{"blobstore/faultstore", "catalog", "a store must not know the catalog"},
	{"blobstore/s3store", "catalog", "a store must not know the catalog"},
	{"metalog", "catalog", "the log deals in sealed bytes: what a record means is the catalog's business, and the catalog is a view the log can rebuild"},
}

// required are imports that keep one home for one list.
var required = []struct{ from, to, why string }{
	{"restore", "internal/secretname", "which names are secrets has one list, shared with snapshot's warnings"},
	{"snapshot", "internal/secretname", "which names are secrets has one list, shared with restore's modes"},
	{"restore", "internal/runtimefile", "which files belong to a running program has one list, shared with import"},
	{"importer", "internal/runtimefile", "which files belong to a running program has one list, shared with restore"},
}

// commandDeps are the only packages outside the standard library that the
// command may import (its tests may import more). golang.org/x/term reads
// a password at the terminal without echoing it.
var commandDeps = []string{"github.com/spf13/cobra", "github.com/spf13/pflag", "golang.org/x/term"}

type listedPackage struct {
	ImportPath, Name          string
	Standard                  bool
	Imports                   []string
	TestImports, XTestImports []string
}

func listPackages(t *testing.T) map[string]listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]listedPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[rel(p.ImportPath)] = p
	}
	return pkgs
}

// rel names a package of the module by its directory ("" for the root).
func rel(path string) string {
	if path == module {
		return ""
	}
	return strings.TrimPrefix(path, module+"/")
}

func ownPackage(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	rank, layerOf := map[string]int{}, map[string]int{}
	for i, l := range layers {
		for _, p := range l.pkgs {
			rank[p], layerOf[p] = l.rank, i
		}
	}
	for name, p := range pkgs {
		if _, ok := rank[name]; !ok {
			t.Errorf("package %q has no layer: add it to layers in layers_test.go", p.ImportPath)
			continue
		}
		from := layers[layerOf[name]]
		for _, imp := range p.Imports {
			if !ownPackage(imp) {
				if name == "cmd/cairn" && !strings.Contains(strings.Split(imp, "/")[0], ".") {
					continue // the standard library
				}
				if name == "cmd/cairn" && !slices.Contains(commandDeps, imp) {
					t.Errorf("cmd/cairn imports %s: only the standard library and %v (%s)", imp, commandDeps, from.why)
				}
				continue
			}
			to := rel(imp)
			r, ok := rank[to]
			switch {
			case !ok:
				continue // reported as a package without a layer
			case name == "cmd/cairn" && to != "":
				t.Errorf("cmd/cairn imports %s: %s", to, from.why)
			case r > from.rank || (r == from.rank && !from.sideways):
				t.Errorf("%s (%s) imports %s (%s): imports point down (%s)", show(name), from.name, show(to), layers[layerOf[to]].name, from.why)
			}
		}
	}
	for _, f := range forbidden {
		if slices.Contains(pkgs[f.from].Imports, module+"/"+f.to) {
			t.Errorf("%s imports %s: %s", f.from, f.to, f.why)
		}
	}
	for _, r := range required {
		if !slices.Contains(pkgs[r.from].Imports, module+"/"+r.to) {
			t.Errorf("%s does not use %s: %s", r.from, r.to, r.why)
		}
	}
}

// TestNothingImportsTheCommand: the command is the top; not even a test
// imports it (tests of the CLI run the binary, or live in package main).
func TestNothingImportsTheCommand(t *testing.T) {
	for name, p := range listPackages(t) {
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			if strings.HasPrefix(imp, module+"/cmd/") && !strings.HasPrefix(p.ImportPath, module+"/cmd/") {
				t.Errorf("%s imports %s", show(name), imp)
			}
		}
	}
}

func show(pkg string) string {
	if pkg == "" {
		return fmt.Sprintf("%s (root)", module)
	}
	return pkg
}
