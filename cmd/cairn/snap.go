package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn/snapshot"
)

func (a *app) snapCommand() *cobra.Command {
	var opts snapshot.Options
	var asJSON bool
	c := &cobra.Command{
		Use:   "snap DIR",
		Short: "Take a snapshot of a directory",
		Long: `Take a snapshot of DIR (a source). Files whose size, mtime, ctime, inode and
mode are unchanged are not read again. SQLite databases are copied through
SQLite's online backup API (their -wal/-shm are never stored); JSON files
are validated. Excludes come from --exclude and DIR/.cairnignore
(gitignore syntax). An empty or missing DIR is refused.`,
		Example: `  cairn snap ~/.agent
  cairn snap ~/.agent --label before-upgrade --exclude 'cache/' --exclude '*.tmp'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
				return writeJSON(a.stdout, snapJSON(res))
			}
			fmt.Fprintf(a.stdout, "snapshot %d of %s: %d new, %d changed, %d unchanged, %d removed; read %s, added %s in %s\n",
				res.ID, res.Source, res.New, res.Changed, res.Unchanged, res.Removed, size(res.BytesRead), size(res.BytesAdded), seconds(res.Duration))
			if len(res.Forgotten) > 0 {
				fmt.Fprintf(a.stdout, "retention policy forgot %s (cairn gc reclaims the space)\n", snapshotList(res.Forgotten))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Label, "label", "", "a label for the snapshot")
	f.StringArrayVar(&opts.Tags, "tag", nil, "a tag for the snapshot (repeatable)")
	f.StringArrayVar(&opts.Excludes, "exclude", nil, "exclude paths matching this gitignore-style pattern (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return c
}

type warningJSON struct {
	Path          string `json:"path"`
	Kind          string `json:"kind"`
	Message       string `json:"message"`
	RefSnapshotID int64  `json:"ref_snapshot_id,omitempty"` // the snapshot to restore from
}

func snapJSON(r *snapshot.Result) any {
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
	}{r.ID, r.Source, r.New, r.Changed, r.Unchanged, r.Removed, r.Files, r.TotalBytes, r.BytesRead, r.BytesAdded,
		r.Duration.Seconds(), ws, forgotten}
}
