package cairn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/keys"
	"github.com/cairn-dev/cairn/metalog"
)

// The format-2 layout (docs/design.md): the repository proper is
// cairn.repo, keys/, packs/, log/ and checkpoints/; local/ holds what is
// this installation's only and never travels with a replica.
const (
	repoFileName = "cairn.repo"
	localName    = "local"
	writerName   = "writer"
)

// ErrNoKey means the repository's master key cannot be found.
var ErrNoKey = errors.New("no key for the repository")

// repoFile is cairn.repo: what a repository is, written once at creation.
type repoFile struct {
	Format  int    `json:"format"`
	ID      string `json:"id"`
	Cipher  string `json:"cipher"`
	IDHash  string `json:"id_hash"`
	Chunker string `json:"chunker"`
	Created string `json:"created"`
}

// newRepoFile is the cairn.repo of a new format-2 repository.
func newRepoFile(id string, now time.Time) ([]byte, error) {
	return json.MarshalIndent(repoFile{
		Format:  RepositoryFormat,
		ID:      id,
		Cipher:  cipherName,
		IDHash:  idHashName,
		Chunker: chunker.Default.String(),
		Created: now.UTC().Format(time.RFC3339),
	}, "", "  ")
}

const (
	cipherName = "xchacha20poly1305"
	idHashName = "blake3-keyed"
)

// randomID is n random bytes in lower-case hex.
func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// layout is what Open finds in a directory.
type layout int

const (
	layoutNew     layout = iota // missing or empty: create it (with Create)
	layoutFormat1               // catalog.db at the top, no cairn.repo
	layoutFormat2               // cairn.repo and local/
)

func checkLayout(dir string, create bool) (layout, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		if create {
			return layoutNew, nil
		}
		return 0, fmt.Errorf("%w at %s", ErrNoRepository, dir)
	}
	if err != nil {
		return 0, fmt.Errorf("repository %s: %w", dir, err)
	}
	onlyLocal := true
	for _, e := range entries {
		switch e.Name() {
		case repoFileName:
			return layoutFormat2, nil
		case catalogName:
			return layoutFormat1, nil
		case localName:
		default:
			onlyLocal = false
		}
	}
	// A directory holding only local/ is a creation that crashed before
	// cairn.repo, written last, made it a repository.
	if len(entries) > 0 && !onlyLocal {
		return 0, fmt.Errorf("%s: %w (it has files but no %s)", dir, ErrNotRepository, repoFileName)
	}
	if !create {
		return 0, fmt.Errorf("%w at %s", ErrNoRepository, dir)
	}
	return layoutNew, nil
}

// createFormat2 lays out a new repository in dir: the master key and the
// writer id in local/, then cairn.repo, written last and create-only, so
// that of two processes creating one repository, one wins and the other
// opens what it made.
func createFormat2(ctx context.Context, dir string, opts Options, now time.Time) error {
	local := opts.localDirOf(dir)
	objs, err := blobstore.NewLocalObjects(dir, filepath.Join(local, "tmp"))
	if err != nil {
		return fmt.Errorf("create repository %s: %w", dir, err)
	}
	id, err := randomID(16)
	if err != nil {
		return err
	}
	m, err := keys.NewMaster()
	if err != nil {
		return err
	}
	rf, err := newRepoFile(id, now)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, repoFileName)); err == nil {
		return nil // another process created it meanwhile
	}
	if err := storeNewMaster(ctx, objs, local, m, opts); err != nil {
		return fmt.Errorf("create repository %s: %w", dir, err)
	}
	if _, err := writerID(ctx, objs, local, false, nil); err != nil {
		return fmt.Errorf("create repository %s: %w", dir, err)
	}
	if err := objs.PutObject(ctx, repoFileName, append(rf, '\n')); err != nil {
		if errors.Is(err, blobstore.ErrExists) {
			return nil
		}
		return fmt.Errorf("create repository %s: %w", dir, err)
	}
	return nil
}

// readRepoFile reads and validates cairn.repo.
func readRepoFile(ctx context.Context, dir string, objs blobstore.Objects) (repoFile, chunker.Params, error) {
	b, err := objs.GetObject(ctx, repoFileName)
	if err != nil {
		return repoFile{}, chunker.Params{}, fmt.Errorf("repository %s: %w", dir, err)
	}
	return parseRepoFile(dir, b)
}

