package cairn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/s3store"
	"github.com/cairn-dev/cairn/keys"
)

// Opening a repository in a bucket needs cairn.repo (its id names the
// cache directory) and the key files (one of them unwraps the master
// key): a GET, a LIST and a GET per key file, 3 of the 5 requests an
// Open cost before anything was done. Both change almost never, so Open
// keeps a copy of them, as stored, in
// $XDG_CACHE_HOME/cairn/remotes/<hash of endpoint, bucket, prefix>.json
// and reads the bucket again only once the copy is RecheckInterval old,
// or when it does not open the repository (a wrong password: the
// password may have been changed on another host, so the bucket's key
// files are tried before the password is called wrong; a record that
// does not decrypt: the repository was made anew under the same prefix).
//
// What a copy can delay, and by at most RecheckInterval: a key file
// removed on another host (cairn key remove, cairn key passwd) still
// opens the repository on a machine that read it less than
// RecheckInterval ago. The copy holds nothing the bucket does not: key
// files wrap the master key with the password's or key file's
// key-encryption key, and the master key itself is never written to disk.

// ErrKeyGone refuses to write to a repository in a bucket when the key
// file that opened it (from this machine's copy of the key files, or from
// the bucket longer than RecheckInterval ago, as a long-running watch
// did) is no longer in the bucket: removed on another host, or the
// repository deleted and made anew under the same prefix (its key files
// have other ids), where records sealed with the old keys would break
// every other writer's catch-up. The copy is dropped: the next command
// reads the bucket.
var ErrKeyGone = errors.New("the key file that opened the repository is no longer in the bucket (removed on another host, or the repository was made anew there); no record was written (packs it stored before that are referenced by nothing), run the command again")

// RecheckInterval is how long Open of a repository in a bucket trusts its
// copy of cairn.repo and the key files; $CAIRN_RECHECK_INTERVAL (a Go
// duration; 0 reads them at every Open) overrides it.
var RecheckInterval = 10 * time.Minute

func recheckInterval() time.Duration {
	if s := os.Getenv("CAIRN_RECHECK_INTERVAL"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			return d
		}
	}
	return RecheckInterval
}

// remoteState is the copy: cairn.repo and the sound key files, as the
// bucket held them at Checked (this machine's clock).
type remoteState struct {
	Location string            `json:"location"`
	Endpoint string            `json:"endpoint"`
	Repo     []byte            `json:"repo"`
	Keys     map[string][]byte `json:"keys"`
	Checked  time.Time         `json:"checked"`
}

// remoteStatePath is where the copy of the repository at cfg is kept.
func remoteStatePath(root string, cfg s3store.Config) string {
	id := blobstore.Sum([]byte(cfg.Endpoint + "\n" + cfg.Bucket + "\n" + cfg.Prefix)).String()[:32]
	return filepath.Join(root, "remotes", id+".json")
}

