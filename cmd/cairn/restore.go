package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn/restore"
)

func (a *app) restoreCommand() *cobra.Command {
	var snap string
	var opts restore.Options
	c := &cobra.Command{
		Use:   "restore PATH...",
		Short: "Put files back from a snapshot, atomically and verified",
		Long: `Restore files or directories from a snapshot. PATH is a path inside a
snapshotted source, as you would type it (it need not exist now).

Without --snapshot, each PATH comes from the newest snapshot that has it; for
a JSON file, the newest snapshot whose copy is valid JSON. Without --to,
files go back in place; if that replaces anything with different bytes, a
"pre-restore" snapshot of the source is taken first and the command that
undoes the restore is printed. With --to DIR files are written under DIR at
their path relative to the source.

Every file is written to a temp file beside its target, verified by BLAKE3,
fsynced and renamed into place. Databases are checked with integrity_check
and their stale -wal/-shm removed. Runtime files (*.pid, *.lock, *.sock,
plus the source's own patterns, see cairn policy) are never restored;
secrets (.env, *.key, *.pem, auth.json) never get a mode wider than 0600.`,
		Example: `  cairn restore ~/.agent/cron/jobs.json
  cairn restore --snapshot 41 ~/.agent --to /tmp/agent-41
  cairn restore --dry-run ~/.agent/config`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := parseSnapshot(snap)
			if err != nil {
				return err
			}
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			var reqs []restore.Request
			for _, p := range args {
				req, note, err := repo.Resolve(ctx, p, id, true)
				if err != nil {
					return err
				}
				if note != "" {
					fmt.Fprintf(a.stderr, "cairn: %s\n", displayText(note))
				}
				reqs = append(reqs, req)
			}
			res, undo, err := repo.Restore(ctx, reqs, opts)
			if res != nil {
				a.printRestore(res, opts)
			}
			if err != nil {
				return err
			}
			if undo != 0 && written(res) > 0 {
				fmt.Fprintf(a.stdout, "undo with: cairn restore --snapshot %d %s\n", undo, strings.Join(quoteAll(args), " "))
			}
			if err := res.Err(); err != nil {
				return fmt.Errorf("%d path(s) not restored: %w", len(res.Errors), err)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&snap, "snapshot", "", "snapshot id or \"latest\" (default: the newest that has the path)")
	f.StringVar(&opts.To, "to", "", "restore under this directory instead of in place")
	f.BoolVar(&opts.DryRun, "dry-run", false, "show what would be restored, change nothing")
	f.BoolVar(&opts.Force, "force", false, "write invalid JSON over a file; replace a database that is in use")
	f.StringArrayVar(&opts.Runtime, "keep", nil, "never restore files matching this pattern, besides *.pid, *.lock, *.sock (repeatable)")
	return c
}

func (a *app) printRestore(res *restore.Result, opts restore.Options) {
	var unchanged int
	for _, act := range res.Actions {
		switch act.Verb {
		case "unchanged", "mkdir":
			if act.Verb == "unchanged" {
				unchanged++
			}
		case "kept":
			fmt.Fprintf(a.stdout, "kept %s (%s)\n", displayPath(act.Path), displayText(act.Reason))
		default:
			if opts.DryRun {
				fmt.Fprintf(a.stdout, "would restore %s\n", displayPath(act.Path))
			}
		}
	}
	if opts.DryRun {
		return
	}
	fmt.Fprintf(a.stdout, "restored %s (%s), %d already up to date\n", plural(written(res), "file"), size(res.Bytes), unchanged)
}

// written counts the paths a restore replaced or created: the files in
// res.Written and the symlinks, which it leaves out.
func written(res *restore.Result) int {
	n := res.Written
	for _, act := range res.Actions {
		if act.Verb == "link" {
			n++
		}
	}
	return n
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, s := range args {
		if needsQuoting(s) {
			s = displayPath(s) // ANSI-C quoting, as pasteable
		} else if strings.ContainsAny(s, " \t\n'\"$\\") {
			s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
		out[i] = s
	}
	return out
}
