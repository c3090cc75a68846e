package search

import (
	"fmt"
	"strconv"

	"github.com/moesim/moesim/scenarios"
)

// KneePoint is one dispatch run of a knee sweep.
type KneePoint struct {
	GPUsPerNodeVisit float64
	TimeUs           float64
	Bottleneck       string
}

// kneeVisits are the GPUs per node visit a knee sweep runs: dense enough
// around 3 to place the knee, wide enough to fit both regimes.
var kneeVisits = []float64{1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7}

// kneeTokens keeps the sweep fast; the knee is a ratio of bytes, not a
// function of the batch.
const kneeTokens = 1024

// Knee sweeps balanced routing (exactly max_nodes_per_token target nodes
// per token and a given mean of target GPUs in each) over the named preset
// with overrides, and returns the GPUs per node visit at which dispatch
// turns from IB-bound to NVLink-bound: where the line through the
// NVLink-bound times meets the flat level of the IB-bound ones (DeepSeek-V3
// §3.2.2 puts it at about 3.2, the NVLink/IB bandwidth ratio).
func Knee(preset string, overrides []scenarios.Override) (float64, error) {
	k, _, err := KneeSweep(preset, overrides)
	return k, err
}

// KneeSweep is Knee with the points it ran.
func KneeSweep(preset string, overrides []scenarios.Override) (float64, []KneePoint, error) {
	var pts []KneePoint
	for _, g := range kneeVisits {
		ovs := append(append([]scenarios.Override(nil), overrides...),
			scenarios.Override{Path: "workload.routing", Value: "balanced"},
			scenarios.Override{Path: "workload.gpus_per_node_visit", Value: strconv.FormatFloat(g, 'g', -1, 64)},
			scenarios.Override{Path: "workload.tokens_per_gpu", Value: strconv.Itoa(kneeTokens)})
		s, err := scenarios.LoadPreset(preset, ovs...)
		if err != nil {
			return 0, nil, err
		}
		if g > float64(s.Cluster.GPUsPerNode) {
			break
		}
		res, err := scenarios.RunDispatch(s)
		if err != nil {
			return 0, nil, err
		}
		bn := "IB"
		if res.NVLink.Max > res.IB.Max {
			bn = "NVLink"
		}
		pts = append(pts, KneePoint{GPUsPerNodeVisit: g, TimeUs: res.Time.Microseconds(), Bottleneck: bn})
	}
	var flat, n float64
	var xs, ys []float64
	for _, p := range pts {
		if p.Bottleneck == "IB" {
			flat += p.TimeUs
			n++
		} else {
			xs, ys = append(xs, p.GPUsPerNodeVisit), append(ys, p.TimeUs)
		}
	}
	if n == 0 || len(xs) < 2 {
		return 0, pts, fmt.Errorf("scenario: knee sweep found %v IB-bound and %d NVLink-bound points; need both regimes", n, len(xs))
	}
	flat /= n
	a, b := fitLine(xs, ys)
	if a <= 0 {
		return 0, pts, fmt.Errorf("scenario: knee sweep: NVLink-bound times do not rise with GPUs per node visit")
	}
	return (flat - b) / a, pts, nil
}

// fitLine is ordinary least squares y = a·x + b.
func fitLine(xs, ys []float64) (a, b float64) {
	var sx, sy, sxx, sxy float64
	n := float64(len(xs))
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	a = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	b = (sy - a*sx) / n
	return a, b
}