// parseRepoFile validates the contents of cairn.repo.
func parseRepoFile(dir string, b []byte) (repoFile, chunker.Params, error) {
	var rf repoFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return rf, chunker.Params{}, fmt.Errorf("%s: %w: %s is not valid JSON (%v)", dir, ErrNotRepository, repoFileName, err)
	}
	if rf.Format > RepositoryFormat {
		return rf, chunker.Params{}, fmt.Errorf("%s: %w (repository format %d, this cairn knows up to %d); upgrade cairn", dir, ErrTooNew, rf.Format, RepositoryFormat)
	}
	if rf.Format != 2 || len(rf.ID) != 32 || strings.Trim(rf.ID, "0123456789abcdef") != "" {
		return rf, chunker.Params{}, fmt.Errorf("%s: %w: %s has format %d, id %q", dir, ErrNotRepository, repoFileName, rf.Format, rf.ID)
	}
	if rf.Cipher != cipherName || rf.IDHash != idHashName {
		return rf, chunker.Params{}, fmt.Errorf("%s: %w (cipher %q, id hash %q); upgrade cairn", dir, ErrTooNew, rf.Cipher, rf.IDHash)
	}
	params, err := chunker.ParseParams(rf.Chunker)
	if err != nil {
		return rf, chunker.Params{}, fmt.Errorf("%s: %w: %v", dir, ErrNotRepository, err)
	}
	return rf, params, nil
}

// writerID returns this installation's writer id (local/writer), making
// one when there is none. An installation without one continues the log
// of a writer whose host name is this host's, when exactly one is (its
// local/ or cache was lost), or of the repository's only writer when that
// one never recorded a host name (a repository that only ever had one
// writer, as before several could share one); otherwise it is a new
// writer, beside the others. hostOf reads a writer's host name from its
// join record ("" when it has none).
func writerID(ctx context.Context, objs blobstore.Objects, localDir string, readOnly bool, hostOf func(w string) string) (string, error) {
	path := filepath.Join(localDir, writerName)
	b, err := os.ReadFile(path)
	if err == nil {
		w := strings.TrimSpace(string(b))
		if w == "" || strings.Trim(w, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
			return "", fmt.Errorf("%s holds no writer id (%q); delete it to take over the repository's log", path, w)
		}
		return w, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read writer id: %w", err)
	}
	ws, err := metalog.Writers(ctx, objs)
	if err != nil {
		return "", err
	}
	var w string
	var same []string
	for _, x := range ws {
		if hostOf != nil && hostOf(x) == hostName() {
			same = append(same, x)
		}
	}
	switch {
	case len(same) == 1:
		w = same[0]
	case len(ws) == 1 && (hostOf == nil || hostOf(ws[0]) == ""):
		w = ws[0]
	default:
		if w, err = randomID(8); err != nil {
			return "", err
		}
	}
	if readOnly {
		return w, nil
	}
	// Create-only: of two processes making the id at once (two first
	// commands of a new repository), both use the one stored first, or
	// their records would go to two logs.
	if err := createLocalFile(localDir, writerName, w+"\n"); err != nil {
		return "", err
	}
	b, err = os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read writer id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// createLocalFile makes local/name durable with content unless it exists
// (link(2) of a synced temp file, which fails if the name is taken; then
// the existing file is kept).
func createLocalFile(localDir, name, content string) error {
	if _, err := os.Stat(localDir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(localDir, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", localDir, err)
		}
		// The new directory's own entry durable too: a mark in
		// local/appending must survive a power loss, not only a kill.
		if err := syncDir(filepath.Dir(localDir)); err != nil {
			return fmt.Errorf("create %s: %w", localDir, err)
		}
	}
	f, err := os.CreateTemp(localDir, atomicfile.TempPrefix+name+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(localDir, name), err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = io.WriteString(f, content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if err = os.Link(tmp, filepath.Join(localDir, name)); errors.Is(err, fs.ErrExist) {
			return nil
		}
	}
	if err == nil {
		err = syncDir(localDir)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(localDir, name), err)
	}
	return nil
}

// writeLocalFile writes local/name durably (atomicfile: temp, fsync,
// rename, fsync dir), mode 0600.
func writeLocalFile(localDir, name, content string) error {
	if err := os.MkdirAll(localDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", localDir, err)
	}
	root, err := os.OpenRoot(localDir)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(localDir, name), err)
	}
	defer root.Close()
	err = atomicfile.Write(root, name, atomicfile.Options{Mode: 0o600}, func(w io.Writer) error {
		_, err := io.WriteString(w, content)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(localDir, name), err)
	}
	return nil
}

// syncDir fsyncs a directory, making the names in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
