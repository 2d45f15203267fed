package cairn

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/keys"
)

// How a format-2 repository's master key is kept (docs/design.md, "Key
// hierarchy"):
//   - created without a password: the key is REPO/local/key (mode 0600),
//     and the repository opens with no prompt, as a format-1 one does; it
//     is lost with local/, unless a key file was added since;
//   - created with a password or a raw key file: only keys/<id>.key
//     objects, each wrapping the master key; nothing secret is local.
// Unlocking tries local/key first (no cost), then the key files, each
// with the secrets Options give.

// localKeyName is the master key of a repository without a password,
// inside its local directory.
const localKeyName = "key"

// LocalKeyID is the id `cairn key list` shows for REPO/local/key.
const LocalKeyID = "local"

// passwordKDF are the argon2id parameters of new password key files.
// Tests of this package lower them; nothing else may.
var passwordKDF = keys.DefaultArgon2()

var (
	// ErrWrongPassword: the password opens none of the repository's key
	// files.
	ErrWrongPassword = keys.ErrWrongPassword
	// ErrWrongKeyFile: the raw key file opens none of the repository's
	// key files.
	ErrWrongKeyFile = keys.ErrWrongKeyFile
	// ErrPasswordRequired: the repository has only key files, and Options
	// give neither a password nor a key file (nor a way to ask for one).
	ErrPasswordRequired = errors.New("no password given")
	// ErrLastKey refuses to remove a repository's last key.
	ErrLastKey = errors.New("last key of the repository")
	// ErrKeyInUse refuses to remove the key the repository was opened
	// with.
	ErrKeyInUse = errors.New("key in use")
	// ErrNotPassword: ChangePassword on a repository opened without a
	// password key file.
	ErrNotPassword = errors.New("no password to change")
	// ErrNoSuchKey: no key has that id.
	ErrNoSuchKey = errors.New("no such key")
)

// KeyKind says what opens a key.
type KeyKind string

const (
	// KeyPassword is a key file opened by a password (argon2id).
	KeyPassword KeyKind = "password"
	// KeyRawFile is a key file opened by a raw key file.
	KeyRawFile KeyKind = "key-file"
	// KeyLocal is REPO/local/key: the master key itself, opened by
	// nothing, kept only on this machine.
	KeyLocal KeyKind = "local"
	// KeyDamaged is a key file that cannot be read (it opens nothing, and
	// may be removed).
	KeyDamaged KeyKind = "damaged"
)

// Key is one way into a repository, as `cairn key list` shows it.
type Key struct {
	ID      string // 16 hex characters, or LocalKeyID
	Kind    KeyKind
	Created time.Time // UTC; zero for local/key and damaged files
	Host    string
	User    string
	// Current is the key this Repo was opened with.
	Current bool
}

// NewKey is the secret of a key to add: a password, or a raw key file
// (its path; the file must hold at least 32 random bytes).
type NewKey struct {
	Password []byte
	KeyFile  string
}

// keyring is what opened a repository and what it needs to manage its
// keys.
type keyring struct {
	objs     blobstore.Objects
	localDir string
	opts     Options
	master   keys.Master
	via      string // the key that opened it: a key file id, or LocalKeyID
	repoID   string // names its entries in the key cache (keycache.go)
	files    int    // key files it was unlocked from
}

// secrets are what opts give to open key files with: a raw key file
// first (no argon2id to pay), then a password.
func (o Options) secrets() ([]keys.Secret, error) {
	var out []keys.Secret
	if o.KeyFile != "" {
		b, err := readSecretFile(o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("read key file: %w", err)
		}
		out = append(out, keys.RawKey(b))
	}
	switch {
	case o.Password != nil:
		if len(o.Password) == 0 {
			return nil, errors.New("the password is empty")
		}
		out = append(out, keys.Password(o.Password))
	case o.PasswordFile != "":
		b, err := readSecretFile(o.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("read password file: %w", err)
		}
		// One trailing newline is the editor's, not the password's
		// (restic strips it too).
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(b) == 0 {
			return nil, fmt.Errorf("password file %s is empty", o.PasswordFile)
		}
		out = append(out, keys.Password(b))
	}
	return out, nil
}

