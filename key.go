package cairn

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-dev/cairn/internal/repolock"
)

// ErrNoKeys: a format-1 repository has no master key and no key files
// (nothing in it is encrypted); `cairn upgrade` makes it format 2.
var ErrNoKeys = errors.New("repository has no keys (format 1: not encrypted)")

func (r *Repo) keyringOrErr() (*keyring, error) {
	if r.keyring == nil {
		return nil, fmt.Errorf("%s: %w", r.Dir, ErrNoKeys)
	}
	return r.keyring, nil
}

// Keys lists the ways into the repository: REPO/local/key if it has one,
// then its key files by id.
func (r *Repo) Keys(ctx context.Context) ([]Key, error) {
	k, err := r.keyringOrErr()
	if err != nil {
		return nil, err
	}
	return k.list(ctx)
}

// AddKey adds a key file that opens the repository with nk's password or
// raw key file. Adding a password to a repository without one makes it
// recoverable without REPO/local/ (local/key stays, so this machine still
// opens it without a prompt).
func (r *Repo) AddKey(ctx context.Context, nk NewKey) (Key, error) {
	k, err := r.keyringOrErr()
	if err != nil {
		return Key{}, err
	}
	if r.readOnly {
		return Key{}, r.errReadOnly()
	}
	defer r.forgetRemoteState()
	return k.add(ctx, nk)
}

// RemoveKey removes one key: a key file by id, or LocalKeyID for
// REPO/local/key (after which the repository asks for a password; the
// password or key file the Repo was opened with must open one of its key
// files). It refuses the last key (ErrLastKey) and the key file the Repo
// was opened with (ErrKeyInUse).
func (r *Repo) RemoveKey(ctx context.Context, id string) error {
	k, err := r.keyringOrErr()
	if err != nil {
		return err
	}
	// Two removals at once must not each leave the other's key as the
	// last one and remove it.
	l, err := r.lockRepo(ctx, repolock.Exclusive)
	if err != nil {
		return err
	}
	defer l.Release()
	defer r.forgetRemoteState()
	return k.remove(ctx, id)
}

// ChangePassword replaces the password key file the Repo was opened with
// by one for newPassword; the other keys stay. The new key file is
// durable before the old one is removed.
func (r *Repo) ChangePassword(ctx context.Context, newPassword []byte) (Key, error) {
	k, err := r.keyringOrErr()
	if err != nil {
		return Key{}, err
	}
	if r.readOnly {
		return Key{}, r.errReadOnly()
	}
	l, err := r.lockRepo(ctx, repolock.Exclusive)
	if err != nil {
		return Key{}, err
	}
	defer l.Release()
	defer r.forgetRemoteState()
	return k.changePassword(ctx, newPassword)
}
