package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) snapCommand() *cobra.Command {
	var opts cairn.SnapshotOptions
	var asJSON bool
	c := &cobra.Command{
		Use:   "snap DIR",
		Short: "Take a snapshot of a directory",
		Long: `Take a snapshot of DIR (a source). Files whose size, mtime, ctime, inode and
mode are unchanged are not read again. SQLite databases are copied through
SQLite's online backup API (their -wal/-shm are never stored); JSON files
are validated. Excludes come from --exclude and DIR/.cairnignore
(gitignore syntax). An empty or missing DIR is refused, and so is the
repository or a directory inside it.

Nothing is read through a symlink: files and directories are opened beneath
DIR only. A file that cannot be read does not stop the snapshot: it is
committed, marked incomplete, the unreadable files are listed on stderr,
and the exit code is 3 (their previous versions continue in it). A database
whose writer crashed mid-transaction is captured in its committed state.

The summary names the regular files the snapshot holds (FILES in cairn
snapshots) and counts paths (files, directories, the source's root and
symlinks) as new, changed, unchanged and removed. --json prints JSON lines:
status lines while files are read, then a summary (docs/json.md).`,
		Example: `  cairn snap ~/.agent
  cairn snap ~/.agent --label before-upgrade --exclude 'cache/' --exclude '*.tmp'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				// "" would resolve to the current directory.
				return usageError{errors.New(`snap "": want a directory`)}
			}
			repo, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			p := newProgress(a.stderr)
			switch {
			case asJSON:
				opts.Progress = snapJSONStatus(a.stdout)
			case p != nil:
				opts.Progress = p.snapshot
			}
			res, err := repo.Snapshot(cmd.Context(), args[0], opts)
			p.clear()
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(a.stderr, "warning: %s\n", warningLine(res.Source, w))
			}
			if asJSON {
				if err := writeSnapSummary(a.stdout, res); err != nil {
					return err
				}
				return a.incomplete(res)
			}
			a.printSnapped(res, "")
			return a.incomplete(res)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Label, "label", "", "a label for the snapshot")
	f.StringArrayVar(&opts.Tags, "tag", nil, "a tag for the snapshot (repeatable)")
	f.StringArrayVar(&opts.Excludes, "exclude", nil, "exclude paths matching this gitignore-style pattern (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print progress and the summary as JSON lines (docs/json.md)")
	return c
}

// printSnapped prints the line that says what a snapshot committed (note,
// when set, ends it in parentheses), and what retention forgot after it.
// snap and watch share it.
func (a *app) printSnapped(res *cairn.SnapshotResult, note string) {
	if note != "" {
		note = " (" + note + ")"
	}
	fmt.Fprintf(a.stdout, "snapshot %d of %s: %s; %s new, %d changed, %d unchanged, %d removed; read %s, added %s in %s%s\n",
		res.ID, displayPath(res.Source), plural(int(res.Files), "file"), plural(res.New, "path"), res.Changed, res.Unchanged, res.Removed,
		size(res.BytesRead), size(res.BytesAdded), seconds(res.Duration), note)
	if len(res.Forgotten) > 0 {
		fmt.Fprintf(a.stdout, "retention policy forgot %s (cairn gc reclaims the space)\n", snapshotList(res.Forgotten))
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