func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > 64<<10 {
		return nil, fmt.Errorf("%s: more than 64 KiB, not a password or key file", path)
	}
	return b, nil
}

// repoName names the repository of localDir in messages: its parent for
// REPO/local, the s3:// address of a repository in a bucket.
func (o Options) repoName(localDir string) string {
	if o.location != "" {
		return o.location // s3://...: its local directory is a cache
	}
	if filepath.Base(localDir) == "local" {
		return filepath.Dir(localDir)
	}
	return localDir
}

// unlockMaster returns the master key of the repository whose objects are
// objs and whose local directory is localDir.
func unlockMaster(ctx context.Context, objs blobstore.Objects, localDir string, opts Options) (keys.Master, error) {
	k, err := unlock(ctx, objs, localDir, "", opts)
	if err != nil {
		return keys.Master{}, err
	}
	return k.master, nil
}

// unlock opens the repository whose id is repoID ("" uses no key cache).
func unlock(ctx context.Context, objs blobstore.Objects, localDir, repoID string, opts Options) (*keyring, error) {
	return unlockWith(ctx, objs, localDir, repoID, opts, func(ctx context.Context) ([]*keys.File, error) {
		files, _, err := listKeyFiles(ctx, objs)
		return files, err
	})
}

// unlockWith is unlock with the key files that list returns: the
// bucket's, or the copies a remote repository's state cache holds
// (remotecache.go).
func unlockWith(ctx context.Context, objs blobstore.Objects, localDir, repoID string, opts Options, list func(context.Context) ([]*keys.File, error)) (*keyring, error) {
	k := &keyring{objs: objs, localDir: localDir, opts: opts, repoID: repoID}
	m, ok, err := readLocalKey(localDir)
	given := opts.Password != nil || opts.PasswordFile != "" || opts.KeyFile != ""
	damaged := errors.Is(err, errLocalKeyDamaged) && given
	if err != nil && !damaged {
		return nil, err
	}
	if ok {
		k.master, k.via = m, LocalKeyID
		return k, nil
	}
	files, lerr := list(ctx)
	if lerr != nil {
		return nil, lerr
	}
	name := opts.repoName(localDir)
	if damaged {
		// A password or key file was given: the key files may open what
		// the damaged local/key no longer does. local/key stays as it
		// is, for the user to look at (writeLocalKey never replaces it).
		if len(files) == 0 {
			return nil, err
		}
		defer func() {
			if k.via != "" && opts.Notify != nil {
				opts.Notify(fmt.Sprintf("local/key is damaged (%s holds no master key); opened %s with key file %s instead, and left local/key as it is", filepath.Join(localDir, localKeyName), name, k.via))
			}
		}()
	}
	k.files = len(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s has no local/key and no key file in keys/ (a repository created without a password cannot be opened without its local/ directory): %w", name, ErrNoKey)
	}
	secrets, err := opts.secrets()
	if err != nil {
		return nil, err
	}
	if len(secrets) == 0 && opts.AskPassword != nil && hasKind(files, keys.KDFArgon2id) {
		pw, err := opts.AskPassword(name)
		if err != nil {
			return nil, err
		}
		if len(pw) == 0 {
			return nil, fmt.Errorf("repository %s: the password is empty", name)
		}
		secrets = append(secrets, keys.Password(pw))
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("repository %s needs its password or key file: %w", name, ErrPasswordRequired)
	}
	f, m, err := openAny(files, secrets, newKeyCache(repoID))
	if err != nil {
		return nil, fmt.Errorf("%w for repository %s", err, name)
	}
	k.master, k.via = m, f.ID
	return k, nil
}

func hasKind(files []*keys.File, kdf keys.KDF) bool {
	for _, f := range files {
		if f.KDF == kdf {
			return true
		}
	}
	return false
}

// argon2Unwraps counts the key files this process has unwrapped with
// argon2id, for tests of the key cache.
var argon2Unwraps atomic.Int64

