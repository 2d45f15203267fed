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
whose writer crashed mid-transaction is captured in its committed state.`,
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
			if p != nil {
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
				if err := writeJSON(a.stdout, snapJSON(res)); err != nil {
					return err
				}
				return a.incomplete(res)
			}
			fmt.Fprintf(a.stdout, "snapshot %d of %s: %d new, %d changed, %d unchanged, %d removed; read %s, added %s in %s\n",
				res.ID, displayPath(res.Source), res.New, res.Changed, res.Unchanged, res.Removed, size(res.BytesRead), size(res.BytesAdded), seconds(res.Duration))
			if len(res.Forgotten) > 0 {
				fmt.Fprintf(a.stdout, "retention policy forgot %s (cairn gc reclaims the space)\n", snapshotList(res.Forgotten))
			}
			return a.incomplete(res)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Label, "label", "", "a label for the snapshot")
	f.StringArrayVar(&opts.Tags, "tag", nil, "a tag for the snapshot (repeatable)")
	f.StringArrayVar(&opts.Excludes, "exclude", nil, "exclude paths matching this gitignore-style pattern (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return c
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

type warningJSON struct {
	Path          string `json:"path"`
	Kind          string `json:"kind"`
	Message       string `json:"message"`
	RefSnapshotID int64  `json:"ref_snapshot_id,omitempty"` // the snapshot to restore from
}

func snapJSON(r *cairn.SnapshotResult) any {
	forgotten := r.Forgotten
	if forgotten == nil {
		forgotten = []int64{}
	}
	ws := []warningJSON{}
	for _, w := range r.Warnings {
		ws = append(ws, warningJSON{w.Path, w.Kind, w.Message, w.RefSnapshotID})
	}
	return struct {
		ID         int64         `json:"id"`
		Source     string        `json:"source"`
		New        int           `json:"new"`
		Changed    int           `json:"changed"`
		Unchanged  int           `json:"unchanged"`
		Removed    int           `json:"removed"`
		Files      int64         `json:"files"`
		TotalBytes int64         `json:"total_bytes"`
		BytesRead  int64         `json:"bytes_read"`
		BytesAdded int64         `json:"bytes_added"`
		Seconds    float64       `json:"seconds"`
		Warnings   []warningJSON `json:"warnings"`
		Forgotten  []int64       `json:"forgotten"`
		Incomplete bool          `json:"incomplete"`
	}{r.ID, r.Source, r.New, r.Changed, r.Unchanged, r.Removed, r.Files, r.TotalBytes, r.BytesRead, r.BytesAdded,
		r.Duration.Seconds(), ws, forgotten, len(r.Unreadable) > 0}
}
