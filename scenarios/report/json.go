package report

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/moesim/moesim/scenarios"
)

// The JSON of a run is scenarios.Result with derived statistics added
// under each kernel (dispatch.rank_finish_stats, dispatch.port_util_stats).
// Field order is struct order, so output is stable; resultJSON mirrors
// scenarios.Result field for field (a test checks it).

type resultJSON struct {
	Meta     scenarios.Meta           `json:"meta"`
	Routing  scenarios.RoutingSummary `json:"routing"`
	Dispatch kernelJSON               `json:"dispatch"`
	Combine  kernelJSON               `json:"combine"`
	Compute  scenarios.ComputeSummary `json:"compute"`
	Overlap  scenarios.OverlapSummary `json:"overlap"`
	Step     scenarios.StepSummary    `json:"step"`
	Scenario scenarios.Scenario       `json:"scenario"`
}

type kernelJSON struct {
	scenarios.KernelSummary
	RankFinishStats Dist      `json:"rank_finish_stats"`
	PortUtilStats   portDists `json:"port_util_stats"`
}

func viewOf(r *scenarios.Result) resultJSON {
	v := resultJSON{Meta: r.Meta, Routing: r.Routing, Compute: r.Compute, Overlap: r.Overlap, Step: r.Step, Scenario: r.Scenario}
	for _, k := range []struct {
		dst *kernelJSON
		src *scenarios.KernelSummary
	}{{&v.Dispatch, &r.Dispatch}, {&v.Combine, &r.Combine}} {
		st := statsOf(k.src)
		*k.dst = kernelJSON{KernelSummary: *k.src, RankFinishStats: st.RankFinish, PortUtilStats: st.Ports}
	}
	return v
}

func (v *resultJSON) result() *scenarios.Result {
	return &scenarios.Result{Meta: v.Meta, Routing: v.Routing, Dispatch: v.Dispatch.KernelSummary,
		Combine: v.Combine.KernelSummary, Compute: v.Compute, Overlap: v.Overlap, Step: v.Step, Scenario: v.Scenario}
}

// MarshalResult is a run's JSON on one line, without a newline: the form
// a sweep file's "result" holds. It is `moesim run --format json` compacted.
func MarshalResult(r *scenarios.Result) ([]byte, error) {
	return json.Marshal(viewOf(r))
}

func writeResultJSON(w io.Writer, r *scenarios.Result) error {
	return writeIndented(w, viewOf(r))
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// intervalJSON is an Interval; the spread and interval are null with
// fewer than two values.
type intervalJSON struct {
	N         int      `json:"n"`
	Mean      float64  `json:"mean"`
	StdDev    *float64 `json:"stddev"`
	Low       *float64 `json:"ci95_low"`
	High      *float64 `json:"ci95_high"`
	HalfWidth *float64 `json:"ci95_half_width"`
}

func intervalOf(iv Interval) intervalJSON {
	j := intervalJSON{N: iv.N, Mean: iv.Mean}
	if iv.OK {
		sd, lo, hi, hw := iv.StdDev, iv.Low(), iv.High(), iv.HalfWidth
		j.StdDev, j.Low, j.High, j.HalfWidth = &sd, &lo, &hi, &hw
	}
	return j
}

// metricIntervals are the headline metrics' intervals as one JSON object
// keyed by metric name, in headline order.
type metricIntervals []Interval

func (m metricIntervals) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, iv := range m {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(headline[i].Name)
		buf.Write(k)
		buf.WriteByte(':')
		b, err := json.Marshal(intervalOf(iv))
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

type seedGroupJSON struct {
	Group   values          `json:"group"`
	Seeds   []uint64        `json:"seeds"`
	Metrics metricIntervals `json:"metrics"`
}

type setJSON struct {
	Sweep struct {
		Vary   []string `json:"vary"`
		Points int      `json:"points"`
	} `json:"sweep"`
	SeedStats []seedGroupJSON `json:"seed_stats"`
	Points    []lineJSON      `json:"points"`
}

func writeSetJSON(w io.Writer, s *Set) error {
	var v setJSON
	v.Sweep.Vary = s.Vary
	if v.Sweep.Vary == nil {
		v.Sweep.Vary = []string{}
	}
	v.Sweep.Points = len(s.Rows)
	v.SeedStats = []seedGroupJSON{}
	for _, g := range seedGroups(s) {
		v.SeedStats = append(v.SeedStats, seedGroupJSON(g))
	}
	for _, r := range s.Rows {
		v.Points = append(v.Points, lineOf(r))
	}
	if v.Points == nil {
		v.Points = []lineJSON{}
	}
	return writeIndented(w, v)
}
