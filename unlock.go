package cairn

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/keys"
)

// localKeyName is the file under local/ that holds the master key of a
// repository without a password, in hex: local/ is never part of the
// repository proper, so the key never travels with a replica.
const localKeyName = "key"

// unlockMaster returns the repository's master key. This first version
// reads local/key only; key files (keys/<id>.key, passwords) come with
// package keys' key files.
func unlockMaster(ctx context.Context, objs blobstore.Objects, localDir string, opts Options) (keys.Master, error) {
	var m keys.Master
	b, err := os.ReadFile(filepath.Join(localDir, localKeyName))
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("unlock repository: %w: no key in %s", ErrNoKey, localDir)
	}
	if err != nil {
		return m, fmt.Errorf("unlock repository: %w", err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != keys.MasterSize {
		return m, fmt.Errorf("unlock repository: %s is not a master key (%d hex digits expected)", filepath.Join(localDir, localKeyName), 2*keys.MasterSize)
	}
	copy(m[:], raw)
	return m, nil
}

// storeNewMaster keeps the master key of a new repository: in local/key
// (mode 0600, durable) for a repository without a password. It never
// replaces a key: of two processes creating one repository at once, the
// first key stored is the one both use.
func storeNewMaster(ctx context.Context, objs blobstore.Objects, localDir string, m keys.Master, opts Options) error {
	if err := createLocalFile(localDir, localKeyName, hex.EncodeToString(m[:])+"\n"); err != nil {
		return fmt.Errorf("store master key: %w", err)
	}
	return nil
}