// openAny tries every secret against every key file of its kind: a
// password first against what kc caches for each of them, which spares
// argon2id, then against the files themselves, caching what it opens.
// The error is the first secret's (a wrong password, or a wrong key file).
func openAny(files []*keys.File, secrets []keys.Secret, kc *keyCache) (*keys.File, keys.Master, error) {
	var first error
	for _, s := range secrets {
		if s.KDF == keys.KDFArgon2id {
			for _, f := range files {
				if f.KDF != s.KDF {
					continue
				}
				if m, ok := kc.get(f, s.Bytes); ok {
					return f, m, nil
				}
			}
		}
		tried := false
		for _, f := range files {
			if f.KDF != s.KDF {
				continue
			}
			tried = true
			if f.KDF == keys.KDFArgon2id {
				argon2Unwraps.Add(1)
			}
			m, err := f.Unwrap(s)
			if err == nil {
				if f.KDF == keys.KDFArgon2id {
					kc.put(f, s.Bytes, m)
				}
				return f, m, nil
			}
			if !errors.Is(err, keys.ErrWrongPassword) && !errors.Is(err, keys.ErrWrongKeyFile) {
				return nil, m, err
			}
		}
		if first == nil {
			first = keys.ErrWrongPassword
			if s.KDF == keys.KDFKeyFile {
				first = keys.ErrWrongKeyFile
			}
			if !tried {
				first = fmt.Errorf("%w (the repository has no %s key)", first, kindOf(s.KDF))
			}
		}
	}
	return nil, keys.Master{}, first
}

func kindOf(kdf keys.KDF) KeyKind {
	if kdf == keys.KDFKeyFile {
		return KeyRawFile
	}
	return KeyPassword
}

// errLocalKeyDamaged: local/key is there but holds no master key.
var errLocalKeyDamaged = errors.New("damaged")

