// Command cairn takes cheap, deduplicated snapshots of a directory, keeps
// their history in a SQLite catalog you can query, and restores any file.
//
// This package only parses flags, prints, and maps errors to exit codes;
// the work is done by package cairn and the packages under it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, following restic where it has one (docs/exit-codes.md).
const (
	exitOK         = 0
	exitError      = 1
	exitUsage      = 2
	exitIncomplete = 3 // a snapshot was committed, but some files could not be read (restic's 3), or its replica is behind
	exitDamaged    = 4 // cairn check found damage
)

// errDamaged marks a finished command whose result is "the repository is
// damaged"; its report has already been printed.
var errDamaged = errors.New("damage found")

// errIncomplete marks a snapshot that was committed without some files it
// could not read; they have already been listed.
var errIncomplete = errors.New("snapshot incomplete")

// exitInterrupted is the exit code after SIGINT or SIGTERM (128 + SIGINT,
// as shells report it; restic does the same).
const exitInterrupted = 130

// usageError marks a mistake in how the command was called.
type usageError struct{ error }

func main() {
	limitMemory()
	os.Exit(profiled(func() int { return run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr) }))
}

// profiled writes a CPU profile to $CAIRN_CPUPROFILE and a heap profile
// to $CAIRN_CPUPROFILE.heap, for `make bench` investigations
// (go tool pprof bin/cairn FILE).
func profiled(fn func() int) int {
	path := os.Getenv("CAIRN_CPUPROFILE")
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cairn: CAIRN_CPUPROFILE: %v\n", err)
		return fn()
	}
	defer f.Close()
	pprof.StartCPUProfile(f)
	defer pprof.StopCPUProfile()
	code := fn()
	if hp, err := os.Create(path + ".heap"); err == nil {
		pprof.Lookup("heap").WriteTo(hp, 0)
		hp.Close()
	}
	return code
}

// run executes one command line with injected streams and returns the
// exit code; tests call it in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal the command winds down (every wait and
		// read honours ctx, and locks are released on the way out); a
		// second one gets the default action and ends the process at once.
		<-ctx.Done()
		stop()
	}()
	err := execute(ctx, args, stdin, stdout, stderr) // corrupt.go: once more after a rebuild of a damaged catalog
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errDamaged):
		return exitDamaged
	case errors.Is(err, errIncomplete), errors.Is(err, errReplicaBehind):
		return exitIncomplete
	case ctx.Err() != nil:
		// Whatever the command was doing when the signal came, it stopped
		// because of it: nothing was committed that is not complete.
		fmt.Fprintf(stderr, "cairn: interrupted\n")
		return exitInterrupted
	}
	fmt.Fprintf(stderr, "cairn: %s\n", oneLine(err))
	var ue usageError
	if errors.As(err, &ue) || isFlagError(err) {
		return exitUsage
	}
	return exitError
}

func oneLine(err error) string {
	return userMessage(err) // one line, in the user's words, no terminal escapes
}