// loadRemoteState returns the copy at path when it is of location and
// younger than RecheckInterval at now; nil otherwise (none, damaged,
// stale, or from a clock that has gone back since).
func loadRemoteState(path, location string, cfg s3store.Config, now time.Time) *remoteState {
	every := recheckInterval()
	if every <= 0 {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var st remoteState
	if json.Unmarshal(b, &st) != nil || st.Location != location || st.Endpoint != cfg.Endpoint || len(st.Keys) == 0 {
		return nil
	}
	age := now.Sub(st.Checked)
	if age < -time.Minute || age >= every {
		return nil
	}
	return &st
}

// keyFiles are the copy's key files, parsed.
func (st *remoteState) keyFiles() []*keys.File {
	var out []*keys.File
	for id, b := range st.Keys {
		if f, err := keys.Parse(id, b); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// unlockRemote unlocks a repository in a bucket with the key files of a
// fresh copy (no request), else with the bucket's, which it then keeps as
// the new copy along with cairn.repo.
func (r *Repo) unlockRemote(ctx context.Context, opts Options) (*keyring, error) {
	if st := r.remoteState; st != nil {
		files := st.keyFiles()
		return unlockWith(ctx, r.objects, r.localDir, r.id, opts, func(context.Context) ([]*keys.File, error) { return files, nil })
	}
	raw := map[string][]byte{}
	k, err := unlockWith(ctx, r.objects, r.localDir, r.id, opts, func(ctx context.Context) ([]*keys.File, error) {
		files, _, err := readKeyFiles(ctx, r.objects, raw)
		return files, err
	})
	if err == nil {
		// Just read from the bucket: the first RecheckInterval of a
		// long-running process needs no listing before its writes.
		r.keysChecked.Store(r.now().UnixNano())
	}
	if err == nil && r.repoBytes != nil && len(raw) > 0 {
		st := remoteState{Location: r.Dir, Endpoint: r.s3Endpoint, Repo: r.repoBytes, Keys: raw, Checked: r.now().UTC()}
		if b, err := json.Marshal(st); err == nil {
			// A copy that cannot be written costs the requests again
			// at the next Open, nothing else.
			writeCacheFile(r.statePath, b)
		}
	}
	return k, err
}

// confirmKeys takes the key file ids a listing of keys/ found: with the
// key file that opened this Repo among them, what this process writes
// goes to the repository it opened; without it, ErrKeyGone. A listing of
// exactly the copy's key files restarts the copy's clock (key files are
// immutable and their ids random, so the copy is the bucket's).
func (r *Repo) confirmKeys(ids []string) error {
	if !r.remote || r.keyring == nil || r.keyring.via == LocalKeyID {
		return nil
	}
	if !slices.Contains(ids, r.keyring.via) {
		r.forgetRemoteState()
		return fmt.Errorf("%s: %w", r.Dir, ErrKeyGone)
	}
	now := r.now().UTC()
	r.keysChecked.Store(now.UnixNano())
	st := r.remoteState
	if st == nil {
		return nil
	}
	// Rewritten at most every tenth of the interval: a snapshot a minute
	// need not write it each time.
	if now.Sub(st.Checked) >= recheckInterval()/10 && !r.readOnly &&
		len(ids) == len(st.Keys) && !slices.ContainsFunc(ids, func(id string) bool { return st.Keys[id] == nil }) {
		fresh := *st
		fresh.Checked = now
		if b, err := json.Marshal(fresh); err == nil {
			writeCacheFile(r.statePath, b)
		}
	}
	return nil
}

// writeCacheFile replaces path with b (temp file, rename), without the
// fsyncs of writeLocalFile: for what only spares requests (the copy, the
// time of the last catch-up), whose loss in a crash costs those requests
// once (a torn copy does not parse, and is read from the bucket again).
func writeCacheFile(path string, b []byte) {
	if os.MkdirAll(filepath.Dir(path), 0o700) != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".cairn-tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}

// confirmKeysBeforeWrite lists keys/ for confirmKeys before a record is
// appended, unless this process has seen the key file that opened it in
// keys/ less than RecheckInterval ago (read from the bucket at Open, or
// in a listing since: a snapshot's listing of gc/ is one, for free). So
// a command opened from the copy lists it before its first record, and
// a process that stays open for hours (cairn watch) again once the
// interval has passed, as a new command would read the bucket.
func (r *Repo) confirmKeysBeforeWrite(ctx context.Context) error {
	if !r.remote || r.keyring == nil || r.keyring.via == LocalKeyID {
		return nil
	}
	// Within one process a listing is trusted for at least a minute: with
	// CAIRN_RECHECK_INTERVAL=0 every Open reads the bucket, but a record
	// right after a snapshot's listing need not list again.
	every := max(recheckInterval(), time.Minute)
	if t := r.keysChecked.Load(); t != 0 && r.now().Sub(time.Unix(0, t)) < every {
		return nil
	}
	var ids []string
	err := r.objects.ListObjects(ctx, "keys/", func(key string, _ int64) error {
		if id := keys.IDFromObjectKey(key); id != "" {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list key files: %w", err)
	}
	return r.confirmKeys(ids)
}

// plansAndKeys is the repository's objects as a snapshot reads its gc
// plans (gc.ReadCondemned): the LIST of gc/ goes on into keys/, which
// sorts right after it, so the one request also confirms the key file
// that opened the repository from the copy (confirmKeys).
type plansAndKeys struct {
	blobstore.Objects
	st     *s3store.Store
	page   int
	ids    []string
	listed bool
}

func (p *plansAndKeys) ListObjects(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	if prefix != "gc/" {
		return p.Objects.ListObjects(ctx, prefix, fn)
	}
	p.ids, p.listed = nil, false
	err := p.st.ListAfter(ctx, prefix, p.page, func(key string, size int64) error {
		switch {
		case strings.HasPrefix(key, prefix):
			if !blobstore.ValidKey(key) {
				return nil // a stray, as ListObjects skips it
			}
			return fn(key, size)
		case strings.HasPrefix(key, "keys/"):
			if id := keys.IDFromObjectKey(key); id != "" {
				p.ids = append(p.ids, id)
			}
		case key > "keys/":
			return s3store.ErrStop
		}
		return nil
	})
	p.listed = err == nil
	return err
}

// plansLister is what condemnedPacks reads the plans through: with the
// keys/ listing folded in, so that every snapshot confirms the key file
// that opened the repository, whether Open read it from the copy or
// from the bucket (a watch's snapshots, hours later).
func (r *Repo) plansLister(seen int) (blobstore.Objects, func() error) {
	st, ok := r.objects.(*s3store.Store)
	if !ok || r.keyring == nil || r.keyring.via == LocalKeyID {
		return r.objects, func() error { return nil }
	}
	p := &plansAndKeys{Objects: r.objects, st: st, page: seen + r.keyring.files + 16}
	return p, func() error {
		if !p.listed {
			return nil
		}
		return r.confirmKeys(p.ids)
	}
}

// forgetRemoteState removes the copy, so that the next Open reads the
// bucket: after this process changed the key files.
func (r *Repo) forgetRemoteState() {
	if r.remote && r.statePath != "" {
		os.Remove(r.statePath)
	}
}

// staleState reports whether Open's failure may come from a copy that no
// longer matches the bucket, so that reading the bucket may succeed.
func staleState(err error) bool {
	return errors.Is(err, ErrWrongPassword) || errors.Is(err, ErrWrongKeyFile) || errors.Is(err, ErrNoKey) ||
		errors.Is(err, keys.ErrAuth) || errors.Is(err, ErrLogDamaged) || errors.Is(err, ErrKeyGone)
}

// askOnce makes AskPassword ask at most once when it answers: Open may
// unlock twice (a copy, then the bucket) and must not prompt twice.
func askOnce(ask func(string) ([]byte, error)) func(string) ([]byte, error) {
	if ask == nil {
		return nil
	}
	var pw []byte
	return func(repo string) ([]byte, error) {
		if pw != nil {
			return pw, nil
		}
		b, err := ask(repo)
		if err == nil && len(b) > 0 {
			pw = b
		}
		return b, err
	}
}
