package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// tool is one backup program under test.
type tool struct {
	name    string
	bin     string // absolute path
	version string
	stamp   string // size and mtime of bin when the run started
}

// binStamp identifies a binary's build, to notice one rebuilt mid-run.
func binStamp(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d@%d", st.Size(), st.ModTime().UnixNano())
}

// findTools locates the tools asked for; a missing restic or borg is
// skipped with an install hint, a missing cairn is fatal.
func findTools(names []string, cairnBin string) ([]*tool, error) {
	var out []*tool
	for _, n := range names {
		switch n {
		case "cairn":
			abs, err := filepath.Abs(cairnBin)
			if err != nil {
				return nil, err
			}
			if _, err := os.Stat(abs); err != nil {
				return nil, fmt.Errorf("%s not found: build it with `go build -o bin/cairn ./cmd/cairn` (make bench does)", cairnBin)
			}
			out = append(out, &tool{name: n, bin: abs, version: output(abs, "version"), stamp: binStamp(abs)})
		case "restic", "borg":
			bin, err := exec.LookPath(n)
			if err != nil {
				pkg := map[string]string{"restic": "restic", "borg": "borgbackup"}[n]
				fmt.Fprintf(os.Stderr, "%s not found: apt-get install %s (skipping it)\n", n, pkg)
				continue
			}
			v := output(bin, "version")
			if n == "borg" {
				v = output(bin, "--version")
			}
			out = append(out, &tool{name: n, bin: bin, version: v, stamp: binStamp(bin)})
		default:
			return nil, fmt.Errorf("unknown tool %q (want cairn, restic, borg)", n)
		}
	}
	return out, nil
}

// repoState is one tool's repository for one repetition on one corpus.
type repoState struct {
	t        *tool
	repo     string
	cacheDir string
	archives []string // borg archive names, oldest first
}

const resticPassword = "cairn-bench"

func (s *repoState) env() []string {
	switch s.t.name {
	case "restic":
		return []string{"RESTIC_PASSWORD=" + resticPassword, "RESTIC_CACHE_DIR=" + s.cacheDir}
	case "borg":
		return []string{"BORG_REPO=" + s.repo, "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes",
			"BORG_RELOCATED_REPO_ACCESS_IS_OK=yes", "BORG_BASE_DIR=" + s.cacheDir}
	}
	return nil
}

func (s *repoState) cmd(dir string, args ...string) cmdSpec {
	c := cmdSpec{argv: append([]string{s.t.bin}, args...), dir: dir, env: s.env()}
	switch s.t.name {
	case "cairn":
		c.argv = append([]string{s.t.bin, "--repo", s.repo}, args...)
	case "restic":
		c.argv = append([]string{s.t.bin, "-r", s.repo}, args...)
	case "borg":
		c.okCodes = []int{1} // warnings, e.g. "include pattern never matched"
	}
	return c
}

// initRepo creates the repository (not measured).
func (s *repoState) initRepo() cmdSpec {
	switch s.t.name {
	case "cairn":
		return s.cmd("", "init")
	case "restic":
		return s.cmd("", "init")
	}
	c := s.cmd("", "init", "--encryption", "none")
	c.okCodes = nil
	return c
}

// keepAll makes cairn's retention keep every snapshot (its default policy
// would thin 200 quick snapshots), so the history step sees them all.
func (s *repoState) keepAll(src string) []cmdSpec {
	if s.t.name != "cairn" {
		return nil
	}
	return []cmdSpec{s.cmd("", "policy", "set", src, "--keep-last", "100000")}
}

func (s *repoState) snapshot(src string) cmdSpec {
	switch s.t.name {
	case "cairn":
		return s.cmd("", "snap", src)
	case "restic":
		return s.cmd("", "--compression", "auto", "backup", "-q", src)
	}
	name := fmt.Sprintf("s%04d", len(s.archives)+1)
	s.archives = append(s.archives, name)
	c := s.cmd("", "create", "--compression", "zstd,3", "::"+name, src)
	c.okCodes = []int{1} // a file changed while read is a warning
	return c
}

func (s *repoState) last() string {
	if len(s.archives) == 0 {
		return "none"
	}
	return s.archives[len(s.archives)-1]
}

// restoreAll restores the newest snapshot into the empty directory dst.
func (s *repoState) restoreAll(src, dst string) []cmdSpec {
	switch s.t.name {
	case "cairn":
		return []cmdSpec{s.cmd("", "restore", "--to", dst, src)}
	case "restic":
		return []cmdSpec{s.cmd("", "restore", "latest", "--target", dst)}
	}
	return []cmdSpec{s.cmd(dst, "extract", "::"+s.last())}
}

// restorePaths restores paths (relative to src) of the newest snapshot
// under dst. cairnRels is what cairn is asked for (it never stores a
// database's -wal, restic and borg need it).
func (s *repoState) restorePaths(src, dst string, rels, cairnRels []string) []cmdSpec {
	switch s.t.name {
	case "cairn":
		args := []string{"restore", "--to", dst}
		for _, r := range cairnRels {
			args = append(args, filepath.Join(src, r))
		}
		return []cmdSpec{s.cmd("", args...)}
	case "restic":
		args := []string{"restore", "latest", "--target", dst}
		for _, r := range rels {
			args = append(args, "--include", filepath.Join(src, r))
		}
		return []cmdSpec{s.cmd("", args...)}
	}
	args := []string{"extract", "::" + s.last()}
	for _, r := range rels {
		args = append(args, strings.TrimPrefix(filepath.Join(src, r), "/"))
	}
	return []cmdSpec{s.cmd(dst, args...)}
}

// history lists every version of one file: cairn log, restic find, and
// for borg one listing of the archives plus one `borg list` per archive.
func (s *repoState) history(src, rel string) []cmdSpec {
	path := filepath.Join(src, rel)
	switch s.t.name {
	case "cairn":
		return []cmdSpec{s.cmd("", "log", path)}
	case "restic":
		return []cmdSpec{s.cmd("", "find", path)}
	}
	specs := []cmdSpec{s.cmd("", "list", "--short")}
	for _, a := range s.archives {
		specs = append(specs, s.cmd("", "list", "::"+a, strings.TrimPrefix(path, "/")))
	}
	return specs
}
