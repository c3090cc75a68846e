package search

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/moesim/moesim/scenarios"
)

// Issue 18 item 15: Ctrl-C during a sweep discarded the points in flight
// (0 of 4 kept). When ctx is cancelled, RunPoints starts no new point and
// hands on every point already running.
func TestRunPointsHandsOnPointsInFlightWhenCancelled(t *testing.T) {
	points, err := Expand([]Vary{{Path: "seed", Values: []string{"1", "2", "3", "4"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var started sync.WaitGroup
	started.Add(2)
	release := make(chan struct{})
	var mu sync.Mutex
	ran := 0
	run := func(p Point) (*scenarios.Result, error) {
		mu.Lock()
		ran++
		mu.Unlock()
		started.Done()
		<-release
		return &scenarios.Result{}, nil
	}
	go func() {
		started.Wait() // both workers hold a point
		cancel()       // Ctrl-C
		close(release)
	}()
	var got []int
	err = RunPoints(ctx, points, 2, run, func(p Point, _ *scenarios.Result) error {
		got = append(got, p.Index)
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(got) != 2 || ran != 2 {
		t.Fatalf("handed on %v of %d points run, want both points in flight and no new one", got, ran)
	}
}
