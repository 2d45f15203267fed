package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) snapCommand() *cobra.Command {
	var opts cairn.SnapshotOptions
	var f snapFlags
	var catchUp bool
	c := &cobra.Command{
		Use:   "snap DIR...",
		Short: "Take a snapshot of one or more directories",
		Long: `Take a snapshot of each DIR (a source), one snapshot per directory. Files
whose size, mtime, ctime, inode and mode are unchanged are not read again.
SQLite databases are copied through SQLite's online backup API (their
-wal/-shm are never stored); JSON files are validated. An empty or missing
DIR is refused, and so is the repository or a directory inside it.

Excludes come from DIR/.cairnignore (gitignore syntax), --exclude,
--exclude-file, --exclude-caches, --exclude-larger-than and
--one-file-system. A source remembers the excludes it was given: later
snapshots apply them without the flags (--reset-excludes replaces them
with those of this run), and a file an exclude leaves out does not count
as deleted for the mass-deletion warning.

Nothing is read through a symlink: files and directories are opened beneath
DIR only. A file that cannot be read does not stop the snapshot: it is
committed, marked incomplete, the unreadable files are listed on stderr,
and the exit code is 3 (their previous versions continue in it). A database
whose writer crashed mid-transaction is captured in its committed state.

The summary names the regular files the snapshot holds (FILES in cairn
snapshots) and counts paths (files, directories, the source's root and
symlinks) as new, changed, unchanged and removed. --json prints JSON lines:
status lines while files are read, then a summary, for each directory; with
--dry-run, one plan line for each (docs/json.md).`,
		Example: `  cairn snap ~/.agent
  cairn snap ~/.agent ~/.config/tool --exclude-caches
  cairn snap ~/.agent --label before-upgrade --exclude 'cache/' --exclude '*.tmp'
  cairn snap ~/.agent --dry-run -v`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, d := range args {
				if d == "" {
					// "" would resolve to the current directory.
					return usageError{errors.New(`snap "": want a directory`)}
				}
			}
			if err := f.apply(&opts); err != nil {
				return err
			}
			// Other writers' records: every CatchUpInterval, or now with
			// --catch-up (docs/design.md, "Several writers").
			a.lazyCatchUp = !catchUp
			repo, err := a.open(cmd.Context(), !opts.DryRun)
			if err != nil {
				return err
			}
			var failed []error
			var snapped []string
			incomplete := false
			for _, dir := range args {
				source, err := a.snapOne(cmd, repo, dir, opts, f)
				if source != "" {
					snapped = append(snapped, source)
				}
				switch {
				case errors.Is(err, errIncomplete):
					incomplete = true
				case err != nil && len(args) == 1:
					return a.replicateAfter(cmd, repo, snapped, f.quiet || f.asJSON, err)
				case err != nil:
					fmt.Fprintf(a.stderr, "cairn: %s\n", oneLine(err))
					failed = append(failed, err)
				}
			}
			var result error
			switch {
			case len(failed) > 0:
				result = keepDamage(fmt.Errorf("%d of %d snapshots failed", len(failed), len(args)), errors.Join(failed...))
			case incomplete:
				result = errIncomplete
			}
			return a.replicateAfter(cmd, repo, snapped, f.quiet || f.asJSON, result)
		},
	}
	fl := c.Flags()
	fl.BoolVar(&catchUp, "catch-up", false, "read the other hosts' records first (dedup against what they stored since the last time)")
	fl.StringVar(&opts.Label, "label", "", "a label for the snapshot")
	fl.StringArrayVar(&opts.Tags, "tag", nil, "a tag for the snapshot (repeatable)")
	fl.StringArrayVar(&opts.Filter.Patterns, "exclude", nil, "exclude paths matching this gitignore-style pattern (repeatable; remembered by the source)")
	fl.StringArrayVar(&f.excludeFiles, "exclude-file", nil, "exclude the patterns in this file, one a line, gitignore syntax (repeatable; remembered)")
	fl.BoolVar(&opts.Filter.Caches, "exclude-caches", false, "exclude the contents of directories holding a CACHEDIR.TAG, except the tag (remembered)")
	fl.StringVar(&f.largerThan, "exclude-larger-than", "", "exclude files larger than this size: 500K, 20M, 1G (remembered)")
	fl.BoolVarP(&opts.Filter.OneFileSystem, "one-file-system", "x", false, "do not enter directories on other file systems (remembered)")
	fl.BoolVar(&opts.ResetExcludes, "reset-excludes", false, "forget the excludes the source remembers; keep only those given now")
	fl.BoolVarP(&opts.DryRun, "dry-run", "n", false, "show what would be read and stored; write nothing")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing but warnings and errors")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "also list the paths added (+), removed (-) and changed (M) since the source's previous snapshot")
	fl.StringVar(&f.time, "time", "", `record this time as the snapshot's ("2006-01-02 15:04:05" local, or RFC 3339); it must be after the source's newest snapshot`)
	fl.BoolVar(&f.asJSON, "json", false, "print progress and the summary as JSON lines (docs/json.md)")
	return c
}

// snapFlags are snap's flags that need parsing or only change output.
type snapFlags struct {
	excludeFiles           []string
	largerThan, time       string
	quiet, verbose, asJSON bool
}

