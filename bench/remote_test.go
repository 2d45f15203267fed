package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// The remote step's proxy counts what passes through it by kind, a
// listing apart from a GET, and forwards it unchanged (the Host header
// included: S3 signatures cover it).
func TestCountingProxy(t *testing.T) {
	var hosts []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts = append(hosts, r.Host)
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	p := &countingProxy{n: map[string]int{}, rp: httputil.NewSingleHostReverseProxy(u), log: io.Discard}
	front := httptest.NewServer(p)
	defer front.Close()
	for _, req := range []struct{ method, path string }{
		{"GET", "/b/cairn.repo"}, {"GET", "/b/?list-type=2&prefix=p%2Flog%2F"}, {"PUT", "/b/log/1"}, {"HEAD", "/b/packs/x"},
	} {
		r, _ := http.NewRequest(req.method, front.URL+req.path, nil)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := p.take()
	if got["GET"] != 1 || got["LIST"] != 1 || got["PUT"] != 1 || got["HEAD"] != 1 {
		t.Errorf("counted %v", got)
	}
	if s := requestText(got); s != "4 (GET 1, HEAD 1, LIST 1, PUT 1)" {
		t.Errorf("requestText = %q", s)
	}
	if len(p.take()) != 0 {
		t.Error("take did not reset the counts")
	}
	fu, _ := url.Parse(front.URL)
	for _, h := range hosts {
		if h != fu.Host {
			t.Errorf("the server saw Host %q, want the proxy's %q (what the client signed)", h, fu.Host)
		}
	}
}

// restoredOne finds the file where cairn and restic each put it, and
// only if it holds the source's bytes.
func TestRestoredOne(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	path := src + "/a/b.yaml"
	mkfile(t, path, "x: 1\n")
	if err := restoredOne(dst, path, "a/b.yaml"); err == nil {
		t.Error("nothing restored, yet no error")
	}
	mkfile(t, dst+"/a/b.yaml", "x: 1\n") // cairn's place
	if err := restoredOne(dst, path, "a/b.yaml"); err != nil {
		t.Error(err)
	}
	dst2 := t.TempDir()
	mkfile(t, dst2+path, "x: 2\n") // restic's place, other bytes
	if err := restoredOne(dst2, path, "a/b.yaml"); err == nil {
		t.Error("other contents, yet no error")
	}
}

func mkfile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
