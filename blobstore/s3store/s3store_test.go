package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/s3store"
	"github.com/cairn-dev/cairn/blobstore/storetest"
	"github.com/cairn-dev/cairn/internal/s3test"
)

// newStore opens a Store under a fresh prefix of srv's bucket.
func newStore(t testing.TB, srv *s3test.Server, edit func(*s3store.Config)) *s3store.Store {
	t.Helper()
	cfg := s3store.Config{
		Endpoint: srv.Endpoint,
		Bucket:   srv.Bucket,
		Prefix:   "repos/" + s3test.Prefix(),
		Creds:    credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		TmpDir:   t.TempDir(),
		Backoff:  time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := s3store.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	srv := s3test.Versity(t)
	storetest.Run(t, func(t *testing.T) blobstore.Store { return newStore(t, srv, nil) })
}

func TestObjectsConformance(t *testing.T) {
	srv := s3test.Versity(t)
	storetest.RunObjects(t, func(t *testing.T) blobstore.Objects { return newStore(t, srv, nil) })
	// Listings of many pages (3 keys each), as a log of thousands of
	// records lists in pages of 1000.
	t.Run("SmallPages", func(t *testing.T) {
		storetest.RunObjects(t, func(t *testing.T) blobstore.Objects {
			s := newStore(t, srv, nil)
			s3store.SetListPage(s, 3)
			return s
		})
		storetest.Run(t, func(t *testing.T) blobstore.Store {
			s := newStore(t, srv, nil)
			s3store.SetListPage(s, 3)
			return s
		})
	})
}

// TestConformanceAtBucketRoot: an empty prefix puts the repository at the
// top of the bucket.
func TestConformanceAtBucketRoot(t *testing.T) {
	srv := s3test.Versity(t)
	n := 0
	fresh := func(t *testing.T) *s3store.Store {
		n++
		bucket := fmt.Sprintf("root%d", n)
		if err := srv.MakeBucket(context.Background(), bucket); err != nil {
			t.Fatal(err)
		}
		return newStore(t, srv, func(c *s3store.Config) { c.Bucket, c.Prefix = bucket, "" })
	}
	storetest.RunObjects(t, func(t *testing.T) blobstore.Objects { return fresh(t) })
	t.Run("Packs", func(t *testing.T) {
		s := fresh(t)
		data := []byte("a pack at the root")
		put(t, s, data)
		if err := s.PutObject(context.Background(), "cairn.repo", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		var keys []string
		s.ListObjects(context.Background(), "", func(k string, _ int64) error { keys = append(keys, k); return nil })
		if len(keys) != 1 || keys[0] != "cairn.repo" {
			t.Errorf("ListObjects at the root = %q; want only cairn.repo (packs/ is not an object)", keys)
		}
	})
}

// counter is an http.RoundTripper that counts requests by kind and can
// make chosen requests fail before or after they reach the server.
type counter struct {
	inner http.RoundTripper

	mu    sync.Mutex
	count map[string]int // "PUT", "GET", "HEAD", "DELETE", "POST", "LIST"
	bytes map[string]int64
	// fault, if set, decides each request's fate: nil to pass it,
	// errLost to pass it and lose the response, another error to fail it
	// unsent, or a *http.Response to answer it without the server.
	fault func(req *http.Request) any
}

var errLost = errors.New("test: response lost")

func newCounter(inner http.RoundTripper) *counter {
	return &counter{inner: inner, count: map[string]int{}, bytes: map[string]int64{}}
}

func kind(req *http.Request) string {
	if req.Method == http.MethodGet && req.URL.Query().Has("list-type") {
		return "LIST"
	}
	return req.Method
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	k := kind(req)
	c.count[k]++
	if req.ContentLength > 0 {
		c.bytes[k] += req.ContentLength
	}
	fault := c.fault
	c.mu.Unlock()
	var f any
	if fault != nil {
		f = fault(req)
	}
	switch f := f.(type) {
	case nil:
		return c.inner.RoundTrip(req)
	case *http.Response:
		if req.Body != nil {
			io.Copy(io.Discard, req.Body)
			req.Body.Close()
		}
		f.Request = req
		return f, nil
	case error:
		if errors.Is(f, errLost) {
			resp, err := c.inner.RoundTrip(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			return nil, fmt.Errorf("read response: %w", syscall.ECONNRESET)
		}
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, f
	}
	panic("bad fault")
}

func (c *counter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.count
	c.count, c.bytes = map[string]int{}, map[string]int64{}
	return old
}

func (c *counter) setFault(f func(req *http.Request) any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault = f
}

func counted(t testing.TB, srv *s3test.Server, edit func(*s3store.Config)) (*s3store.Store, *counter) {
	var c *counter
	s := newStore(t, srv, func(cfg *s3store.Config) {
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { c = newCounter(rt); return c }
		if edit != nil {
			edit(cfg)
		}
	})
	return s, c
}

func put(t testing.TB, s blobstore.Store, data []byte) string {
	t.Helper()
	ctx := context.Background()
	up, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Abort()
	if _, err := up.Write(data); err != nil {
		t.Fatal(err)
	}
	name := blobstore.Sum(data).String()
	if err := up.Commit(ctx, name); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return name
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestOnePutPerPack: a pack larger than minio-go's default part size
// (16 MiB) goes in one PUT, not a multipart upload (POST ?uploads, PUT
// per part, POST to complete).
func TestOnePutPerPack(t *testing.T) {
	srv := s3test.Versity(t)
	s, c := counted(t, srv, nil)
	data := randBytes(1, 40<<20+7)
	c.reset()
	name := put(t, s, data)
	got := c.reset()
	if got["PUT"] != 1 || len(got) != 1 {
		t.Errorf("committing a %d MiB pack sent %v; want exactly one PUT", len(data)>>20, got)
	}
	if size, err := s.Stat(context.Background(), name); err != nil || size != int64(len(data)) {
		t.Errorf("Stat = %d, %v; want %d", size, err, len(data))
	}
	// The object on the server is the whole pack in one file.
	fi, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, s.Prefix(), "packs", name[:2], name+".pack"))
	if err != nil || fi.Size() != int64(len(data)) {
		t.Errorf("object file: %v, %v", fi, err)
	}
}

// TestCommitReplacesTruncatedPack: an object of another size under a
// pack's name (what versitygw keeps of a PUT whose client was killed,
// with an unsigned body) is damage, since the name is the bytes' hash:
// Commit replaces it instead of failing for ever.
func TestCommitReplacesTruncatedPack(t *testing.T) {
	srv := s3test.Versity(t)
	s := newStore(t, srv, nil)
	data := randBytes(3, 1<<20)
	name := blobstore.Sum(data).String()
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	key := s.Prefix() + "/packs/" + name[:2] + "/" + name + ".pack"
	if _, err := c.PutObject(context.Background(), srv.Bucket, key, bytes.NewReader(data[:1000]), 1000, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	put(t, s, data)
	if size, err := s.Stat(context.Background(), name); err != nil || size != int64(len(data)) {
		t.Errorf("Stat = %d, %v; want %d", size, err, len(data))
	}
}

// TestRetries: requests that fail with a reset connection, a 503 or a
// timeout are tried again, and then succeed.
func TestRetries(t *testing.T) {
	srv := s3test.Versity(t)
	ctx := context.Background()
	s, c := counted(t, srv, func(cfg *s3store.Config) { cfg.AttemptTimeout = 2 * time.Second })
	var mu sync.Mutex
	failures := map[string]int{}
	// Each kind of request fails its first two tries, in turn with a
	// reset, a 503, and (for GET) a hang past the attempt timeout.
	c.setFault(func(req *http.Request) any {
		mu.Lock()
		defer mu.Unlock()
		k := kind(req)
		failures[k]++
		switch failures[k] {
		case 1:
			return fmt.Errorf("dial: %w", syscall.ECONNRESET)
		case 2:
			if k == "GET" {
				select {
				case <-req.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return req.Context().Err()
			}
			return &http.Response{StatusCode: 503, Status: "503 Slow Down", Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(`<Error><Code>SlowDown</Code></Error>`))}
		}
		return nil
	})
	data := randBytes(2, 100<<10)
	name := put(t, s, data)
	p := make([]byte, 1000)
	if err := s.ReadAt(ctx, name, p, 500); err != nil || !bytes.Equal(p, data[500:1500]) {
		t.Fatalf("ReadAt after retries: %v", err)
	}
	if err := s.PutObject(ctx, "log/w/1", []byte("record")); err != nil {
		t.Fatalf("PutObject after retries: %v", err)
	}
	var keys []string
	if err := s.ListObjects(ctx, "log/", func(k string, _ int64) error { keys = append(keys, k); return nil }); err != nil || len(keys) != 1 {
		t.Fatalf("ListObjects after retries = %q, %v", keys, err)
	}
	for _, op := range []string{"put", "get", "list", "stat"} {
		if s.Retries(op) < 2 && op != "stat" {
			t.Errorf("Retries(%s) = %d; want at least 2", op, s.Retries(op))
		}
	}
}

// TestRetriesAreBounded: a server that always fails is given up on after
// Attempts tries, and a cancelled context stops the backoff at once.
func TestRetriesAreBounded(t *testing.T) {
	srv := s3test.Versity(t)
	s, c := counted(t, srv, func(cfg *s3store.Config) { cfg.Attempts = 3 })
	c.setFault(func(*http.Request) any { return fmt.Errorf("dial: %w", syscall.ECONNREFUSED) })
	c.reset()
	if _, err := s.GetObject(context.Background(), "cairn.repo"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GetObject from a dead server = %v; want the connection error", err)
	}
	if got := c.reset()["GET"]; got != 3 {
		t.Errorf("a dead server saw %d GETs; want Attempts = 3", got)
	}

	s2, c2 := counted(t, srv, func(cfg *s3store.Config) { cfg.Attempts = 100; cfg.Backoff = time.Hour })
	c2.setFault(func(*http.Request) any { return fmt.Errorf("dial: %w", syscall.ECONNREFUSED) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s2.GetObject(ctx, "cairn.repo"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GetObject with a cancelled context = %v; want the context's error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("backoff outlived the context by %v", d)
	}
}

// TestResponseLost: a PUT that reached the server but whose response was
// lost is retried; the retry's 412 is recognised as our own write.
func TestResponseLost(t *testing.T) {
	srv := s3test.Versity(t)
	ctx := context.Background()
	s, c := counted(t, srv, nil)
	var mu sync.Mutex
	lost := 0
	c.setFault(func(req *http.Request) any {
		mu.Lock()
		defer mu.Unlock()
		if req.Method == http.MethodPut && lost < 2 {
			lost++
			return errLost
		}
		return nil
	})
	if err := s.PutObject(ctx, "log/w/00000000000000000001", []byte("mine")); err != nil {
		t.Fatalf("PutObject whose first response was lost: %v", err)
	}
	data := randBytes(3, 1<<20)
	name := put(t, s, data)
	c.setFault(nil)
	if b, err := s.GetObject(ctx, "log/w/00000000000000000001"); err != nil || string(b) != "mine" {
		t.Errorf("GetObject = %q, %v", b, err)
	}
	if size, err := s.Stat(ctx, name); err != nil || size != int64(len(data)) {
		t.Errorf("Stat = %d, %v", size, err)
	}
	// Someone else's object is still ErrExists, lost response or not.
	c.setFault(func(req *http.Request) any {
		if req.Method == http.MethodPut {
			c.setFault(nil)
			return errLost
		}
		return nil
	})
	if err := s.PutObject(ctx, "log/w/00000000000000000001", []byte("other")); !errors.Is(err, blobstore.ErrExists) {
		t.Errorf("PutObject over another's object: %v; want ErrExists", err)
	}
}

// TestWithoutConditionalPut: a server that answers 501 to If-None-Match
// gets a HEAD before each put; create-only still holds.
func TestWithoutConditionalPut(t *testing.T) {
	srv := s3test.Versity(t)
	ctx := context.Background()
	s, c := counted(t, srv, nil)
	c.setFault(func(req *http.Request) any {
		if req.Header.Get("If-None-Match") != "" {
			return &http.Response{StatusCode: 501, Status: "501 Not Implemented", Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(`<Error><Code>NotImplemented</Code></Error>`))}
		}
		return nil
	})
	if err := s.PutObject(ctx, "cairn.repo", []byte("one")); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if err := s.PutObject(ctx, "cairn.repo", []byte("two")); !errors.Is(err, blobstore.ErrExists) {
		t.Errorf("second PutObject: %v; want ErrExists", err)
	}
	if b, _ := s.GetObject(ctx, "cairn.repo"); string(b) != "one" {
		t.Errorf("object holds %q", b)
	}
	name := put(t, s, []byte("pack"))
	put(t, s, []byte("pack"))
	if size, err := s.Stat(ctx, name); err != nil || size != 4 {
		t.Errorf("Stat = %d, %v", size, err)
	}
}

// TestCoalescedReads: reading every chunk of a pack in order costs a few
// GETs, not one per blob; an isolated read fetches only its range.
func TestCoalescedReads(t *testing.T) {
	srv := s3test.Versity(t)
	ctx := context.Background()
	s, c := counted(t, srv, nil)
	w, err := blobstore.NewPackWriter(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var chunks [][]byte
	var entries []blobstore.Entry
	for i := range 400 {
		chunk := randBytes(uint64(100+i), 30<<10)
		e, err := w.Add(blobstore.Sum(chunk), len(chunk), blobstore.Encode(nil, chunk))
		if err != nil {
			t.Fatal(err)
		}
		chunks, entries = append(chunks, chunk), append(entries, e)
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.reset()
	var rangeBytes int64
	c.setFault(func(req *http.Request) any {
		var a, b int64
		if _, err := fmt.Sscanf(req.Header.Get("Range"), "bytes=%d-%d", &a, &b); err == nil {
			c.mu.Lock()
			rangeBytes += b - a + 1
			c.mu.Unlock()
		}
		return nil
	})
	// An isolated read of one chunk asks for that chunk's blob only.
	if got, err := blobstore.ReadChunk(ctx, s, nil, info.Name, entries[200], nil); err != nil || !bytes.Equal(got, chunks[200]) {
		t.Fatalf("ReadChunk: %v", err)
	}
	if n := c.reset()["GET"]; n != 1 || rangeBytes != entries[200].Length {
		t.Errorf("one chunk: %d GETs for %d bytes; want 1 for %d", n, rangeBytes, entries[200].Length)
	}
	rangeBytes = 0
	r := blobstore.NewReader(s, nil)
	for i, e := range entries {
		got, err := r.ReadChunk(ctx, info.Name, e, nil)
		if err != nil || !bytes.Equal(got, chunks[i]) {
			t.Fatalf("ReadChunk %d: %v", i, err)
		}
	}
	gets := c.reset()["GET"]
	t.Logf("reading %d chunks (%.1f MiB) in order: %d GETs, %.1f MiB fetched", len(entries), float64(info.Size)/(1<<20), gets, float64(rangeBytes)/(1<<20))
	if gets > 12 {
		t.Errorf("reading %d neighbouring chunks took %d GETs; want coalescing to about 8", len(entries), gets)
	}
	if rangeBytes > info.Size+(4<<20) {
		t.Errorf("fetched %d bytes for a pack of %d", rangeBytes, info.Size)
	}
}

// TestCredentialsChain: with no Creds, the AWS environment is used, then
// the shared credentials file.
func TestCredentialsChain(t *testing.T) {
	srv := s3test.Versity(t)
	ctx := context.Background()
	t.Run("Environment", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		s := newStore(t, srv, func(c *s3store.Config) { c.Creds = nil })
		if err := s.PutObject(ctx, "cairn.repo", []byte("env")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("SharedFile", func(t *testing.T) {
		for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
			t.Setenv(v, "")
		}
		home := t.TempDir()
		t.Setenv("HOME", home)
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "nothing"))
		os.MkdirAll(filepath.Join(home, ".aws"), 0o700)
		creds := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", srv.AccessKey, srv.SecretKey)
		if err := os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte(creds), 0o600); err != nil {
			t.Fatal(err)
		}
		s := newStore(t, srv, func(c *s3store.Config) { c.Creds = nil })
		if err := s.PutObject(ctx, "cairn.repo", []byte("file")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("None", func(t *testing.T) {
		for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
			t.Setenv(v, "")
		}
		home := t.TempDir()
		t.Setenv("HOME", home)
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "nothing"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "nothing"))
		_, err := s3store.New(s3store.Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket})
		if !errors.Is(err, s3store.ErrNoCredentials) {
			t.Errorf("New without credentials: %v; want ErrNoCredentials", err)
		}
	})
	t.Run("Wrong", func(t *testing.T) {
		s := newStore(t, srv, func(c *s3store.Config) { c.Creds = credentials.NewStaticV4(srv.AccessKey, "wrong", "") })
		err := s.PutObject(ctx, "cairn.repo", []byte("no"))
		if err == nil || s.Retries("put") != 0 {
			t.Errorf("PutObject with a wrong secret = %v after %d retries; want an error at once", err, s.Retries("put"))
		}
	})
}

func TestParseURL(t *testing.T) {
	good := []struct {
		url, endpoint, bucket, prefix string
	}{
		{"s3://bucket", "", "bucket", ""},
		{"s3://bucket/", "http://127.0.0.1:7070", "bucket", ""},
		{"s3://my-bucket/host/agent", "https://s3.example.com", "my-bucket", "host/agent"},
		{"s3://b.u.c/p/", "http://[::1]:9000", "b.u.c", "p"},
	}
	for _, g := range good {
		c, err := s3store.ParseURL(g.url, g.endpoint)
		if err != nil || c.Bucket != g.bucket || c.Prefix != g.prefix || c.Endpoint != g.endpoint {
			t.Errorf("ParseURL(%q, %q) = %+v, %v; want bucket %q prefix %q", g.url, g.endpoint, c, err, g.bucket, g.prefix)
		}
	}
	bad := []struct{ url, endpoint string }{
		{"bucket/prefix", ""}, {"s3:/bucket", ""}, {"s3://", ""}, {"s3://Bucket/p", ""}, {"s3://b/p", ""},
		{"s3://bucket//p", ""}, {"s3://bucket/a/../b", ""}, {"s3://bucket/a b", ""},
		{"s3://bucket/p", "127.0.0.1:7070"}, {"s3://bucket/p", "ftp://host"}, {"s3://bucket/p", "http://host/bucket"},
		{"s3://bucket/p", "http://"}, {"s3://bucket/p", "http://u:p@host"},
	}
	for _, b := range bad {
		if c, err := s3store.ParseURL(b.url, b.endpoint); err == nil {
			t.Errorf("ParseURL(%q, %q) = %+v; want an error", b.url, b.endpoint, c)
		}
	}
	if !s3store.IsURL("s3://b/p") || s3store.IsURL("/srv/backup") {
		t.Error("IsURL")
	}
}

// TestEmptyObjectCreateOnly: versitygw v1.8.0 ignores If-None-Match on
// about 1 in 12 puts of an empty object, so the store HEADs first for
// those. Without that, 100 tries here fail with near certainty.
func TestEmptyObjectCreateOnly(t *testing.T) {
	srv := s3test.Versity(t)
	s := newStore(t, srv, nil)
	ctx := context.Background()
	for i := range 100 {
		k := fmt.Sprintf("locks/%d", i)
		if err := s.PutObject(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.PutObject(ctx, k, nil); !errors.Is(err, blobstore.ErrExists) {
			t.Fatalf("second put %d of an empty object: %v; want ErrExists", i, err)
		}
	}
}

// TestMissingBucket: a bucket that does not exist is ErrNoBucket, never
// ErrNotFound (which would make check record every pack as missing).
func TestMissingBucket(t *testing.T) {
	srv := s3test.Versity(t)
	ctx := context.Background()
	s := newStore(t, srv, func(c *s3store.Config) { c.Bucket = "no-such-bucket" })
	name := blobstore.Sum([]byte("x")).String()
	if _, err := s.Stat(ctx, name); !errors.Is(err, s3store.ErrNoBucket) || errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat: %v; want ErrNoBucket", err)
	}
	if err := s.ReadAt(ctx, name, make([]byte, 1), 0); !errors.Is(err, s3store.ErrNoBucket) || errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("ReadAt: %v; want ErrNoBucket", err)
	}
	if _, err := s.GetObject(ctx, "cairn.repo"); !errors.Is(err, s3store.ErrNoBucket) || errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("GetObject: %v; want ErrNoBucket", err)
	}
	if err := s.Delete(ctx, name); !errors.Is(err, s3store.ErrNoBucket) {
		t.Errorf("Delete: %v; want ErrNoBucket", err)
	}
	if err := s.List(ctx, func(string, int64) error { return nil }); err == nil {
		t.Error("List of a missing bucket succeeded")
	}
}

// TestUnsignedPayload: with UnsignedPayload a PUT over http carries no
// body hash, and the server still takes it.
func TestUnsignedPayload(t *testing.T) {
	srv := s3test.Versity(t)
	for _, unsigned := range []bool{false, true} {
		s, c := counted(t, srv, func(cfg *s3store.Config) { cfg.UnsignedPayload = unsigned })
		var mu sync.Mutex
		var hashes []string
		c.setFault(func(req *http.Request) any {
			if req.Method == http.MethodPut {
				mu.Lock()
				hashes = append(hashes, req.Header.Get("X-Amz-Content-Sha256"))
				mu.Unlock()
			}
			return nil
		})
		data := randBytes(9, 300<<10)
		name := put(t, s, data)
		if err := s.PutObject(context.Background(), "cairn.repo", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		p := make([]byte, len(data))
		if err := s.ReadAt(context.Background(), name, p, 0); err != nil || !bytes.Equal(p, data) {
			t.Fatalf("ReadAt: %v", err)
		}
		for _, h := range hashes {
			if got := h == "UNSIGNED-PAYLOAD"; got != unsigned {
				t.Errorf("UnsignedPayload %v: a PUT said X-Amz-Content-Sha256: %s", unsigned, h)
			}
		}
		if len(hashes) != 2 {
			t.Errorf("%d PUTs; want 2", len(hashes))
		}
	}
}

// TestListResumesAfterFailedPage: a listing of several pages whose second
// page fails is retried from the last key seen: no key is reported twice
// or skipped, for objects and for packs.
func TestListResumesAfterFailedPage(t *testing.T) {
	srv := s3test.Versity(t)
	ctx := context.Background()
	s, c := counted(t, srv, nil)
	s3store.SetListPage(s, 10)
	var want []string
	for i := range 35 {
		k := fmt.Sprintf("log/w/%020d", i+1)
		if err := s.PutObject(ctx, k, []byte("r")); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	packs := map[string]bool{}
	for i := range 23 {
		packs[put(t, s, fmt.Appendf(nil, "pack %d", i))] = true
	}
	failSecondList := func() {
		var mu sync.Mutex
		lists := 0
		c.setFault(func(req *http.Request) any {
			if kind(req) != "LIST" {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			if lists++; lists == 2 {
				return fmt.Errorf("read: %w", syscall.ECONNRESET)
			}
			return nil
		})
	}
	failSecondList()
	var got []string
	if err := s.ListObjects(ctx, "log/", func(k string, _ int64) error { got = append(got, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ListObjects with a failed second page =\n%q\nwant\n%q", got, want)
	}
	failSecondList()
	seen := map[string]int{}
	if err := s.List(ctx, func(name string, _ int64) error { seen[name]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for name := range packs {
		if seen[name] != 1 {
			t.Errorf("pack %s listed %d times", name, seen[name])
		}
	}
	if len(seen) != len(packs) {
		t.Errorf("List reported %d packs; want %d", len(seen), len(packs))
	}
	if s.Retries("list") != 2 {
		t.Errorf("Retries(list) = %d; want 2", s.Retries("list"))
	}
}

// TestObjectPutBodyChecked: an object (a log record, a checkpoint, a key
// file, cairn.repo) is not verified by its name as a pack is, so its PUT
// carries a checksum of the body even when the payload is unsigned (the
// https default): a body damaged in transit is refused by the server,
// never stored to show up later as log damage. Packs stay unsigned.
func TestObjectPutBodyChecked(t *testing.T) {
	srv := s3test.Versity(t)
	s, c := counted(t, srv, func(cfg *s3store.Config) { cfg.UnsignedPayload = true })
	ctx := context.Background()
	data := []byte(`{"format":2,"a checkpoint or a record of the log":true}`)
	var mu sync.Mutex
	damaged := 0
	var packMD5 []string
	c.setFault(func(req *http.Request) any {
		if req.Method != http.MethodPut {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(req.URL.Path, "cairn.repo") {
			packMD5 = append(packMD5, req.Header.Get("Content-Md5")+req.Header.Get("X-Amz-Checksum-Crc32c"))
			return nil
		}
		if damaged > 0 || req.Body == nil {
			return nil
		}
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return err
		}
		b[len(b)/2] ^= 0x20 // one bit flipped in transit, same length
		req.Body = io.NopCloser(bytes.NewReader(b))
		damaged++
		return nil
	})
	err := s.PutObject(ctx, "cairn.repo", data)
	c.setFault(nil)
	if damaged != 1 {
		t.Fatalf("%d PUT bodies damaged; want 1", damaged)
	}
	// Refused (BadDigest), then sent again: the put succeeds with the
	// bytes it was given.
	if err != nil {
		t.Fatalf("a put whose first body was damaged in transit failed instead of being retried: %v", err)
	}
	got, gerr := s.GetObject(ctx, "cairn.repo")
	if gerr != nil || !bytes.Equal(got, data) {
		t.Fatalf("a PUT body damaged in transit was stored: %q, %v", got, gerr)
	}
	put(t, s, randBytes(3, 300<<10))
	for _, h := range packMD5 {
		if h != "" {
			t.Errorf("a pack PUT carries a body checksum %q; packs are verified by name", h)
		}
	}
}

// TestListAfter: one LIST answers for neighbouring prefixes (what a
// snapshot reads of gc/ and keys/) when its page reaches past them, and
// the listing resumes where a failed page left it.
func TestListAfter(t *testing.T) {
	srv := s3test.Versity(t)
	ctx := context.Background()
	s, c := counted(t, srv, nil)
	keys := []string{"cairn.repo", "checkpoints/w/00000000000000000001", "gc/00000000000000000001-a", "gc/00000000000000000002-b",
		"keys/0123456789abcdef.key", "locks/gc"}
	for i := range 30 {
		keys = append(keys, fmt.Sprintf("log/w/%020d", i+1))
	}
	for _, k := range keys {
		if err := s.PutObject(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	put(t, s, []byte("a pack"))
	upTo := func(page int, stop string) []string {
		t.Helper()
		var got []string
		err := s.ListAfter(ctx, "gc/", page, func(k string, _ int64) error {
			if k > stop {
				return s3store.ErrStop
			}
			got = append(got, k)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	c.reset()
	got := upTo(10, "keys/~")
	if want := keys[2:5]; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ListAfter(gc/) up to keys/ = %q, want %q", got, want)
	}
	if n := c.reset(); n["LIST"] != 1 || len(n) != 1 {
		t.Errorf("ListAfter with a page reaching past keys/ sent %v; want one LIST", n)
	}
	// Pages of 2: the listing goes on until fn stops it, across pages.
	if got := upTo(2, "log/w/00000000000000000003"); len(got) != 7 || got[6] != "log/w/00000000000000000003" {
		t.Errorf("ListAfter in pages of 2 = %q", got)
	}
	// To the end: every key after gc/, the pack too (a caller stops at
	// packs/ instead of paging through them).
	if got := upTo(0, "~"); len(got) != len(keys)-2+1 || !strings.HasPrefix(got[len(got)-1], "packs/") {
		t.Errorf("ListAfter to the end listed %d keys, want %d and the pack last: %q", len(got), len(keys)-1, got)
	}
}
