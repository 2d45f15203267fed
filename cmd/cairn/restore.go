package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) restoreCommand() *cobra.Command {
	var snap string
	var asJSON bool
	var keep []string
	var opts cairn.RestoreOptions
	c := &cobra.Command{
		Use:   "restore PATH...",
		Short: "Put files back from a snapshot, atomically and verified",
		Long: `Restore files or directories from a snapshot. PATH is a path inside a
snapshotted source, as you would type it (it need not exist now).

Which snapshot: without --snapshot, each PATH comes from the newest snapshot
that has it; for a JSON file, the newest whose copy is valid JSON. A
directory whose newest snapshot recorded a mass deletion comes from the
snapshot before it (name the newer one with --snapshot to get the emptied
state). In a directory, a file whose copy is torn (invalid JSON) is
replaced by its newest valid copy from an older snapshot, and listed as
substituted.

Where: without --to, files go back in place; --to DIR writes them under DIR
at their path relative to the source (--to the source itself is in place).

Undo: before an in-place restore replaces, changes or deletes anything, it
takes a "pre-restore" snapshot of each source holding exactly what it
replaces (even files .cairnignore now excludes), and prints the command
that undoes it, one per source. A file the undo snapshot could not record
is not replaced.

Refused without --force: writing invalid JSON over a file (a torn copy with
no valid older one), replacing a database another process has open, and
restoring a database that was already damaged when captured (--force
writes it as recorded). Always refused: a path that would land outside
the target, and a file where a directory is (or the reverse). A refused
path changes nothing; the rest is restored and the command exits 1.
--dry-run prints the same plan, refusals included, and changes nothing.

Modes: the recorded mode exactly; only a file whose mode is unknown gets
0644 (0600 for secrets: .env, *.key, *.pem, auth.json). Owners: restored
when running as root; otherwise setuid/setgid bits are dropped (and said
so) unless the file is recorded as yours. Runtime files (*.pid, *.lock,
*.sock, plus the source's own patterns, see cairn policy) are never
written or deleted.

--delete: also remove what is in the restored directory but not in the
snapshot (never runtime files, files .cairnignore excludes, a database's
-wal/-shm, or the repository), covered by the undo snapshot in place.

Every file is written to a temp file beside its target, verified by BLAKE3,
fsynced and renamed into place; all-zero runs become holes. Databases are
checked with integrity_check and their stale -wal/-shm removed.`,
		Example: `  cairn restore ~/.agent/cron/jobs.json
  cairn restore --snapshot 41 ~/.agent --to /tmp/agent-41
  cairn restore --dry-run --delete ~/.agent`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(keep) > 0 {
				fmt.Fprintf(a.stderr, "cairn: restore --keep is now --runtime (the runtime files restore never writes, as policy set --runtime); --keep will go\n")
				opts.Runtime = append(opts.Runtime, keep...)
			}
			ref, err := parseSnapshot(snap)
			if err != nil {
				return err
			}
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			var reqs []cairn.Request
			for _, p := range args {
				id, err := ref.forPath(ctx, repo, p)
				if err != nil {
					return err
				}
				req, note, err := repo.Resolve(ctx, p, id, true)
				if errors.Is(err, cairn.ErrTornJSON) {
					return fmt.Errorf("%w (pick one with --snapshot and --force)", err)
				}
				if err != nil {
					return err
				}
				if note != "" {
					fmt.Fprintf(a.stderr, "cairn: %s\n", displayText(note))
				}
				reqs = append(reqs, req)
			}
			p := newProgress(a.stderr)
			if !opts.DryRun {
				opts.Progress = p.bytes("restore")
			}
			res, err := repo.Restore(ctx, reqs, opts)
			p.clear()
			if res == nil {
				return err // nothing written (an undo snapshot is a log record)
			}
			a.changedOutside = !opts.DryRun // corrupt.go: files may have been written
			var failed int
			if asJSON {
				if err := writeJSON(a.stdout, toRestoreJSON(res, opts.DryRun)); err != nil {
					return err
				}
				failed = a.printFailures(res)
			} else {
				a.printRestore(res, opts)
				failed = a.printFailures(res)
				if !opts.DryRun {
					a.printUndo(res, reqs, args, opts)
				}
			}
			switch {
			case failed > 0 && opts.DryRun:
				return keepDamage(fmt.Errorf("%s would not be restored", plural(failed, "path")), err)
			case failed == 1:
				return keepDamage(fmt.Errorf("1 path not restored (%s)%s", displayPath(res.Failed()[0].Path), damagedPacks(res)), err)
			case failed > 0:
				return keepDamage(fmt.Errorf("%s not restored%s", plural(failed, "path"), damagedPacks(res)), err)
			case err != nil:
				return err
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&snap, "snapshot", "", snapshotUsage+" (default: the newest that has the path)")
	f.StringVar(&opts.To, "to", "", "restore under this directory instead of in place")
	f.BoolVar(&opts.DryRun, "dry-run", false, "show what would be restored, change nothing")
	f.BoolVar(&opts.Force, "force", false, "write invalid JSON over a file; replace a database that is in use; write a database damaged at capture")
	f.BoolVar(&opts.Delete, "delete", false, "also delete what the restored directory holds but the snapshot does not (never what the excludes or .cairnignore leave out, runtime files, sockets or FIFOs)")
	f.BoolVar(&asJSON, "json", false, "print the plan and what became of it as JSON (docs/json.md)")
	f.StringArrayVar(&opts.Runtime, "runtime", nil, "a runtime file pattern (as policy set --runtime): never restore files matching it, besides *.pid, *.lock, *.sock (repeatable)")
	// --keep was restore's first name for --runtime; it reads like forget's
	// --keep-* rules, which mean the opposite, so it is hidden and warns.
	f.StringArrayVar(&keep, "keep", nil, "")
	_ = f.MarkHidden("keep")
	return c
}

// printRestore lists what the plan did (or, in a dry run, would do) that
// a person should see, then the totals.
func (a *app) printRestore(res *cairn.RestoreResult, opts cairn.RestoreOptions) {
	for _, it := range res.Items {
		if it.Err != nil {
			continue
		}
		switch {
		case it.Kind == cairn.KindKeepRuntime:
			reason := "runtime file, never restored"
			if len(it.Notes) > 0 {
				reason = it.Notes[0]
			}
			fmt.Fprintf(a.stdout, "kept %s (%s)\n", displayPath(it.Path), displayText(reason))
			continue
		case opts.DryRun && (it.Kind == cairn.KindWrite || it.Kind == cairn.KindSymlink):
			fmt.Fprintf(a.stdout, "would restore %s\n", displayPath(it.Path))
		case it.Kind == cairn.KindDelete:
			fmt.Fprintf(a.stdout, "%s %s\n", map[bool]string{true: "would delete", false: "deleted"}[opts.DryRun], displayPath(it.Path))
		}
		if it.Substituted {
			fmt.Fprintf(a.stdout, "substituted %s: the requested snapshot holds a torn (invalid JSON) copy; %s the newest valid one, from snapshot %d\n",
				displayPath(it.Path), map[bool]string{true: "would restore", false: "restored"}[opts.DryRun], it.Snapshot)
		}
		for _, n := range it.Notes {
			fmt.Fprintf(a.stdout, "note: %s: %s\n", displayPath(it.Path), displayText(n))
		}
	}
	if opts.DryRun {
		for _, n := range res.UndoNeeds {
			fmt.Fprintf(a.stdout, "would first snapshot %s (the undo point)\n", displayPath(n.Source))
		}
		return
	}
	line := fmt.Sprintf("restored %s (%s), %d already up to date", plural(res.Written, "file"), size(res.Bytes), res.Unchanged)
	if opts.Delete {
		line += fmt.Sprintf(", %d deleted", res.Deleted)
	}
	fmt.Fprintln(a.stdout, line)
}

// printFailures prints each refused or failed path on its own line, with
// what the user can do about it, and returns how many there were.
func (a *app) printFailures(res *cairn.RestoreResult) int {
	failed := res.Failed()
	for _, it := range failed {
		msg := it.Err.Error()
		if hint := restoreHint(it.Err); hint != "" {
			msg += " (" + hint + ")"
		}
		fmt.Fprintf(a.stderr, "cairn: %s\n", displayText(msg))
	}
	return len(failed)
}

// damagedPacks names, once, the packs whose chunks failed to read back, so
// that a restore of a tree that met one damaged pack says so in its last
// line rather than only on each file's.
func damagedPacks(res *cairn.RestoreResult) string {
	packs := res.DamagedPacks()
	switch len(packs) {
	case 0:
		return ""
	case 1:
		return "; pack " + packs[0] + " is missing or damaged (cairn check --read-data names everything it affects)"
	}
	return fmt.Sprintf("; %d packs are missing or damaged, e.g. %s (cairn check --read-data names everything they affect)", len(packs), packs[0])
}

// restoreHint says in the CLI's words how to get past a refusal.
func restoreHint(err error) string {
	switch {
	case errors.Is(err, cairn.ErrTornJSON):
		return "--force writes it as recorded"
	case errors.Is(err, cairn.ErrDatabaseInUse):
		return "stop the program using it, or --force replaces it anyway"
	case errors.Is(err, cairn.ErrDatabaseDamaged):
		return "--force writes it as recorded; cairn cat prints it"
	case errors.Is(err, cairn.ErrPathInTheWay):
		return "move it aside, or restore with --to DIR"
	case errors.Is(err, cairn.ErrNotCovered):
		return "left as it is"
	}
	return ""
}

// printUndo prints, for each source the restore replaced things in, the
// command that undoes it: that source's undo snapshot and its paths.
func (a *app) printUndo(res *cairn.RestoreResult, reqs []cairn.Request, args []string, opts cairn.RestoreOptions) {
	changed := map[string]bool{}
	for _, it := range res.Items {
		if it.Err == nil && it.Replaces && it.Kind != cairn.KindRefuse {
			changed[it.Source] = true
		}
	}
	for _, u := range res.Undo {
		if !changed[u.Source] {
			continue
		}
		var paths []string
		for i, req := range reqs {
			if req.Snapshot.Source == u.Source {
				paths = append(paths, args[i])
			}
		}
		flags := ""
		if opts.Delete {
			flags = " --delete"
		}
		fmt.Fprintf(a.stdout, "undo with: cairn restore --snapshot %d%s %s\n", u.Snapshot, flags, strings.Join(quoteAll(paths), " "))
	}
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
