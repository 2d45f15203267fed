package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) watchCommand() *cobra.Command {
	var opts cairn.WatchOptions
	c := &cobra.Command{
		Use:   "watch DIR...",
		Short: "Snapshot directories shortly after their files change",
		Long: `Watch each DIR (with inotify, one watch per directory) and take a snapshot
once changes settle: --debounce after the last change, but at most
--max-interval after the first one however busy the directory is. Each of
these snapshots looks only at the paths that changed (and their
directories), so it costs what changed, not the size of the tree.

Events are hints; a snapshot still compares what it looks at. A full
rescan runs at the start, after lost events (an inotify queue overflow or a
watcher error), and every --max-interval regardless. When inotify runs out
of watches (fs.inotify.max_user_watches) watch says so and takes a full
snapshot every 10 minutes (or --max-interval, if shorter) instead. A DIR
that vanishes is waited for and rescanned when it is back. The repository,
when it lies inside a DIR, is never watched.

One line is printed per snapshot, as cairn snap prints it. SIGINT or
SIGTERM stop the watch: a snapshot in flight is either committed whole or
not at all, the locks are released, and the exit code is 0. Other commands
(gc, forget, restore) run between snapshots. docs/continuous.md has a
systemd user unit.`,
		Example: `  cairn watch ~/.agent
  cairn watch ~/.agent ~/notes --debounce 5s --max-interval 30m`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, d := range args {
				if d == "" {
					return usageError{errors.New(`watch "": want a directory`)}
				}
			}
			if opts.Debounce <= 0 || opts.MaxInterval <= 0 {
				return usageError{errors.New("--debounce and --max-interval must be positive")}
			}
			a.lazyCatchUp = true
			repo, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			opts.OnSnapshot = func(res *cairn.SnapshotResult) {
				for _, w := range res.Warnings {
					fmt.Fprintf(a.stderr, "warning: %s\n", warningLine(res.Source, w))
				}
				kind := "full"
				if res.Partial {
					kind = "changes only"
				}
				a.printSnapped(res, kind)
				if len(res.Unreadable) > 0 {
					fmt.Fprintf(a.stderr, "cairn: snapshot %d is incomplete: %s could not be read\n", res.ID, plural(len(res.Unreadable), "file"))
				}
			}
			opts.Note = func(msg string) { fmt.Fprintf(a.stderr, "cairn: watch: %s\n", msg) }
			if err := repo.Watch(cmd.Context(), args, opts); err != nil {
				return err
			}
			// Stopping is how a watch ends: not an interruption.
			fmt.Fprintln(a.stderr, "cairn: watch stopped")
			return nil
		},
	}
	f := c.Flags()
	f.DurationVar(&opts.Debounce, "debounce", 2*time.Second, "quiet time after the last change before a snapshot")
	f.DurationVar(&opts.MaxInterval, "max-interval", time.Hour, "longest wait for a snapshot under constant change, and the full rescan interval")
	f.StringVar(&opts.Snapshot.Label, "label", "", "a label for every snapshot")
	f.StringArrayVar(&opts.Snapshot.Tags, "tag", nil, "a tag for every snapshot (repeatable)")
	f.StringArrayVar(&opts.Snapshot.Excludes, "exclude", nil, "exclude paths matching this gitignore-style pattern (repeatable)")
	return c
}