func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "flag needs an argument", "invalid argument", "unknown command", "accepts ", "requires at least", "requires exactly"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// app carries what every subcommand shares.
type app struct {
	stdin          io.Reader
	changedOutside bool // the command began changing files outside the repository (corrupt.go)
	stdout, stderr io.Writer
	repoFlag       string
	s3Endpoint     string // --s3-endpoint, else $CAIRN_S3_ENDPOINT (read by package cairn)
	utc            bool   // --utc: times in tables in UTC, not local time
	passwordFile   string
	keyFile        string
	newRepoPass    []byte // init --password: the password the new repository gets
	noPrompt       bool   // open without asking for a password
	lazyCatchUp    bool   // snap, watch: read the other writers' logs only when due (else at every Open)
	recheck        bool   // init: a bucket's cairn.repo and key files from the bucket, never this machine's copy
	repo           *cairn.Repo
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "cairn",
		Short: "Cheap, deduplicated snapshots of a directory, with history you can query in SQL",
		Long: `cairn takes frequent, cheap, deduplicated snapshots of a directory (JSON,
config, secrets, live SQLite databases) into a local repository, keeps every
version in a SQLite catalog you can query, and restores any file in one command.

The repository is --repo, else $CAIRN_REPO, else $XDG_DATA_HOME/cairn
(~/.local/share/cairn). Commands that write create it on first use.
--repo s3://bucket/prefix keeps it in an S3 bucket (--s3-endpoint names a
server other than AWS; credentials as the AWS tools read them) with its
catalog in $XDG_CACHE_HOME/cairn/; it needs a password or key file.
A password's unwrapped master key is kept in the kernel keyring for 10
minutes, so that the next command skips argon2id (CAIRN_KEY_CACHE: a
duration, 0 for never; cairn key forget-cached drops it).

Tables print times in local time with its offset (--utc: in UTC); --json
prints UTC, with one schema for every command (docs/json.md).`,
		Example: `  cairn snap ~/.agent
  cairn log ~/.agent/cron/jobs.json
  cairn restore ~/.agent/cron/jobs.json
  cairn sql "SELECT path, size FROM files WHERE snapshot_id = 3 ORDER BY size DESC LIMIT 5"`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.SetVersionTemplate("cairn {{.Version}}\n")
	root.PersistentFlags().StringVar(&a.repoFlag, "repo", "", "repository directory or s3://bucket/prefix (default $CAIRN_REPO, else ~/.local/share/cairn)")
	root.PersistentFlags().StringVar(&a.s3Endpoint, "s3-endpoint", "", "S3 server of an s3:// repository, http://host:port or https://host (default $CAIRN_S3_ENDPOINT, else AWS)")
	root.PersistentFlags().BoolVar(&a.utc, "utc", false, "print times in tables in UTC (JSON is always UTC)")
	root.PersistentFlags().StringVar(&a.passwordFile, "password-file", "", "read the repository's password from this file (default $CAIRN_PASSWORD_FILE; or $CAIRN_PASSWORD, or the prompt)")
	root.PersistentFlags().StringVar(&a.keyFile, "key-file", "", "open (or protect) the repository with this raw key file of 32+ random bytes (default $CAIRN_KEY_FILE)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		// An explicitly empty --repo (an unset variable in a script) must
		// not quietly mean the default repository.
		if f := c.Flags().Lookup("repo"); f != nil && f.Changed && f.Value.String() == "" {
			return usageError{errors.New(`--repo "": want a repository directory`)}
		}
		return nil
	}
	root.AddCommand(a.initCommand(), a.snapCommand(), a.snapshotsCommand(), a.lsCommand(), a.logCommand(),
		a.diffCommand(), a.restoreCommand(), a.catCommand(), a.sqlCommand(), a.checkCommand(), a.forgetCommand(),
		a.gcCommand(), a.policyCommand(), a.dumpCommand(), a.importCommand(), a.mountCommand(), a.watchCommand(), a.versionCommand())
	root.AddCommand(a.repairCommand())
	root.AddCommand(a.findCommand(), a.statsCommand(), a.tagCommand(), a.keyCommand(), a.upgradeCommand())
	root.AddCommand(a.recoverCommand(), a.replicateCommand())
	root.AddCommand(a.hostsCommand(), a.adoptCommand())
	a.registerCompletions(root)
	return root
}

// repoDir is the repository's directory: --repo, else the default.
func (a *app) repoDir() (string, error) {
	if a.repoFlag != "" {
		return a.repoFlag, nil
	}
	dir, err := cairn.DefaultDir()
	if err != nil {
		return "", fmt.Errorf("%w (set CAIRN_REPO or use --repo)", err)
	}
	return dir, nil
}

// open opens the repository; create says whether the command may make it.
func (a *app) open(ctx context.Context, create bool) (*cairn.Repo, error) {
	dir, err := a.repoDir()
	if err != nil {
		return nil, err
	}
	opts := a.options()
	opts.Create = create
	if a.newRepoPass != nil {
		opts.Password = a.newRepoPass
	}
	r, err := cairn.Open(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	a.repo = r
	return r, nil
}

// options are the Options every command opens a repository with:
// messages to stderr, the password or key file, the S3 endpoint.
func (a *app) options() cairn.Options {
	opts := cairn.Options{
		S3Endpoint: a.s3Endpoint,
		Waiting:    func(msg string) { fmt.Fprintf(a.stderr, "cairn: %s\n", msg) },
		Notify:     func(msg string) { fmt.Fprintf(a.stderr, "cairn: %s\n", displayText(msg)) },
		CatchUp:    cairn.CatchUpAlways,
		Recheck:    a.recheck,
	}
	if a.lazyCatchUp {
		opts.CatchUp = cairn.CatchUpDue
	}
	a.credentials(&opts)
	return opts
}

// isTerminal reports whether w is a terminal (progress lines only then).
func isTerminal(w io.Writer) bool {
	if u, ok := w.(interface{ Underlying() io.Writer }); ok {
		w = u.Underlying() // stdout as corrupt.go watches it
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
