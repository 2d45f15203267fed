package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// cmdSpec is one process to run.
type cmdSpec struct {
	argv []string
	dir  string   // working directory ("" = inherit)
	env  []string // added to the environment
	// okCodes are exit codes accepted besides 0 (borg's 1 is a warning).
	okCodes []int
}

func (c cmdSpec) String() string {
	s := strings.Join(quoteArgs(c.argv), " ")
	if c.dir != "" {
		s = "cd " + c.dir + " && " + s
	}
	return s
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$*?;&|<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

// sample is one measurement of one step; a step of several processes sums
// wall and CPU time and takes the largest peak RSS.
type sample struct {
	Wall, CPU float64 // seconds
	RSS       int64   // KiB, the largest ru_maxrss of the step's processes
	Size      int64   // repository bytes after the step (-1: not measured)
	Growth    int64   // repository bytes added by the step
	// LogGrowth is what a cairn snapshot step added to the repository's
	// log/ (its records; issue 11 allows an unchanged snapshot 1 KiB),
	// -1 for other tools and steps.
	LogGrowth int64
	Procs     int
	Err       string
	// Requests are the S3 requests of the step by kind (GET, LIST, PUT,
	// ...), counted by the remote step's proxy; nil elsewhere.
	Requests map[string]int
}

func (s sample) ok() bool { return s.Err == "" }

// runSteps runs the processes of one step in order and measures them.
func runSteps(specs []cmdSpec, logw io.Writer) sample {
	var s sample
	for _, c := range specs {
		wall, cpu, rss, err := runOne(c, logw)
		s.Wall += wall
		s.CPU += cpu
		s.RSS = max(s.RSS, rss)
		s.Procs++
		if err != nil {
			s.Err = err.Error()
			return s
		}
	}
	return s
}

// runOne runs a process with its output going to logw, and returns its
// wall time, user+system CPU time and peak RSS from wait4's rusage, taken
// by a launcher (launch.go) so that the bench's own memory is not counted.
func runOne(c cmdSpec, logw io.Writer) (wall, cpu float64, rss int64, err error) {
	fmt.Fprintf(logw, "\n$ %s\n", c)
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), c.env...)
	tail := &tailBuffer{max: 2000}
	w := io.MultiWriter(logw, tail)
	cmd.Stdout, cmd.Stderr = w, w
	if cmd.Err != nil { // not found in $PATH
		return 0, 0, 0, fmt.Errorf("%s: %v", c.argv[0], cmd.Err)
	}
	res, err := launch(cmd)
	wall, cpu, rss = res.Wall, res.CPU, res.RSS
	if err == nil && res.Code != 0 {
		for _, code := range c.okCodes {
			if res.Code == code {
				return wall, cpu, rss, nil
			}
		}
		err = fmt.Errorf("exit status %d", res.Code)
		if res.Code < 0 {
			err = errors.New("killed by a signal")
		}
	}
	if err != nil {
		err = fmt.Errorf("%s: %v: %s", filepath.Base(c.argv[0]), err, strings.TrimSpace(tail.String()))
	}
	return wall, cpu, rss, err
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if t.buf.Len() > 2*t.max {
		b := append([]byte(nil), t.buf.Bytes()[t.buf.Len()-t.max:]...)
		t.buf.Reset()
		t.buf.Write(b)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	b := t.buf.Bytes()
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	return string(b)
}

// dirSize is the sum of the apparent sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// dropCaches empties the page cache so a restore reads the repository
// from disk; it needs root.
func dropCaches() error {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("1\n"), 0)
}

func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	for i := 1; i < len(v); i++ { // insertion sort: a handful of values
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// output runs a command and returns its trimmed first line of output.
func output(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
