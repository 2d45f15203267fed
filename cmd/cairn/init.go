package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) initCommand() *cobra.Command {
	var asJSON, password bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a repository (cairn snap also creates one on first use)",
		Long: `Create a new, empty repository at --repo (else $CAIRN_REPO, else
~/.local/share/cairn). A repository that already exists is left as it is
and refused (exit code 1), as restic does.

Without a password the repository's master key is REPO/local/key: it
opens with no prompt, and losing REPO/local/ loses the repository.
--password asks for a password (twice) and protects the repository with
it: the key is then only in REPO/keys/, wrapped under the password, and
every command asks for it (or reads CAIRN_PASSWORD, --password-file). A
password given by CAIRN_PASSWORD or --password-file, or a raw key file
given by --key-file, protects the new repository without --password.
cairn key add protects an existing one.`,
		Example: `  cairn init --repo /backup/cairn
  cairn init --password
  CAIRN_PASSWORD_FILE=~/.cairn-pw cairn init --repo /backup/cairn
  head -c 32 /dev/urandom > ~/repo.key && cairn init --key-file ~/repo.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a.noPrompt, a.recheck = true, true
			repo, err := a.open(cmd.Context(), false)
			a.noPrompt, a.recheck = false, false
			switch {
			case err == nil:
				return fmt.Errorf("repository %s already exists", displayPath(repo.Dir))
			case errors.Is(err, cairn.ErrPasswordRequired), errors.Is(err, cairn.ErrWrongPassword), errors.Is(err, cairn.ErrWrongKeyFile):
				return fmt.Errorf("a repository already exists there (%v)", err)
			case !errors.Is(err, cairn.ErrNoRepository):
				return err
			}
			if password && !a.hasCredentials() {
				if !a.stdinTerminal() {
					return usageError{fmt.Errorf("init --password asks at the prompt, and stdin is not a terminal; give the password with CAIRN_PASSWORD or --password-file")}
				}
				if a.newRepoPass, err = a.newPassword("", "--password-file"); err != nil {
					return err
				}
			}
			repo, err = a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			if ks, err := repo.Keys(cmd.Context()); err == nil && len(ks) == 1 && ks[0].Kind == cairn.KeyLocal {
				fmt.Fprintf(a.stderr, "cairn: no password: the key is %s, so losing that directory loses the repository (cairn key add adds a password)\n",
					displayPath(filepath.Join(repo.Dir, "local", "key")))
			}
			if asJSON {
				return writeJSON(a.stdout, repositoryJSON{repo.Dir, repo.Params.String()})
			}
			fmt.Fprintf(a.stdout, "created repository %s\n", displayPath(repo.Dir))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the repository as JSON (docs/json.md)")
	c.Flags().BoolVar(&password, "password", false, "protect the repository with a password asked at the prompt (CAIRN_PASSWORD, --password-file and --key-file protect it without asking)")
	return c
}

func (a *app) versionCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "version",
		Short:   "Print cairn's version",
		Example: "  cairn version\n  cairn --version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return writeJSON(a.stdout, versionInfoJSON{buildVersion(), runtime.Version()})
			}
			fmt.Fprintf(a.stdout, "cairn %s (%s)\n", buildVersion(), runtime.Version())
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (docs/json.md)")
	return c
}

// buildVersion is the version set by the Makefile's -ldflags, else what the
// Go toolchain recorded: the module version for `go install ...@v1.2.3`,
// the VCS revision (and whether the tree was modified) for a build from a
// checkout such as `go run ./cmd/cairn`.
func buildVersion() string {
	if version != "dev" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if rev == "" {
		return version
	}
	return "dev-" + rev[:min(12, len(rev))] + modified
}
