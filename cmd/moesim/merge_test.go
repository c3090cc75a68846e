package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// linesByIndex is a sweep file's lines sorted by point index.
func linesByIndex(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	index := func(l string) int {
		var v struct{ Point struct{ Index int } }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		return v.Point.Index
	}
	slices.SortFunc(lines, func(a, b string) int { return index(a) - index(b) })
	return strings.Join(lines, "\n") + "\n"
}

var errKilled = errors.New("killed")

// N shards run side by side, some killed after a random number of points
// (with half a line left behind, as a kill mid-write leaves), then rerun
// with --resume; merged, they are the unsharded sweep byte for byte. A
// missing shard makes merge fail naming it; rerun alone, it completes the
// merge.
func TestShardsKilledRerunMergeEqualsSweep(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full.jsonl")
	if code, _, stderr := cli(append(sweepArgs, "--out", full)...); code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, stderr)
	}
	want := linesByIndex(t, full)
	const n = 4
	rng := rand.New(rand.NewPCG(20, 4))
	kills := make([]int, n+1)
	for i := range kills {
		kills[i] = rng.IntN(3) // 0: not killed; else killed after that many points
	}
	shard := func(i int) string { return filepath.Join(dir, fmt.Sprintf("s%d.jsonl", i)) }
	args := func(i int, extra ...string) []string {
		a := append(slices.Clone(sweepArgs[1:len(sweepArgs)-2]), "--jobs", "1", "--shard", fmt.Sprintf("%d/%d", i, n), "--out", shard(i))
		return append(a, extra...)
	}
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	wasKilled := make([]bool, n+1)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job, err := parseSweep(args(i), io.Discard)
			if err != nil {
				errs[i] = err
				return
			}
			err = job.run(context.Background(), io.Discard, func(written int) error {
				if written == kills[i] {
					return errKilled
				}
				return nil
			})
			if kills[i] > 0 && errors.Is(err, errKilled) {
				wasKilled[i] = true
				f, ferr := os.OpenFile(shard(i), os.O_WRONLY|os.O_APPEND, 0)
				if ferr == nil {
					_, _ = f.WriteString(`{"point":{"index":`)
					f.Close()
				}
				return
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	killed := 0
	for i := 1; i <= n; i++ {
		if wasKilled[i] {
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("the seed kills no shard; the test needs at least one")
	}
	// Merging before the reruns fails and names what is missing.
	all := filepath.Join(dir, "all.jsonl")
	var files []string
	for i := 1; i <= n; i++ {
		files = append(files, shard(i))
	}
	if code, _, _ := cli(append([]string{"merge", all}, files...)...); code == 0 {
		t.Fatal("merge of killed shards succeeded")
	}
	// Rerun every shard with --resume except the last, then merge: the
	// last shard's points are named missing (unless it was never killed).
	for i := 1; i <= n; i++ {
		if i == n && kills[n] == 0 {
			os.Remove(shard(n)) // lose a whole shard's file instead
			continue
		}
		if i == n {
			continue
		}
		if code, _, stderr := cli(append([]string{"sweep"}, args(i, "--resume")...)...); code != 0 {
			t.Fatalf("rerun of shard %d: exit %d: %s", i, code, stderr)
		}
	}
	files = files[:n-1]
	code, _, stderr := cli(append([]string{"merge", all}, files...)...)
	if code != 1 || !strings.Contains(stderr, fmt.Sprintf("rerun shard(s) %d/%d", n, n)) {
		t.Fatalf("merge without shard %d: exit %d, %q; want 1 naming the shard", n, code, stderr)
	}
	if _, err := os.Stat(all); err == nil {
		t.Fatal("a failed merge wrote its output")
	}
	resume := []string{"--resume"}
	if kills[n] == 0 {
		resume = nil
	}
	if code, _, stderr := cli(append([]string{"sweep"}, args(n, resume...)...)...); code != 0 {
		t.Fatalf("rerun of shard %d: exit %d: %s", n, code, stderr)
	}
	files = files[:0]
	for i := 1; i <= n; i++ {
		files = append(files, shard(i))
	}
	if code, _, stderr := cli(append([]string{"merge", all}, files...)...); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(all)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("merged shards differ from the unsharded sweep:\n%.500s\n---\n%.500s", got, want)
	}
	if code, _, stderr := cli("report", all); code != 0 {
		t.Fatalf("report of the merged file: exit %d: %s", code, stderr)
	}
	// Duplicates and mixed versions are refused with the point named.
	code, _, stderr = cli(append([]string{"merge", filepath.Join(dir, "dup.jsonl"), shard(1)}, files...)...)
	if code != 1 || !strings.Contains(stderr, "given twice") || !strings.Contains(stderr, "kernel.num_sms=") {
		t.Fatalf("merge with a shard twice: exit %d, %q", code, stderr)
	}
	data, _ := os.ReadFile(shard(2))
	old := fmt.Sprintf(`"version":%q`, "0.1.0")
	if !strings.Contains(string(data), old) {
		t.Fatalf("shard 2 holds no %s", old)
	}
	mixed := filepath.Join(dir, "s2-old.jsonl")
	os.WriteFile(mixed, []byte(strings.Replace(string(data), old, `"version":"0.0.9"`, 1)), 0o644)
	files[1] = mixed
	code, _, stderr = cli(append([]string{"merge", filepath.Join(dir, "mixed.jsonl")}, files...)...)
	if code != 1 || !strings.Contains(stderr, "was run by moesim 0.0.9") {
		t.Fatalf("merge with a line of another version: exit %d, %q", code, stderr)
	}
}

// A plan run as shards, merged and evaluated with --from recommends what
// the plan run whole does.
func TestPlanShardsMergeFrom(t *testing.T) {
	plan := writePlan(t, smallPlan)
	dir := filepath.Dir(plan)
	code, whole, stderr := cli("plan", plan, "--no-prune", "--format", "json")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	var files []string
	for i := 1; i <= 2; i++ {
		f := filepath.Join(dir, fmt.Sprintf("p%d.jsonl", i))
		files = append(files, f)
		if code, _, stderr := cli("plan", plan, "--shard", fmt.Sprintf("%d/2", i), "--out", f); code != 0 {
			t.Fatalf("plan --shard %d/2: exit %d: %s", i, code, stderr)
		}
	}
	merged := filepath.Join(dir, "merged.jsonl")
	if code, _, stderr := cli(append([]string{"merge", merged}, files...)...); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	code, from, stderr := cli("plan", plan, "--from", merged, "--format", "json")
	if code != 0 {
		t.Fatalf("plan --from: exit %d: %s", code, stderr)
	}
	type rep struct {
		Recommended json.RawMessage
		Candidates  json.RawMessage
	}
	var a, b rep
	if err := json.Unmarshal([]byte(whole), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(from), &b); err != nil {
		t.Fatal(err)
	}
	if string(a.Recommended) != string(b.Recommended) || string(a.Candidates) != string(b.Candidates) {
		t.Fatalf("plan from merged shards differs from the whole plan:\n%s\n---\n%s", a.Recommended, b.Recommended)
	}
}