// readLocalKey reads localDir/key (the master key in hex, one line): ok
// is false when there is none.
func readLocalKey(localDir string) (m keys.Master, ok bool, err error) {
	path := filepath.Join(localDir, localKeyName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read repository key: %w", err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	clear(b)
	if err != nil || len(raw) != keys.MasterSize {
		return m, false, fmt.Errorf("repository key %s is not a master key (%d hex digits expected): %w", path, 2*keys.MasterSize, errLocalKeyDamaged)
	}
	copy(m[:], raw)
	clear(raw)
	return m, true, nil
}

// writeLocalKey makes localDir/key durable, readable by its owner only.
// It never replaces a key: of two processes creating one repository at
// once, the first key stored is the one both use (link(2) fails if the
// name exists).
func writeLocalKey(localDir string, m keys.Master) error {
	if err := createLocalFile(localDir, localKeyName, hex.EncodeToString(m[:])+"\n"); err != nil {
		return fmt.Errorf("store master key: %w", err)
	}
	return nil
}

// listKeyFiles reads every key file; damaged ones are returned apart, by
// id, so that unlocking goes on with the others.
func listKeyFiles(ctx context.Context, objs blobstore.Objects) (files []*keys.File, damaged []string, err error) {
	return readKeyFiles(ctx, objs, nil)
}

// readKeyFiles is listKeyFiles that also puts the stored bytes of every
// sound key file into raw, by id, unless raw is nil.
func readKeyFiles(ctx context.Context, objs blobstore.Objects, raw map[string][]byte) (files []*keys.File, damaged []string, err error) {
	var ids []string
	err = objs.ListObjects(ctx, "keys/", func(key string, size int64) error {
		if id := keys.IDFromObjectKey(key); id != "" {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list key files: %w", err)
	}
	for _, id := range ids {
		b, err := objs.GetObject(ctx, keys.ObjectKey(id))
		if errors.Is(err, blobstore.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read key file %s: %w", id, err)
		}
		f, err := keys.Parse(id, b)
		if err != nil {
			damaged = append(damaged, id)
			continue
		}
		files = append(files, f)
		if raw != nil {
			raw[id] = b
		}
	}
	return files, damaged, nil
}

// storeNewMaster keeps the master key of a new repository: as a key file
// per secret in opts, else (no password) as localDir/key.
func storeNewMaster(ctx context.Context, objs blobstore.Objects, localDir string, m keys.Master, opts Options) error {
	secrets, err := opts.secrets()
	if err != nil {
		return err
	}
	if len(secrets) == 0 {
		return writeLocalKey(localDir, m)
	}
	mine := map[string]bool{}
	for _, s := range secrets {
		f, err := putKeyFile(ctx, objs, m, s, opts.Now)
		if err != nil {
			return err
		}
		mine[f.ID] = true
	}
	// Two processes creating one repository with a password would each
	// leave a key file for their own master key, and the password would
	// open both: the one that sees another's key file withdraws its own.
	// (Both may withdraw; then both fail, and the next try creates it.)
	files, damaged, err := listKeyFiles(ctx, objs)
	if err != nil {
		return err
	}
	if len(files)+len(damaged) > len(mine) {
		for id := range mine {
			objs.DeleteObject(ctx, keys.ObjectKey(id))
		}
		return errors.New("another process is creating this repository at the same time; try again")
	}
	return nil
}

func putKeyFile(ctx context.Context, objs blobstore.Objects, m keys.Master, s keys.Secret, now func() time.Time) (*keys.File, error) {
	if now == nil {
		now = time.Now
	}
	l := keys.Label{Created: now()}
	l.Host, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		l.User = u.Username
	} else {
		l.User = os.Getenv("USER")
	}
	f, err := keys.Wrap(m, s, passwordKDF, l)
	if err != nil {
		return nil, err
	}
	b, err := f.Marshal()
	if err != nil {
		return nil, err
	}
	if err := objs.PutObject(ctx, keys.ObjectKey(f.ID), b); err != nil {
		return nil, fmt.Errorf("store key file: %w", err)
	}
	return f, nil
}

// list returns every key of the repository: local/key first, then the key
// files by id.
func (k *keyring) list(ctx context.Context) ([]Key, error) {
	var out []Key
	if _, ok, err := readLocalKey(k.localDir); err != nil {
		return nil, err
	} else if ok {
		out = append(out, Key{ID: LocalKeyID, Kind: KeyLocal, Current: k.via == LocalKeyID})
	}
	files, damaged, err := listKeyFiles(ctx, k.objs)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		out = append(out, Key{ID: f.ID, Kind: kindOf(f.KDF), Created: f.Created.UTC(), Host: f.Host, User: f.User, Current: f.ID == k.via})
	}
	for _, id := range damaged {
		out = append(out, Key{ID: id, Kind: KeyDamaged})
	}
	return out, nil
}

// add makes a key file for nk.
func (k *keyring) add(ctx context.Context, nk NewKey) (Key, error) {
	f, err := k.addFile(ctx, nk)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: f.ID, Kind: kindOf(f.KDF), Created: f.Created, Host: f.Host, User: f.User}, nil
}

func (k *keyring) addFile(ctx context.Context, nk NewKey) (*keys.File, error) {
	var s keys.Secret
	switch {
	case nk.KeyFile != "" && nk.Password != nil:
		return nil, errors.New("add key: a password or a key file, not both")
	case nk.KeyFile != "":
		b, err := readSecretFile(nk.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("add key: %w", err)
		}
		s = keys.RawKey(b)
	case len(nk.Password) > 0:
		s = keys.Password(nk.Password)
	default:
		return nil, errors.New("add key: the new password is empty")
	}
	f, err := putKeyFile(ctx, k.objs, k.master, s, k.opts.Now)
	if err != nil {
		return nil, fmt.Errorf("add key: %w", err)
	}
	return f, nil
}

