package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cli runs moesim with args and returns its exit code, stdout and stderr.
func cli(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

var sweepArgs = []string{"sweep", "--preset", "deepep-intranode-ep8", "--set", "workload.tokens_per_gpu=128",
	"--vary", "kernel.num_sms=4,8", "--vary", "seed=1,2,3", "--jobs", "2"}

func sortedLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end in a newline", path)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	slices.Sort(lines)
	return lines
}

// A sweep stopped midway (and left with half a line, as a kill during a
// write would) and then resumed holds exactly the lines of an
// uninterrupted sweep: nothing lost, nothing twice.
func TestSweepInterruptedThenResumed(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full.jsonl")
	if code, _, stderr := cli(append(sweepArgs, "--out", full)...); code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, stderr)
	}
	want := sortedLines(t, full)
	if len(want) != 6 {
		t.Fatalf("%d lines, want 6 points", len(want))
	}

	for _, k := range []int{1, 4} {
		part := filepath.Join(dir, "part.jsonl")
		os.Remove(part)
		job, err := parseSweep(append(slices.Clone(sweepArgs[1:]), "--out", part), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		stop := errors.New("stop")
		err = job.run(context.Background(), io.Discard, func(n int) error {
			if n == k {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || !strings.Contains(err.Error(), "--resume") {
			t.Fatalf("interrupted sweep: %v, want the stop error and a hint to --resume", err)
		}
		if got := sortedLines(t, part); len(got) != k {
			t.Fatalf("interrupted after %d points, the file has %d lines", k, len(got))
		}
		// Half a line, as an interrupted write leaves it.
		f, _ := os.OpenFile(part, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(want[5][:len(want[5])/2])
		f.Close()

		code, _, stderr := cli(append(sweepArgs, "--out", part)...)
		if code != 2 || !strings.Contains(stderr, "--resume") {
			t.Fatalf("sweep onto a started file without --resume: exit %d, %s", code, stderr)
		}
		code, _, stderr = cli(append(sweepArgs, "--out", part, "--resume")...)
		if code != 0 || !strings.Contains(stderr, "cut-off last line") {
			t.Fatalf("resume: exit %d: %s", code, stderr)
		}
		if got := sortedLines(t, part); !slices.Equal(got, want) {
			t.Fatalf("stopped after %d and resumed: %d lines differ from the uninterrupted sweep's %d", k, len(got), len(want))
		}
		// Resuming a finished sweep adds nothing.
		before, _ := os.ReadFile(part)
		if code, _, stderr := cli(append(sweepArgs, "--out", part, "--resume")...); code != 0 || !strings.Contains(stderr, "0 points run, 6 already there") {
			t.Fatalf("resume of a finished sweep: exit %d: %s", code, stderr)
		}
		if after, _ := os.ReadFile(part); !bytes.Equal(before, after) {
			t.Fatal("resuming a finished sweep changed the file")
		}
	}

	// A resume with another base scenario is refused.
	other := append(slices.Clone(sweepArgs), "--set", "model.topk=6", "--out", full, "--resume")
	if code, _, stderr := cli(other...); code != 2 || !strings.Contains(stderr, "base scenario") {
		t.Fatalf("resume with other --set: exit %d: %s", code, stderr)
	}
}

// A sweep point's result is byte for byte `moesim run` of that point.
func TestSweepPointIsRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.jsonl")
	args := []string{"sweep", "--preset", "deepep-intranode-ep8", "--set", "workload.tokens_per_gpu=128",
		"--vary", "kernel.num_sms=6,10", "--out", out}
	if code, _, stderr := cli(args...); code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, stderr)
	}
	for _, line := range sortedLines(t, out) {
		var l struct {
			Point struct {
				Values map[string]string `json:"values"`
			} `json:"point"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := cli("run", "--preset", "deepep-intranode-ep8", "--set", "workload.tokens_per_gpu=128",
			"--set", "kernel.num_sms="+l.Point.Values["kernel.num_sms"], "--format", "json")
		if code != 0 {
			t.Fatalf("run: exit %d: %s", code, stderr)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(stdout)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(compact.Bytes(), l.Result) {
			t.Fatalf("point %v: the sweep's result differs from moesim run's", l.Point.Values)
		}
	}
}

func TestSweepBadInput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.jsonl")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--vary", "kernel.num_sm=8", "--out", out}, "--vary kernel.num_sm: no such field"},
		{[]string{"--vary", "kernel.num_sms=8,7", "--out", out}, "point kernel.num_sms=7"},
		{[]string{"--vary", "kernel.num_sms=8"}, "--out FILE.jsonl is required"},
		{[]string{"--out", out}, "at least one --vary"},
		{[]string{"--vary", "kernel.num_sms=8", "--out", out, "--jobs", "-1"}, "--jobs = -1"},
	} {
		code, _, stderr := cli(append([]string{"sweep", "--preset", "deepep-intranode-ep8"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("sweep %v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a refused sweep created its --out file")
	}
}
