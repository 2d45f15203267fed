package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cairn-dev/cairn/retention"
)

// keepFlags are the retention rules shared by forget and policy set.
type keepFlags struct {
	p      retention.Policy
	within string
}

func (k *keepFlags) register(f *pflag.FlagSet) {
	f.IntVar(&k.p.Last, "keep-last", 0, "keep the N newest snapshots")
	f.IntVar(&k.p.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last N hours that have one (-1: all)")
	f.IntVar(&k.p.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last N days (-1: all)")
	f.IntVar(&k.p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last N weeks (-1: all)")
	f.IntVar(&k.p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last N months (-1: all)")
	f.IntVar(&k.p.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last N years (-1: all)")
	f.StringVar(&k.within, "keep-within", "", "keep every snapshot newer than this (e.g. 36h, 7d, 2w)")
	f.StringArrayVar(&k.p.Tags, "keep-tag", nil, "keep every snapshot with this tag (repeatable)")
}

// policy returns the rules given, or nil when none was.
func (k *keepFlags) policy() (*retention.Policy, error) {
	p := k.p
	for _, n := range []int{p.Last, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly} {
		if n < -1 {
			return nil, usageError{fmt.Errorf("keep counts must be -1 (all) or more, got %d", n)}
		}
	}
	if k.within != "" {
		d, err := parseDuration(k.within)
		if err != nil {
			return nil, usageError{fmt.Errorf("--keep-within %q: %v", k.within, err)}
		}
		p.Within = d
	}
	if p.Empty() {
		return nil, nil
	}
	return &p, nil
}

// parseDuration accepts Go durations plus days and weeks: "7d", "2w3d12h".
func parseDuration(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			break
		}
		unit := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[rest[i]]
		if unit == 0 {
			break
		}
		n, _ := strconv.Atoi(rest[:i])
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("want a duration like 36h, 7d or 2w")
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("want a positive duration")
	}
	return total, nil
}

func reasons(d retention.Decision) string {
	if len(d.Reasons) == 0 {
		return ""
	}
	return "(" + strings.Join(d.Reasons, ", ") + ")"
}
