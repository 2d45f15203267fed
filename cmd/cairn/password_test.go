package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPasswordPromptOnATerminal runs the real binary on a pseudo-terminal
// (util-linux script(1)): init --password asks twice, a later command
// asks once, and the password typed is never echoed.
func TestPasswordPromptOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("no script(1) to make a terminal")
	}
	repo := filepath.Join(t.TempDir(), "repo")
	const pw = "s3cret-Horse-7"
	// answer runs cmdline on a terminal, types each answer after the
	// prompt before it appears, and returns everything the terminal showed.
	answer := func(cmdline string, answers ...[2]string) (string, error) {
		t.Helper()
		cmd := exec.Command("script", "-qefc", cmdline, "/dev/null")
		cmd.Env = append(os.Environ(), "CAIRN_REPO="+repo, "CAIRN_NO_PROGRESS=1", "CAIRN_PASSWORD=", "CAIRN_PASSWORD_FILE=", "GORACE=atexit_sleep_ms=0")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var shown bytes.Buffer
		r := bufio.NewReader(out)
		for _, a := range answers {
			deadline := time.Now().Add(60 * time.Second)
			for !strings.Contains(shown.String(), a[0]) {
				b, err := r.ReadByte()
				if err != nil || time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("%s: no prompt %q (%v); the terminal showed:\n%s", cmdline, a[0], err, shown.String())
				}
				shown.WriteByte(b)
			}
			// The prompt is written before echo is turned off: give the
			// binary a moment to turn it off, as a person typing would.
			time.Sleep(200 * time.Millisecond)
			io.WriteString(in, a[1]+"\n")
			shown.Reset()
			shown.WriteString("[answered]")
		}
		rest, _ := io.ReadAll(r)
		shown.Write(rest)
		err = cmd.Wait()
		in.Close()
		return shown.String(), err
	}
	all := ""
	got, err := answer("cairn init --password", [2]string{"new password: ", pw}, [2]string{"new password again: ", pw})
	all += got
	if err != nil || !strings.Contains(got, "created repository") {
		t.Fatalf("init --password: %v\n%s", err, got)
	}
	if _, err := os.Stat(filepath.Join(repo, "local", "key")); !os.IsNotExist(err) {
		t.Fatalf("init --password left local/key: %v", err)
	}
	got, err = answer("cairn snapshots", [2]string{"password for repository " + repo + ": ", pw})
	all += got
	if err != nil || !strings.Contains(got, "ID") {
		t.Fatalf("snapshots at the prompt: %v\n%s", err, got)
	}
	got, err = answer("cairn snapshots", [2]string{"password for repository " + repo + ": ", "not " + pw})
	all += got
	if err == nil || !strings.Contains(got, "cairn: wrong password for repository "+repo+" (CAIRN_PASSWORD, --password-file, or the prompt)") {
		t.Fatalf("a wrong password at the prompt: %v\n%s", err, got)
	}
	if strings.Contains(all, pw) {
		t.Fatalf("the terminal echoed the password:\n%s", all)
	}
}
