package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

// A catalog damaged past its header and schema opens (Open runs no
// integrity_check: it would cost seconds on a big catalog) and fails only
// when a query reaches the bad page, with SQLite's "database disk image is
// malformed". execute then confirms the damage with integrity_check,
// rebuilds the catalog from the log (cairn.RebuildDamaged, which says so
// in one line) and, where that is safe, runs the command again, once.
//
// Safe means the failed run changed nothing outside the catalog that a
// second run would do again or do differently:
//
//   - commands that only read (retryRead), unless they had already
//     printed something (a second run would print it twice);
//   - snap and restore (retryWrite), unless they had also written a log
//     record (a snapshot committed before the failure, restore's undo
//     snapshot: the rebuilt catalog has it, and a second run would take
//     another) or restore had begun writing files (changedOutside) or
//     anything was printed. snap's packs are content-addressed: a second
//     run reuses the sealed ones (an interrupted snapshot resumes).
//
// Every other command (forget, tag, policy set, gc, import, replicate,
// key, watch, mount...) may have failed half-way after a change outside
// the catalog: the catalog is rebuilt and the user told to run it again.
// check, repair, recover, init and upgrade report or make catalogs
// themselves and get nothing of this.

// retryRead are the commands that only read the repository.
var retryRead = map[string]bool{
	"snapshots": true, "ls": true, "log": true, "diff": true, "cat": true, "sql": true,
	"find": true, "stats": true, "dump": true, "hosts": true, "policy show": true, "key list": true,
}

// retryWrite are the commands whose changes outside the catalog a second
// run reuses, as long as they wrote no log record.
var retryWrite = map[string]bool{"snap": true, "restore": true}

// untouched are the commands a damaged catalog is left to: they check,
// repair or make catalogs themselves.
var untouched = map[string]bool{
	"check": true, "repair catalog": true, "repair log": true, "recover": true, "init": true,
	"upgrade": true, "version": true, "help": true, "completion": true,
}

// execute runs one command line, and again once after a rebuild of a
// damaged catalog where that is safe (above).
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	typed = map[string][]byte{}
	defer func() { typed = nil }()
	out := &watchedWriter{w: stdout}
	a, cmd, records, err := executeOnce(ctx, args, stdin, out, stderr)
	if err == nil || !damagedSQLite(err) || ctx.Err() != nil || cmd == nil {
		return err
	}
	name := commandName(cmd)
	if untouched[name] {
		return err
	}
	dir, derr := a.repoDir()
	if derr != nil {
		return err
	}
	retry := !out.wrote && !a.changedOutside &&
		(retryRead[name] || retryWrite[name] && records == 0)
	opts := a.options()
	if retry {
		notify := opts.Notify
		opts.Notify = func(msg string) { notify(msg + "; running " + name + " again") }
	}
	_, rebuilt, rerr := cairn.RebuildDamaged(ctx, dir, opts)
	switch {
	case errors.Is(rerr, cairn.ErrNoLog):
		return err // format 1: the hint says what there is to do
	case rerr != nil:
		return fmt.Errorf("%w; rebuilding the catalog from the log failed: %w", err, rerr)
	case !rebuilt:
		return err // the catalog is sound: the damaged database is another one
	case retry:
		_, _, _, err = executeOnce(ctx, args, stdin, stdout, stderr)
		return err
	case records > 0:
		return rebuiltError{err, fmt.Sprintf("the catalog is rebuilt from the log, with the %s this command wrote before it failed: see what it did (cairn snapshots) before running it again", plural(int(records), "record"))}
	}
	return rebuiltError{err, "the catalog is rebuilt from the log: run the command again"}
}

// executeOnce runs the command line once with a new app, and closes the
// repository it opened. It returns the app, for what the run did, the
// command that ran and how many log records it wrote.
func executeOnce(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (*app, *cobra.Command, int64, error) {
	a := &app{stdout: stdout, stderr: stderr, stdin: stdin}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	var records int64
	if a.repo != nil {
		records = a.repo.RecordsWritten()
		if err != nil && damagedSQLite(err) {
			a.repo.CloseDamaged()
		} else {
			a.repo.Close()
		}
	}
	return a, cmd, records, err
}

// commandName is the command's path under cairn: "snap", "policy show".
func commandName(cmd *cobra.Command) string {
	name := cmd.Name()
	for p := cmd.Parent(); p != nil && p.HasParent(); p = p.Parent() {
		name = p.Name() + " " + name
	}
	return name
}

// rebuiltError is a command's failure on a damaged catalog that has
// since been rebuilt, with what to do now instead of the hint for a
// damaged one (so it does not wrap the SQLite error).
type rebuiltError struct {
	err  error
	next string
}

func (e rebuiltError) Error() string { return e.err.Error() + "; " + e.next }

// watchedWriter is stdout, remembering whether anything was written.
type watchedWriter struct {
	w     io.Writer
	wrote bool
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		w.wrote = true
	}
	return w.w.Write(p)
}

// Underlying is the writer itself, for isTerminal.
func (w *watchedWriter) Underlying() io.Writer { return w.w }

// keepDamage is shown, the error a command prints, still telling a damaged
// database among the causes it summarises (restore's per-path errors), so
// that execute rebuilds a damaged catalog.
func keepDamage(shown, cause error) error {
	if cause == nil || !damagedSQLite(cause) {
		return shown
	}
	return summary{shown, cause}
}

type summary struct{ shown, cause error }

func (e summary) Error() string { return e.shown.Error() }
func (e summary) Unwrap() error { return e.cause }

// typed are the passwords typed at the prompt during one execute, by
// repository: the rebuild and the second run open the repository again,
// and ask nobody twice.
var typed map[string][]byte

// typedOnce is the password for repo typed earlier in this execute, else
// ask's answer, remembered.
func typedOnce(repo string, ask func() ([]byte, error)) ([]byte, error) {
	if pw, ok := typed[repo]; ok {
		return pw, nil
	}
	pw, err := ask()
	if err == nil && typed != nil {
		typed[repo] = pw
	}
	return pw, err
}
