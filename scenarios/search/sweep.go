package search

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/moesim/moesim/scenarios"
)

// A sweep runs the cartesian product of varied scenario paths. Each point
// is an independent run, so points run in parallel and the sweep is as
// deterministic as one run: a point's Result does not depend on the other
// points, the worker count or the order of completion.
//
// Invariants:
//   - Expand numbers points 0..n-1 in nested-loop order: the first Vary
//     changes slowest, the last fastest.
//   - A point's identity is its Key (its path=value pairs, sorted by path),
//     not its index, so a resumed sweep matches points by value.
//   - RunPoints calls its callback from one goroutine, one point at a
//     time, so a callback that appends lines never interleaves them.

// MaxSweepPoints bounds a sweep's cartesian product.
const MaxSweepPoints = 100000

// Vary is one --vary path=v1,v2,...: a scenario path and its values, as
// written (the values are the text --set would take).
type Vary struct {
	Path   string
	Values []string
}

// ParseVary parses "path=v1,v2,...". The path must be settable (Paths);
// values must be non-empty and distinct.
func ParseVary(s string) (Vary, error) {
	path, list, ok := strings.Cut(s, "=")
	path = strings.TrimSpace(path)
	if !ok || path == "" || strings.TrimSpace(list) == "" {
		return Vary{}, fmt.Errorf("scenario: --vary %q, want path=v1,v2,... (for example kernel.num_sms=8,16,24)", s)
	}
	if err := scenarios.CheckPath("--vary", path); err != nil {
		return Vary{}, err
	}
	v := Vary{Path: path}
	for _, x := range strings.Split(list, ",") {
		x = strings.TrimSpace(x)
		if x == "" {
			return Vary{}, fmt.Errorf("scenario: --vary %s: empty value in %q", path, list)
		}
		if slices.Contains(v.Values, x) {
			return Vary{}, fmt.Errorf("scenario: --vary %s: value %q given twice", path, x)
		}
		v.Values = append(v.Values, x)
	}
	return v, nil
}

// Point is one point of a sweep: its index in Expand's order and its
// overrides, in the order of the Vary list.
type Point struct {
	Index  int
	Values []scenarios.Override
}

// Key identifies a point by value: its path=value pairs sorted by path.
func (p Point) Key() string {
	kv := make([]string, len(p.Values))
	for i, o := range p.Values {
		kv[i] = o.Path + "=" + o.Value
	}
	slices.Sort(kv)
	return strings.Join(kv, "\x1f")
}

// String is the point as path=value pairs in Vary order.
func (p Point) String() string {
	kv := make([]string, len(p.Values))
	for i, o := range p.Values {
		kv[i] = o.Path + "=" + o.Value
	}
	return strings.Join(kv, " ")
}

// Expand returns the cartesian product of vs, numbered in nested-loop
// order. Paths must be distinct and the product at most MaxSweepPoints.
func Expand(vs []Vary) ([]Point, error) {
	if len(vs) == 0 {
		return nil, fmt.Errorf("scenario: a sweep needs at least one --vary path=v1,v2")
	}
	n := 1
	for i, v := range vs {
		for _, w := range vs[:i] {
			if w.Path == v.Path {
				return nil, fmt.Errorf("scenario: --vary %s given twice; list all its values in one --vary", v.Path)
			}
		}
		if len(v.Values) == 0 {
			return nil, fmt.Errorf("scenario: --vary %s has no values", v.Path)
		}
		n *= len(v.Values)
		if n > MaxSweepPoints {
			return nil, fmt.Errorf("scenario: the sweep has more than %d points; vary fewer values", MaxSweepPoints)
		}
	}
	points := make([]Point, n)
	for i := range points {
		p := Point{Index: i, Values: make([]scenarios.Override, len(vs))}
		rest := i
		for j := len(vs) - 1; j >= 0; j-- {
			v := vs[j]
			p.Values[j] = scenarios.Override{Path: v.Path, Value: v.Values[rest%len(v.Values)]}
			rest /= len(v.Values)
		}
		points[i] = p
	}
	return points, nil
}

// Pending returns the points whose Key is not in done, in order.
func Pending(points []Point, done map[string]bool) []Point {
	var out []Point
	for _, p := range points {
		if !done[p.Key()] {
			out = append(out, p)
		}
	}
	return out
}

// RunPoints runs every point with run on jobs workers (GOMAXPROCS when
// jobs <= 0) and hands each result to each as it completes, from the
// calling goroutine, one at a time. When ctx is done (an interrupt) no
// new point starts, the points in flight finish and are handed on, and
// ctx's error is returned. At the first error of run or each, no new
// point starts, the points in flight finish but are not handed on, and
// that error is returned. Points that each accepted are complete; the
// rest can be run later (Pending).
func RunPoints(ctx context.Context, points []Point, jobs int, run func(Point) (*scenarios.Result, error), each func(Point, *scenarios.Result) error) error {
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	jobs = min(jobs, len(points))
	if jobs == 0 {
		return ctx.Err()
	}
	inner, cancel := context.WithCancel(ctx)
	defer cancel()

	type outcome struct {
		p   Point
		r   *scenarios.Result
		err error
	}
	next := make(chan Point)
	outs := make(chan outcome)
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				if inner.Err() != nil {
					return
				}
				r, err := run(p)
				outs <- outcome{p, r, err} // the loop below drains outs to the end
			}
		}()
	}
	go func() {
		defer close(next)
		for _, p := range points {
			select {
			case next <- p:
			case <-inner.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(outs)
	}()

	var first error
	for o := range outs {
		if first != nil {
			continue // drain
		}
		if o.err != nil {
			first = fmt.Errorf("point %d (%s): %w", o.p.Index, o.p, o.err)
		} else {
			first = each(o.p, o.r)
		}
		if first != nil {
			cancel()
		}
	}
	if first != nil {
		return first
	}
	return ctx.Err()
}