func (f snapFlags) apply(opts *cairn.SnapshotOptions) error {
	for _, name := range f.excludeFiles {
		pats, err := readPatterns(name)
		if err != nil {
			return err
		}
		opts.Filter.Patterns = append(opts.Filter.Patterns, pats...)
	}
	if f.largerThan != "" {
		n, err := parseSize(f.largerThan)
		if err != nil {
			return usageError{fmt.Errorf("--exclude-larger-than %q: %w", f.largerThan, err)}
		}
		opts.Filter.LargerThan = n
	}
	if f.time != "" {
		t, err := parseTime(f.time)
		if err != nil {
			return usageError{fmt.Errorf("--time %q: %w", f.time, err)}
		}
		opts.Time = t
	}
	if f.quiet && f.verbose {
		return usageError{errors.New("--quiet and --verbose: choose one")}
	}
	return nil
}

// snapOne takes one snapshot and prints what it did; source is the
// snapshot's source when one was committed (even with an error: an
// incomplete one).
func (a *app) snapOne(cmd *cobra.Command, repo *cairn.Repo, dir string, opts cairn.SnapshotOptions, f snapFlags) (source string, err error) {
	var p *progress
	switch {
	case f.asJSON:
		opts.Progress = snapJSONStatus(a.stdout)
	case !f.quiet:
		if p = newProgress(a.stderr); p != nil {
			opts.Progress = p.snapshot
		}
	}
	res, err := repo.Snapshot(cmd.Context(), dir, opts)
	p.clear()
	if err != nil {
		if res != nil && res.ID != 0 {
			source = res.Source // committed; what failed came after
		}
		return source, err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", warningLine(res.Source, w))
	}
	if opts.DryRun {
		return "", a.printDryRun(res, f)
	}
	if f.asJSON {
		if err := writeSnapSummary(a.stdout, res); err != nil {
			return res.Source, err
		}
		return res.Source, a.incomplete(res)
	}
	if f.verbose {
		if prev, err := repo.Previous(cmd.Context(), res.ID); err == nil {
			if d, err := repo.Diff(cmd.Context(), prev.ID, res.ID); err == nil {
				printPaths(a.stdout, d.Added, d.Removed, d.Changed)
			}
		}
	}
	if !f.quiet {
		a.printSnapped(res, "")
	}
	return res.Source, a.incomplete(res)
}

// printSnapped prints the line that says what a snapshot committed (note,
// when set, ends it in parentheses), and what retention forgot after it.
// snap and watch share it.
func (a *app) printSnapped(res *cairn.SnapshotResult, note string) {
	if note != "" {
		note = " (" + note + ")"
	}
	fmt.Fprintf(a.stdout, "snapshot %s of %s: %s; %s new, %d changed, %d unchanged, %d removed; read %s, added %s in %s%s\n",
		a.repo.SnapshotName(context.Background(), res.ID), displayPath(res.Source), plural(int(res.Files), "file"), plural(res.New, "path"), res.Changed, res.Unchanged, res.Removed,
		size(res.BytesRead), size(res.BytesAdded), seconds(res.Duration), note)
	if res.ResumedPacks > 0 {
		fmt.Fprintf(a.stdout, "resumed: took chunks from %s (%s) an interrupted snapshot had stored\n",
			plural(res.ResumedPacks, "pack"), size(res.ResumedBytes))
	}
	if len(res.Forgotten) > 0 {
		fmt.Fprintf(a.stdout, "retention policy forgot %s (cairn gc reclaims the space)\n", snapshotList(res.Forgotten))
	}
}

// printDryRun says what a snapshot would do. What it would store is at
// most what it would read: deduplication and compression only shrink it.
func (a *app) printDryRun(res *cairn.SnapshotResult, f snapFlags) error {
	pv := res.Preview
	if f.asJSON {
		return writeJSONLine(a.stdout, snapPlanJSON{"plan", res.Source, true, nonNil(pv.Added), nonNil(pv.Removed), nonNil(pv.Changed),
			res.New, res.Changed, res.Removed, pv.FilesToRead, pv.BytesToRead, pv.Files, pv.TotalBytes})
	}
	if f.verbose {
		printPaths(a.stdout, pv.Added, pv.Removed, pv.Changed)
	}
	if f.quiet {
		return nil
	}
	fmt.Fprintf(a.stdout, "dry run of %s: %s new, %d changed, %d removed; would read %s (%s), store at most that; the snapshot would hold %s (%s); nothing written\n",
		displayPath(res.Source), plural(res.New, "path"), res.Changed, res.Removed, plural(pv.FilesToRead, "file"), size(pv.BytesToRead),
		plural(int(pv.Files), "file"), size(pv.TotalBytes))
	return nil
}

// printPaths lists paths as diff does.
func printPaths(w io.Writer, added, removed, changed []string) {
	for _, p := range added {
		fmt.Fprintf(w, "+ %s\n", displayPath(p))
	}
	for _, p := range removed {
		fmt.Fprintf(w, "- %s\n", displayPath(p))
	}
	for _, p := range changed {
		fmt.Fprintf(w, "M %s\n", displayPath(p))
	}
}

// incomplete lists the files a committed snapshot could not read, and
// makes the exit code say so (3), so that a cron job can tell.
func (a *app) incomplete(res *cairn.SnapshotResult) error {
	if len(res.Unreadable) == 0 {
		return nil
	}
	fmt.Fprintf(a.stderr, "cairn: snapshot %d is incomplete: %s could not be read:\n", res.ID, plural(len(res.Unreadable), "file"))
	for _, p := range res.Unreadable {
		fmt.Fprintf(a.stderr, "  %s\n", p)
	}
	return errIncomplete
}
