package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) keyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "key",
		Short: "List, add, remove and change the keys that open the repository",
		Long: `A repository's data is encrypted with a random master key. A repository
created without a password keeps that key in REPO/local/key (key "local"):
it opens with no prompt, and it is lost with REPO/local/. Key files in
REPO/keys/ each wrap the master key under a password (argon2id) or a raw
key file: any one of them opens the repository, on any machine.

cairn key add adds one (a repository without a password becomes
recoverable without local/); cairn key remove local then makes this
machine ask for the password too. The last key is never removed.

A password costs argon2id (0.3-1 s) to unwrap the master key, so the
master key it unwrapped is kept in your uid's kernel keyring for 10
minutes (CAIRN_KEY_CACHE: a duration, or 0 for never), never on disk, and
only for the same password: a command every few minutes pays argon2id
once every 10 minutes. cairn key forget-cached drops what is kept.`,
		Example: `  cairn key list
  cairn key add                          # asks for the new password twice
  cairn key add --new-key-file ~/repo.key
  cairn key passwd --new-password-file ~/new-pw
  cairn key remove 3f9ac2d1e0b4a7c5
  cairn key forget-cached`,
	}
	var listJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the keys: id, kind (password, key-file, local), created, host and user",
		Example: "  cairn key list\n  cairn key list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			ks, err := repo.Keys(cmd.Context())
			if err != nil {
				return err
			}
			if listJSON {
				out := make([]keyJSON, 0, len(ks))
				for _, k := range ks {
					out = append(out, toKeyJSON(k))
				}
				return writeJSON(a.stdout, out)
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "\tID\tKIND\tCREATED\tHOST\tUSER")
			for _, k := range ks {
				cur, created := "", "-"
				if k.Current {
					cur = "*"
				}
				if !k.Created.IsZero() {
					created = a.tableTime(k.Created)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cur, k.ID, k.Kind, created, orDash(displayText(k.Host)), orDash(displayText(k.User)))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print an array of key (docs/json.md)")

	var newPasswordFile, newKeyFile string
	var addJSON bool
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a key file: a new password (asked twice), or --new-key-file",
		Long: `Add a key file that opens the repository with a new password (from
--new-password-file, else asked twice at the prompt) or with a raw key file
(--new-key-file: at least 32 random bytes, e.g. head -c 32 /dev/urandom >
FILE). The repository itself is opened as any command opens it.`,
		Example: "  cairn key add\n  cairn key add --new-password-file ~/pw\n  cairn key add --new-key-file ~/repo.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if newKeyFile != "" && newPasswordFile != "" {
				return usageError{fmt.Errorf("--new-password-file or --new-key-file, not both")}
			}
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			nk := cairn.NewKey{KeyFile: newKeyFile}
			if newKeyFile == "" {
				if nk.Password, err = a.newPassword(newPasswordFile, "--new-password-file"); err != nil {
					return err
				}
			}
			k, err := repo.AddKey(cmd.Context(), nk)
			if err != nil {
				return err
			}
			if addJSON {
				return writeJSON(a.stdout, toKeyJSON(k))
			}
			fmt.Fprintf(a.stdout, "added key %s (%s)\n", k.ID, k.Kind)
			return nil
		},
	}
	add.Flags().StringVar(&newPasswordFile, "new-password-file", "", "read the new password from this file")
	add.Flags().StringVar(&newKeyFile, "new-key-file", "", "add this raw key file (32+ random bytes) instead of a password")
	add.Flags().BoolVar(&addJSON, "json", false, "print the new key (docs/json.md)")

	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a key (never the last one, nor the one that opened the repository)",
		Long: `Remove the key file ID, or "local" for REPO/local/key. cairn refuses to
remove the last key, and the key file it opened the repository with
(open it with another). Removing "local" needs the password (or key file)
of one of the key files, so that you cannot lock yourself out: from then
on this machine asks for it too.`,
		Example: "  cairn key remove 3f9ac2d1e0b4a7c5\n  CAIRN_PASSWORD_FILE=~/pw cairn key remove local",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			if err := repo.RemoveKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed key %s\n", args[0])
			return nil
		},
	}

	var passwdFile string
	var passwdJSON bool
	passwd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the password that opened the repository",
		Long: `Replace the password key file that opened the repository with one for a
new password (from --new-password-file, else asked twice). The new key
file is stored before the old one is removed: after a crash in between,
either password opens the repository. Other keys stay.`,
		Example: "  cairn key passwd\n  CAIRN_PASSWORD_FILE=~/old cairn key passwd --new-password-file ~/new",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			pw, err := a.newPassword(passwdFile, "--new-password-file")
			if err != nil {
				return err
			}
			k, err := repo.ChangePassword(cmd.Context(), pw)
			if err != nil {
				return err
			}
			if passwdJSON {
				return writeJSON(a.stdout, toKeyJSON(k))
			}
			fmt.Fprintf(a.stdout, "changed the password: key %s replaces the old one\n", k.ID)
			return nil
		},
	}
	passwd.Flags().StringVar(&passwdFile, "new-password-file", "", "read the new password from this file")
	passwd.Flags().BoolVar(&passwdJSON, "json", false, "print the new key (docs/json.md)")

	forget := &cobra.Command{
		Use:   "forget-cached",
		Short: "Drop the master keys that passwords unwrapped, kept in the kernel keyring",
		Long: `Drop every master key a password unwrapped that your uid's kernel keyring
keeps for cairn (of every repository, for 10 minutes after the argon2id
that unwrapped it; CAIRN_KEY_CACHE sets how long, 0 for never): the next
command of each such repository pays argon2id again. The repository is
not opened, and no password is needed.`,
		Example: "  cairn key forget-cached\n  CAIRN_KEY_CACHE=0 cairn snap ~/.agent   # neither use nor keep one",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := cairn.ForgetCachedKeys()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "forgot %s\n", plural(n, "cached key"))
			return nil
		},
	}

	c.AddCommand(list, add, remove, passwd, forget)
	return c
}

// keyJSON is one key of key list --json.
type keyJSON struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Created *jsonTime `json:"created,omitempty"`
	Host    string    `json:"host"`
	User    string    `json:"user"`
	Current bool      `json:"current"`
}

func toKeyJSON(k cairn.Key) keyJSON {
	j := keyJSON{ID: k.ID, Kind: string(k.Kind), Host: k.Host, User: k.User, Current: k.Current}
	if !k.Created.IsZero() {
		t := jsonTime(k.Created)
		j.Created = &t
	}
	return j
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
