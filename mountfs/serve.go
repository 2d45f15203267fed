package mountfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// ErrUnavailable means this machine cannot mount FUSE file systems: no
// /dev/fuse, or no permission to use it.
var ErrUnavailable = errors.New("mountfs: FUSE is not available")

// Serve mounts the snapshots of source (0: every source) at dir, calls
// ready, and serves until ctx ends (then it unmounts) or the file system is
// unmounted from outside (fusermount -u). A mount point still in use when
// ctx ends (a shell inside it) is detached lazily, as umount -l does, so
// dir is free at once; files open under it then fail.
func Serve(ctx context.Context, dir string, db *catalog.DB, store blobstore.Store, codec *blobstore.Codec, source int64, ready func()) error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("mount %s: %w: %v", dir, ErrUnavailable, err)
	}
	root := New(ctx, db, store, codec, source, uint32(os.Getuid()), uint32(os.Getgid()))
	opts := &gofs.Options{MountOptions: fuse.MountOptions{
		FsName: "cairn",
		Name:   "cairn",
		// The kernel checks modes and owners as recorded: a 0600 secret
		// in a snapshot stays its owner's.
		Options: []string{"ro", "default_permissions"},
		// Snapshots record no extended attributes: say so at once rather
		// than answer every getxattr.
		DisableXAttrs: true,
	}}
	server, err := gofs.Mount(dir, root, opts)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return fmt.Errorf("mount %s: %w: %v", dir, ErrUnavailable, err)
		}
		return fmt.Errorf("mount %s: %w", dir, err)
	}
	if ready != nil {
		ready()
	}
	done := make(chan struct{})
	go func() {
		server.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil // unmounted from outside
	case <-ctx.Done():
	}
	if err := server.Unmount(); err != nil {
		if lerr := detach(dir); lerr != nil {
			return fmt.Errorf("unmount %s: %w", dir, errors.Join(err, lerr))
		}
	}
	// A detached mount is served until its last user leaves; that is not
	// a reason to outstay the signal by more than a moment.
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return nil
}

// detach unmounts dir lazily.
func detach(dir string) error {
	if os.Geteuid() == 0 {
		return unix.Unmount(dir, unix.MNT_DETACH)
	}
	for _, prog := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(prog); err == nil {
			return exec.Command(p, "-u", "-z", dir).Run()
		}
	}
	return errors.New("no fusermount to detach with")
}