// remove deletes one key, never the last one, and never the one in use
// unless the secrets this repository was opened with prove another.
func (k *keyring) remove(ctx context.Context, id string) error {
	all, err := k.list(ctx)
	if err != nil {
		return err
	}
	var target *Key
	usable := 0
	for i := range all {
		if all[i].ID == id {
			target = &all[i]
		}
		if all[i].Kind != KeyDamaged {
			usable++
		}
	}
	name := k.opts.repoName(k.localDir)
	if target == nil {
		return fmt.Errorf("%s has no key %q: %w", name, id, ErrNoSuchKey)
	}
	if target.Kind != KeyDamaged && usable == 1 {
		return fmt.Errorf("%s is the only key of %s, and removing it would lose the repository: %w", id, name, ErrLastKey)
	}
	if target.Kind == KeyLocal {
		// Without local/key the repository asks for a password: make sure
		// the one given opens a key file, or the user is locked out.
		files, _, err := listKeyFiles(ctx, k.objs)
		if err != nil {
			return err
		}
		secrets, err := k.opts.secrets()
		if err != nil {
			return err
		}
		if len(secrets) == 0 && k.opts.AskPassword != nil {
			pw, err := k.opts.AskPassword(name)
			if err != nil {
				return err
			}
			secrets = append(secrets, keys.Password(pw))
		}
		if len(secrets) == 0 {
			return fmt.Errorf("removing local/key of %s needs the password or key file of one of its key files, to prove it opens: %w", name, ErrPasswordRequired)
		}
		mine, ok, err := readLocalKey(k.localDir)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s has no local/key: %w", name, ErrNoSuchKey)
		}
		// The key file must wrap local/key's master: one of another
		// master key (a foreign or stale file) opens nothing here.
		var foreign string
		same := false
		for _, f := range files {
			if _, m, err := openAny([]*keys.File{f}, secrets, nil); err == nil {
				if m == mine {
					same = true
					break
				}
				foreign = f.ID
			}
		}
		if !same {
			if foreign != "" {
				return fmt.Errorf("key file %s of %s opens with the secret given but wraps another master key than local/key, so removing local/key would lose the repository: %w", foreign, name, ErrLastKey)
			}
			_, _, err := openAny(files, secrets, nil)
			if err == nil {
				err = ErrWrongPassword
			}
			return fmt.Errorf("%w for repository %s", err, name)
		}
		if err := os.Remove(filepath.Join(k.localDir, localKeyName)); err != nil {
			return fmt.Errorf("remove local key: %w", err)
		}
		return syncDir(k.localDir)
	}
	if target.Current {
		return fmt.Errorf("key %s opened %s; open it with another key to remove this one: %w", id, name, ErrKeyInUse)
	}
	if err := k.objs.DeleteObject(ctx, keys.ObjectKey(id)); err != nil {
		return fmt.Errorf("remove key %s: %w", id, err)
	}
	// Other machines' entries are never consulted once their listing
	// lacks the key file (keycache.go); this one's goes now.
	dropCachedKey(k.repoID, id)
	return nil
}

// changePassword replaces the password key file the repository was opened
// with by one for newPassword: the new file is durable before the old one
// goes, so a crash leaves both (either password opens), never neither.
func (k *keyring) changePassword(ctx context.Context, newPassword []byte) (Key, error) {
	name := k.opts.repoName(k.localDir)
	if k.via == LocalKeyID {
		return Key{}, fmt.Errorf("%s was opened with local/key, not a password: %w", name, ErrNotPassword)
	}
	files, _, err := listKeyFiles(ctx, k.objs)
	if err != nil {
		return Key{}, err
	}
	var cur *keys.File
	for _, f := range files {
		if f.ID == k.via {
			cur = f
		}
	}
	if cur == nil {
		return Key{}, fmt.Errorf("key %s of %s was removed meanwhile: %w", k.via, name, ErrNoSuchKey)
	}
	if cur.KDF != keys.KDFArgon2id {
		return Key{}, fmt.Errorf("%s was opened with a raw key file, not a password: %w", name, ErrNotPassword)
	}
	f, err := k.addFile(ctx, NewKey{Password: newPassword})
	if err != nil {
		return Key{}, err
	}
	// The old password's entry goes before its key file: a crash between
	// leaves the old key file, opened by argon2id only.
	dropCachedKey(k.repoID, cur.ID)
	if err := k.objs.DeleteObject(ctx, keys.ObjectKey(cur.ID)); err != nil {
		return Key{}, fmt.Errorf("remove old key %s (the new password works already): %w", cur.ID, err)
	}
	// The next command with the new password need not pay argon2id.
	newKeyCache(k.repoID).put(f, newPassword, k.master)
	k.via = f.ID
	return Key{ID: f.ID, Kind: kindOf(f.KDF), Created: f.Created, Host: f.Host, User: f.User, Current: true}, nil
}
