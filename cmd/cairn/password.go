package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/cairn-dev/cairn"
)

// Where a password comes from, first found first: --key-file (or
// CAIRN_KEY_FILE) for a raw key file, CAIRN_PASSWORD, --password-file (or
// CAIRN_PASSWORD_FILE), else a prompt when stdin is a terminal. Only a
// repository that has key files and no REPO/local/key asks for one.

// waysToGivePassword names the three ways, for errors.
const waysToGivePassword = "CAIRN_PASSWORD, --password-file (CAIRN_PASSWORD_FILE), or the prompt on a terminal; --key-file for a raw key file"

// credentials fills what opens (or, at create, protects) a repository.
func (a *app) credentials(opts *cairn.Options) {
	opts.KeyFile = a.keyFile
	if opts.KeyFile == "" {
		opts.KeyFile = os.Getenv("CAIRN_KEY_FILE")
	}
	if pw, ok := os.LookupEnv("CAIRN_PASSWORD"); ok && pw != "" {
		opts.Password = []byte(pw)
	}
	opts.PasswordFile = a.passwordFile
	if opts.PasswordFile == "" {
		opts.PasswordFile = os.Getenv("CAIRN_PASSWORD_FILE")
	}
	if a.stdinTerminal() && !a.noPrompt {
		opts.AskPassword = a.askPassword
	}
}

// hasCredentials says whether a password or key file was given without a
// prompt.
func (a *app) hasCredentials() bool {
	var o cairn.Options
	a.credentials(&o)
	return o.KeyFile != "" || o.Password != nil || o.PasswordFile != ""
}

// stdinTerminal reports whether a password can be asked for.
func (a *app) stdinTerminal() bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readPassword asks on stderr and reads a line from the terminal without
// echoing it.
func (a *app) readPassword(prompt string) ([]byte, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("stdin is not a terminal")
	}
	fmt.Fprint(a.stderr, prompt)
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	return pw, nil
}

func (a *app) askPassword(repo string) ([]byte, error) {
	return typedOnce(repo, func() ([]byte, error) {
		return a.readPassword(fmt.Sprintf("password for repository %s: ", displayPath(repo)))
	})
}

// newPassword is a password to protect a repository with: the contents of
// file, else typed twice at the prompt.
func (a *app) newPassword(file, flag string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", flag, err)
		}
		b = []byte(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
		if len(b) == 0 {
			return nil, fmt.Errorf("%s %s is empty", flag, file)
		}
		return b, nil
	}
	if !a.stdinTerminal() {
		return nil, usageError{fmt.Errorf("a new password comes from %s or the prompt, and stdin is not a terminal", flag)}
	}
	pw, err := a.readPassword("new password: ")
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, errors.New("the new password is empty")
	}
	again, err := a.readPassword("new password again: ")
	if err != nil {
		return nil, err
	}
	if string(again) != string(pw) {
		return nil, errors.New("the two passwords differ")
	}
	return pw, nil
}
