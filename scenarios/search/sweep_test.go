package search

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moesim/moesim/scenarios"
)

func TestParseVary(t *testing.T) {
	v, err := ParseVary(" kernel.num_sms = 8, 16 ,24")
	if err != nil || v.Path != "kernel.num_sms" || !reflect.DeepEqual(v.Values, []string{"8", "16", "24"}) {
		t.Fatalf("ParseVary = %+v, %v", v, err)
	}
	for _, c := range []struct{ in, want string }{
		{"kernel.num_sm=8", "--vary kernel.num_sm: no such field"},
		{"kernel.num_sms", "want path=v1,v2"},
		{"kernel.num_sms=", "want path=v1,v2"},
		{"kernel.num_sms=8,,16", "empty value"},
		{"kernel.num_sms=8,8", `value "8" given twice`},
	} {
		if _, err := ParseVary(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseVary(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

func TestExpand(t *testing.T) {
	pts, err := Expand([]Vary{{"kernel.num_sms", []string{"8", "16"}}, {"seed", []string{"1", "2", "3"}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, p := range pts {
		if p.Index != i {
			t.Fatalf("point %d has index %d", i, p.Index)
		}
		got = append(got, p.String())
	}
	want := []string{"kernel.num_sms=8 seed=1", "kernel.num_sms=8 seed=2", "kernel.num_sms=8 seed=3",
		"kernel.num_sms=16 seed=1", "kernel.num_sms=16 seed=2", "kernel.num_sms=16 seed=3"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Expand order = %q, want %q (first --vary slowest)", got, want)
	}
	a := Point{Values: []scenarios.Override{{Path: "seed", Value: "1"}, {Path: "kernel.num_sms", Value: "8"}}}
	if a.Key() != pts[0].Key() {
		t.Fatal("Key must not depend on the order of the paths")
	}
	if _, err := Expand([]Vary{{"seed", []string{"1"}}, {"seed", []string{"2"}}}); err == nil {
		t.Fatal("a path varied twice must be an error")
	}
	big := make([]string, 1000)
	for i := range big {
		big[i] = string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	if _, err := Expand([]Vary{{"seed", big}, {"kernel.num_sms", big}}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("a million points: %v, want the bound", err)
	}
	if _, err := Expand(nil); err == nil {
		t.Fatal("no --vary must be an error")
	}
}

// sweepPoints are six small, fast points.
func sweepPoints(t *testing.T) ([]Point, func(Point) (*scenarios.Result, error)) {
	t.Helper()
	pts, err := Expand([]Vary{{"kernel.num_sms", []string{"4", "8", "12"}}, {"seed", []string{"1", "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	run := func(p Point) (*scenarios.Result, error) {
		ovs := append([]scenarios.Override{{Path: "workload.tokens_per_gpu", Value: "128"}}, p.Values...)
		s, err := scenarios.LoadPreset("deepep-intranode-ep8", ovs...)
		if err != nil {
			return nil, err
		}
		return scenarios.Run(s, scenarios.RunOptions{})
	}
	return pts, run
}

func collect(t *testing.T, ctx context.Context, pts []Point, jobs int, run func(Point) (*scenarios.Result, error),
	stopAfter int) (map[string]string, error) {
	t.Helper()
	got := map[string]string{}
	err := RunPoints(ctx, pts, jobs, run, func(p Point, r *scenarios.Result) error {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if _, dup := got[p.Key()]; dup {
			t.Fatalf("point %s handed on twice", p)
		}
		got[p.Key()] = string(b)
		if len(got) == stopAfter {
			return errStop
		}
		return nil
	})
	return got, err
}

var errStop = errors.New("stop")

// A sweep stopped after k points and resumed gives exactly the points of
// one run straight through, whatever the number of workers.
func TestRunPointsInterruptAndResume(t *testing.T) {
	pts, run := sweepPoints(t)
	full, err := collect(t, context.Background(), pts, 1, run, -1)
	if err != nil || len(full) != len(pts) {
		t.Fatalf("full sweep: %d points, %v", len(full), err)
	}
	for _, k := range []int{1, 4} {
		part, err := collect(t, context.Background(), pts, 3, run, k)
		if !errors.Is(err, errStop) || len(part) != k {
			t.Fatalf("stopped sweep: %d points, err %v; want %d and errStop", len(part), err, k)
		}
		done := map[string]bool{}
		for key := range part {
			done[key] = true
		}
		rest, err := collect(t, context.Background(), Pending(pts, done), 2, run, -1)
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(part, rest)
		if !reflect.DeepEqual(part, full) {
			t.Fatalf("stopped after %d and resumed: the results differ from one straight run", k)
		}
	}
}

func TestRunPointsErrorsAndCancel(t *testing.T) {
	pts, run := sweepPoints(t)
	failing := func(p Point) (*scenarios.Result, error) {
		if p.Index == 3 {
			return nil, errors.New("stalled")
		}
		return run(p)
	}
	_, err := collect(t, context.Background(), pts, 2, failing, -1)
	if err == nil || !strings.Contains(err.Error(), "point 3 (kernel.num_sms=8 seed=2): stalled") {
		t.Fatalf("err = %v, want one naming the point", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int32
	slow := func(p Point) (*scenarios.Result, error) {
		if started.Add(1) == 2 {
			cancel()
		}
		return run(p)
	}
	got, err := collect(t, ctx, pts, 1, slow, -1)
	if !errors.Is(err, context.Canceled) || len(got) >= len(pts) {
		t.Fatalf("cancelled sweep: %d points, %v", len(got), err)
	}
}
