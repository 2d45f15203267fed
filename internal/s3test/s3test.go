// Package s3test starts real S3 servers for tests, on 127.0.0.1 only:
// versitygw (every run) and a SeaweedFS cluster (the distributed test).
//
// The servers are built once into ~/.cache/cairn/test-servers/ (CacheDir)
// by `make s3-servers`, which `make test` runs first:
//
//	GOBIN=~/.cache/cairn/test-servers/versitygw-v1.8.0 go install github.com/versity/versitygw/cmd/versitygw@v1.8.0   (~70 s cold)
//
// A test that needs a server it cannot find skips, naming the make target,
// except under CI=true, where it fails: CI must never pass by skipping
// every S3 test. CAIRN_VERSITYGW and CAIRN_WEED name other binaries.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Versions of the servers, pinned; the cache directory names them so
// that a bump rebuilds.
const (
	VersityVersion = "v1.8.0"
	WeedVersion    = "v0.0.0-20261109003541-7506e5f91cd6"
)

// Server is a running S3 endpoint with one bucket made for the test.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Bucket exists and is empty when the Server is returned.
	Bucket string
	// Dir is where the server keeps its data (for tests that look).
	Dir string

	procs []*proc
}

// proc is one server process and what it printed.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// ModuleRoot returns the directory holding go.mod, found upwards from the
// working directory (a test runs in its package's directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("s3test: no go.mod above the working directory")
		}
		dir = parent
	}
}

// VersityPath is where `make s3-servers` installs versitygw.
func VersityPath() (string, error) {
	if p := os.Getenv("CAIRN_VERSITYGW"); p != "" {
		return p, nil
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "versitygw-"+VersityVersion, "versitygw"), nil
}

// WeedPath is where `make seaweedfs` builds weed.
func WeedPath() (string, error) {
	if p := os.Getenv("CAIRN_WEED"); p != "" {
		return p, nil
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "seaweedfs-"+WeedVersion, "weed"), nil
}

// CacheDir holds the built servers: $CAIRN_TEST_SERVERS, else
// <user cache dir>/cairn/test-servers (~/.cache/cairn/test-servers), the
// Makefile's S3CACHE. It is outside the checkout so that a fresh clone on
// the same machine (CI's) reuses the binaries instead of building them
// again (SeaweedFS takes minutes).
func CacheDir() (string, error) {
	if d := os.Getenv("CAIRN_TEST_SERVERS"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the test servers' cache: %w (set CAIRN_TEST_SERVERS)", err)
	}
	return filepath.Join(d, "cairn", "test-servers"), nil
}

// need returns the binary at path, or ends the test: a skip on a
// developer's machine, a failure in CI.
func need(t testing.TB, path, target string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is missing: run `make %s` (built once into the test servers' cache, see CacheDir)", path, target)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Versity starts versitygw on a free port of 127.0.0.1 over a fresh
// directory, makes a bucket, and stops the server when the test ends.
// It takes about 0.2 s.
func Versity(t testing.TB) *Server {
	t.Helper()
	bin := need(t, mustPath(t, VersityPath), "s3-servers")
	s, err := StartVersity(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartVersity starts the versitygw binary bin on a free port of
// 127.0.0.1, keeping its data and log under dir, and makes the bucket
// "cairn". Stop ends it. For programs (the benchmark) as well as tests.
func StartVersity(bin, dir string) (*Server, error) {
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	s := &Server{AccessKey: "cairntest", SecretKey: "cairntest-secret-" + randHex(8), Bucket: "cairn", Dir: data}
	var lastErr error
	for range 5 { // a port picked free can be taken before the server binds it
		port, err := freePort()
		if err != nil {
			s.Stop()
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		p, err := s.start(dir, "versitygw", []string{"ROOT_ACCESS_KEY=" + s.AccessKey, "ROOT_SECRET_KEY=" + s.SecretKey},
			bin, "--port", addr, "--quiet", "posix", data)
		if err != nil {
			s.Stop()
			return nil, err
		}
		if lastErr = waitListening(p, addr, 10*time.Second); lastErr == nil {
			s.Endpoint = "http://" + addr
			break
		}
		p.kill()
	}
	if s.Endpoint == "" {
		s.Stop()
		return nil, fmt.Errorf("start versitygw: %v", lastErr)
	}
	if err := s.MakeBucket(context.Background(), s.Bucket); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func mustPath(t testing.TB, f func() (string, error)) string {
	t.Helper()
	p, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Client returns a minio-go client of the server with its root
// credentials, path-style.
func (s *Server) Client() (*minio.Client, error) {
	host := strings.TrimPrefix(s.Endpoint, "http://")
	return minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
}

// MakeBucket creates a bucket, retrying while the server warms up.
func (s *Server) MakeBucket(ctx context.Context, bucket string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err = c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"})
		if err == nil || minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("make bucket %s on %s: %w", bucket, s.Endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Env returns the AWS environment a cairn process needs to reach the
// server.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=us-east-1"}
}

// start runs one server process in dir with its output in
// dir/<name>-*.log.
func (s *Server) start(dir, name string, env []string, bin string, args ...string) (*proc, error) {
	log, err := os.CreateTemp(dir, name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return p, nil
}

// kill stops the process with SIGKILL and waits for it.
func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// output returns the tail of what the process printed.
func (p *proc) output() string {
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop ends the server's processes (SIGTERM, then SIGKILL after 3 s).
func (s *Server) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		select {
		case <-p.done:
		default:
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(3 * time.Second):
				p.kill()
			}
		}
		p.log.Close()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until addr accepts connections, or the process
// exits.
func waitListening(p *proc, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.output())
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within %v\n%s", p.name, addr, limit, p.output())
}

// waitHTTP waits until url answers with one of the statuses.
func waitHTTP(p *proc, url string, limit time.Duration, ok ...int) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	var last string
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.output())
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			for _, c := range ok {
				if resp.StatusCode == c {
					return nil
				}
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s at %s not ready within %v (last: %s)\n%s", p.name, url, limit, last, p.output())
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Prefix returns a fresh random key prefix, so that tests sharing one
// bucket never see each other's objects.
func Prefix() string { return "t-" + randHex(6) }
