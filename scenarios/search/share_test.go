package search

import (
	"strings"
	"testing"

	"github.com/moesim/moesim/scenarios"
)

// TestTuneSharesNothingThatMatters: Tune draws the routing and builds the
// layout once for all its points; each point must equal a run of its own.
func TestTuneSharesNothingThatMatters(t *testing.T) {
	s, err := scenarios.Decode(strings.NewReader("cluster: {nodes: 2}\nworkload: {tokens_per_gpu: 256}\n"))
	if err != nil {
		t.Fatal(err)
	}
	pts, err := Tune(s, 8, 12, scenarios.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 3 {
		t.Fatalf("%d points, want 3", len(pts))
	}
	for _, p := range pts {
		alone, err := tunePoint(s, p.NumSMs, scenarios.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p != alone {
			t.Errorf("%d SMs: tune gives %+v, a run of its own %+v", p.NumSMs, p, alone)
		}
	}
}
