package restore

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/internal/ignore"
)

// planDeletes adds, for Options.Delete, an item for everything on disk
// under the restored directory that its snapshot lacks, as restic's
// --delete does. Never deleted: runtime files (listed as kept), what the
// target's .cairnignore excludes (a snapshot never held it, so its absence
// says nothing), the sidecars of a database in the snapshot (its live
// -wal), a killed restore's temp files (cleared separately), and the paths
// in Options.Skip (the repository). Every deletion is inside the target's
// os.Root, and in place the undo snapshot holds it first.
func (pl *planner) planDeletes(versions []*catalog.Version) error {
	if pl.root == nil {
		return nil
	}
	in := make(map[string]*catalog.Version, len(versions))
	for _, v := range versions {
		in[v.Path] = v
	}
	if top := in[pl.req.Path]; top == nil || top.Type != catalog.TypeDir {
		return nil // a file restore deletes nothing
	}
	if fi, err := pl.lstat(pl.req.Path); err != nil || fi == nil || !fi.IsDir() {
		return nil
	}
	patterns, err := ignore.ReadFile(filepath.Join(pl.base, ".cairnignore"))
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Join(pl.base, ".cairnignore"), err)
	}
	ex, err := ignore.New(patterns)
	if err != nil {
		return err
	}
	leftOut := func(string, bool) bool { return false }
	if pl.req.LeftOut != nil {
		if leftOut, err = pl.req.LeftOut(pl.base); err != nil {
			return err
		}
	}
	skip := map[string]bool{}
	for _, p := range pl.opts.Skip {
		skip[canonical(p)] = true
	}
	base := canonical(pl.base)
	queue := []string{pl.req.Path}
	for len(queue) > 0 {
		dir := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		f, err := pl.root.Open(dir)
		if err != nil {
			return fmt.Errorf("list %s: %w", pl.abs(dir), err)
		}
		entries, err := f.ReadDir(-1)
		f.Close()
		if err != nil {
			return fmt.Errorf("list %s: %w", pl.abs(dir), err)
		}
		for _, e := range entries {
			rel := e.Name()
			if dir != "." {
				rel = dir + "/" + e.Name()
			}
			isDir := e.IsDir()
			if e.Type()&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0 {
				continue // sockets, FIFOs and devices are never stored: their absence says nothing
			}
			if strings.HasPrefix(e.Name(), atomicfile.TempPrefix) || skip[filepath.Join(base, filepath.FromSlash(rel))] ||
				ex.Match(rel, isDir) || isSidecar(rel, in) || leftOut(rel, isDir) {
				continue
			}
			if v := in[rel]; v != nil {
				if isDir && v.Type == catalog.TypeDir {
					queue = append(queue, rel)
				}
				continue // what the snapshot has is planned already
			}
			it := Item{Source: pl.req.Snapshot.Source, Rel: rel, Path: pl.abs(rel), Type: entryType(e), Snapshot: pl.req.Snapshot.ID, req: pl.idx}
			if !isDir && isRuntime(rel, pl.opts.Runtime) {
				it.Kind = KindKeepRuntime
				it.Notes = []string{"runtime file, never deleted"}
				pl.Items = append(pl.Items, it)
				continue
			}
			it.Kind, it.Replaces = KindDelete, true
			pl.Items = append(pl.Items, it)
			if isDir {
				queue = append(queue, rel)
			}
		}
	}
	return nil
}

// isSidecar reports whether rel is the -wal, -shm or -journal of a file
// in the snapshot: such files are never stored, and a live database's
// -wal holds its newest commits.
func isSidecar(rel string, in map[string]*catalog.Version) bool {
	for _, suf := range []string{"-wal", "-shm", "-journal"} {
		if base, ok := strings.CutSuffix(rel, suf); ok && base != "" && in[base] != nil {
			return true
		}
	}
	return false
}

func entryType(e fs.DirEntry) string {
	switch {
	case e.IsDir():
		return catalog.TypeDir
	case e.Type()&fs.ModeSymlink != 0:
		return catalog.TypeSymlink
	}
	return catalog.TypeFile
}
