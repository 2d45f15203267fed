package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Peak RSS needs a small parent. Go starts children with vfork, and at
// exec Linux records the parent's memory high-water mark as the child's
// ru_maxrss: a bench holding the file list of a 1M-file corpus reported
// its own 131 MiB for a cairn that peaked at 30 MB. So every measured
// command runs under a fresh copy of this binary (launchArg), whose own
// high-water mark is a few MiB, and which reports the child's rusage.

// launchArg as the first argument makes the bench a launcher.
const launchArg = "-bench-launch"

// launched is what a launcher reports on fd 3.
type launched struct {
	Wall, CPU float64
	RSS       int64 // KiB
	Code      int   // exit code; -1 for a signal
	Err       string
}

// launchMain runs argv with the launcher's stdio and environment and
// writes its usage to fd 3.
func launchMain(argv []string) {
	out := os.NewFile(3, "usage")
	var res launched
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	res.Wall = time.Since(start).Seconds()
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.CPU = tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
			res.RSS = ru.Maxrss
		}
		res.Code = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		res.Err = err.Error() // did not start
	}
	if err := json.NewEncoder(out).Encode(res); err != nil {
		fmt.Fprintf(os.Stderr, "bench launcher: %v\n", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// launch runs cmd (argv, dir, env, stdio set, not started) under a
// launcher and returns the child's usage.
func launch(cmd *exec.Cmd) (launched, error) {
	self, err := os.Executable()
	if err != nil {
		return launched{}, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return launched{}, err
	}
	defer r.Close()
	argv := append([]string{launchArg, cmd.Path}, cmd.Args[1:]...)
	l := exec.Command(self, argv...)
	l.Dir, l.Env, l.Stdin, l.Stdout, l.Stderr = cmd.Dir, cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr
	l.ExtraFiles = []*os.File{w}
	if err := l.Start(); err != nil {
		w.Close()
		return launched{}, err
	}
	w.Close()
	var res launched
	derr := json.NewDecoder(r).Decode(&res)
	if err := l.Wait(); err != nil {
		return res, fmt.Errorf("bench launcher: %v", err)
	}
	if derr != nil {
		return res, fmt.Errorf("bench launcher: read usage: %v", derr)
	}
	if res.Err != "" {
		return res, errors.New(res.Err)
	}
	return res, nil
}
