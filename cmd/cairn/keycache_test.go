package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestKeyCacheSkipsArgon2: a command run after another with the same
// password does not run argon2id. The proof: once the first commands
// have run, the key file's argon2id parameters are raised so far (64
// passes over 256 MiB, some 20 s here) that a derivation could not
// finish before the 10 s deadline; the next command, a new process,
// finishes at once all the same. Without the key cache it is killed at
// the deadline.
func TestKeyCacheSkipsArgon2(t *testing.T) {
	if !hasKeyring() {
		t.Skip("no kernel keyring here")
	}
	dir := t.TempDir()
	repo, src := filepath.Join(dir, "repo"), filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.json"), []byte(`{"a": 1}`), 0o644)
	cairn := func(timeout time.Duration, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "cairn", args...)
		cmd.Env = append(os.Environ(), "CAIRN_REPO="+repo, "CAIRN_NO_PROGRESS=1", "CAIRN_PASSWORD=the password", "CAIRN_PASSWORD_FILE=", "CAIRN_KEY_CACHE=", "HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, args := range [][]string{{"init"}, {"snap", src}} {
		if out, err := cairn(time.Minute, args...); err != nil {
			t.Fatalf("cairn %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	files, _ := filepath.Glob(filepath.Join(repo, "keys", "*.key"))
	if len(files) != 1 {
		t.Fatalf("key files %q; want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var kf map[string]any
	if err := json.Unmarshal(b, &kf); err != nil {
		t.Fatal(err)
	}
	kf["params"] = map[string]int{"t": 64, "m": 256 << 10, "p": 1}
	if b, err = json.Marshal(kf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := cairn(10*time.Second, "snapshots")
	if err != nil {
		t.Fatalf("cairn snapshots after %v, with argon2id made too slow to finish: %v\n%s", time.Since(start).Round(time.Millisecond), err, out)
	}
	if !regexp.MustCompile(`(?m)^1\s`).MatchString(out) {
		t.Errorf("cairn snapshots printed %q; want snapshot 1", out)
	}
	t.Logf("cairn snapshots from the key cache: %v", time.Since(start).Round(time.Millisecond))
}
