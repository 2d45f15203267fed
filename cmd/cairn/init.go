package main

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) initCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a repository (cairn snap also creates one on first use)",
		Long: `Create a new, empty repository at --repo (else $CAIRN_REPO, else
~/.local/share/cairn). A repository that already exists is left as it is
and refused (exit code 1), as restic does.`,
		Example: `  cairn init --repo /backup/cairn
  CAIRN_REPO=/backup/cairn cairn init`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if repo, err := a.open(cmd.Context(), false); err == nil {
				return fmt.Errorf("repository %s already exists", displayPath(repo.Dir))
			} else if !errors.Is(err, cairn.ErrNoRepository) {
				return err
			}
			repo, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, repositoryJSON{repo.Dir, repo.Params.String()})
			}
			fmt.Fprintf(a.stdout, "created repository %s\n", displayPath(repo.Dir))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the repository as JSON (docs/json.md)")
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
