package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/moesim/moesim/scenarios"
)

func render(t *testing.T, rep Reporter, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var goldenExt = map[string]string{"table": "txt", "markdown": "md", "csv": "csv", "json": "json", "html": "html"}

func TestGoldenRun(t *testing.T) {
	res := fixtureResult(42, 20)
	for _, f := range Formats {
		t.Run(f, func(t *testing.T) {
			rep, err := For(f, res)
			got := render(t, rep, err)
			golden(t, "run.golden."+goldenExt[f], got)
			// Rendering twice gives the same bytes.
			if again := render(t, rep, nil); !bytes.Equal(got, again) {
				t.Fatal("two renderings differ")
			}
		})
	}
}

func TestGoldenSweep(t *testing.T) {
	set := fixtureSet()
	for _, f := range Formats {
		t.Run(f, func(t *testing.T) {
			rep, err := ForSet(f, set)
			golden(t, "sweep.golden."+goldenExt[f], render(t, rep, err))
		})
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := For("yaml", fixtureResult(1, 8)); err == nil || !strings.Contains(err.Error(), `"yaml"`) ||
		!strings.Contains(err.Error(), "html") {
		t.Fatalf("For(yaml) = %v, want an error naming the value and the formats", err)
	}
}

// The JSON view must carry every field of scenarios.Result, in order.
func TestResultJSONMirrorsResult(t *testing.T) {
	rt, vt := reflect.TypeFor[scenarios.Result](), reflect.TypeFor[resultJSON]()
	if rt.NumField() != vt.NumField() {
		t.Fatalf("scenarios.Result has %d fields, resultJSON %d: add the new field to resultJSON", rt.NumField(), vt.NumField())
	}
	for i := range rt.NumField() {
		if rt.Field(i).Name != vt.Field(i).Name || rt.Field(i).Tag.Get("json") != vt.Field(i).Tag.Get("json") {
			t.Errorf("field %d: Result has %s %q, resultJSON %s %q", i, rt.Field(i).Name, rt.Field(i).Tag,
				vt.Field(i).Name, vt.Field(i).Tag)
		}
	}
}

func TestJSONContract(t *testing.T) {
	rep, err := For("json", fixtureResult(3, 16))
	var m map[string]map[string]any
	if err := json.Unmarshal(render(t, rep, err), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"dispatch", "combine"} {
		for _, f := range []string{"time_us", "rdma_GBps", "nvl_GBps", "bottleneck", "rank_finish_us", "rank_finish_stats", "port_util", "port_util_stats"} {
			if _, ok := m[k][f]; !ok {
				t.Errorf("JSON lacks %s.%s", k, f)
			}
		}
	}
	for _, f := range []string{"layer_us", "hidden_fraction", "exposed_comm_us"} {
		if _, ok := m["overlap"][f]; !ok {
			t.Errorf("JSON lacks overlap.%s", f)
		}
	}
	for _, f := range []string{"run_id", "version", "seed"} {
		if _, ok := m["meta"][f]; !ok {
			t.Errorf("JSON lacks meta.%s", f)
		}
	}
	kernel, _ := m["scenario"]["kernel"].(map[string]any)
	if kernel["num_sms"] != 16.0 {
		t.Errorf("scenario.kernel.num_sms = %v, want 16 (scenario JSON uses the YAML paths)", kernel["num_sms"])
	}
}

// JSON parses back to exactly the result it came from.
func TestJSONRoundTrip(t *testing.T) {
	res := fixtureResult(5, 24)
	rep, err := For("json", res)
	data := render(t, rep, err)
	var v resultJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if got := v.result(); !reflect.DeepEqual(got, res) {
		t.Fatalf("round trip changed the result:\n got %+v\nwant %+v", got, res)
	}
	if want := Describe(res.Dispatch.RankFinishUs); v.Dispatch.RankFinishStats != want {
		t.Fatalf("rank_finish_stats = %+v, want %+v", v.Dispatch.RankFinishStats, want)
	}
	// MarshalResult is the same JSON, compacted.
	line, err := MarshalResult(res)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(line, compact.Bytes()) {
		t.Fatal("MarshalResult differs from the compacted --format json")
	}
}

// CSV cells parse back to exactly the numbers of the result.
func TestCSVRoundTrip(t *testing.T) {
	set := fixtureSet()
	rep, err := ForSet("csv", set)
	recs, err := csv.NewReader(bytes.NewReader(render(t, rep, err))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := recs[0]
	if head[0] != "point" || head[1] != "kernel.num_sms" || head[2] != "seed" {
		t.Fatalf("header starts %v, want point and the varied paths", head[:3])
	}
	if len(recs) != 1+len(set.Rows) {
		t.Fatalf("%d records, want %d", len(recs), 1+len(set.Rows))
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for i, row := range set.Rows {
		rec, r := recs[i+1], row.Result
		num := func(name string) float64 {
			x, err := strconv.ParseFloat(rec[col[name]], 64)
			if err != nil {
				t.Fatalf("row %d %s: %v", i, name, err)
			}
			return x
		}
		if rec[0] != strconv.Itoa(row.Point.Index) || rec[col["run_id"]] != r.Meta.RunID {
			t.Errorf("row %d: point %s run %s, want %d %s", i, rec[0], rec[col["run_id"]], row.Point.Index, r.Meta.RunID)
		}
		for _, m := range headline {
			if got, want := num(m.Name), m.Get(r); got != want {
				t.Errorf("row %d %s = %v, want exactly %v", i, m.Name, got, want)
			}
		}
		d := Describe(r.Combine.RankFinishUs)
		if got := num("combine.rank_finish_stats.p99"); got != d.P99 {
			t.Errorf("row %d combine p99 = %v, want %v", i, got, d.P99)
		}
		if got := num("dispatch.ib_util.max"); got != r.Dispatch.IBUtil.Max {
			t.Errorf("row %d dispatch.ib_util.max = %v, want %v", i, got, r.Dispatch.IBUtil.Max)
		}
	}
}

func TestSetSortedByPoint(t *testing.T) {
	set := fixtureSet()
	for i, row := range set.Rows {
		if row.Point.Index != i {
			t.Fatalf("row %d holds point %d", i, row.Point.Index)
		}
	}
}

func TestSeedGroups(t *testing.T) {
	groups := seedGroups(fixtureSet())
	if len(groups) != 3 {
		t.Fatalf("%d groups, want one per kernel.num_sms", len(groups))
	}
	g := groups[1]
	if len(g.Group) != 1 || g.Group[0].Value != "16" || len(g.Seeds) != 3 {
		t.Fatalf("group 1 = %+v, want kernel.num_sms=16 over 3 seeds", g)
	}
	var xs []float64
	for _, seed := range []uint64{1, 2, 3} {
		xs = append(xs, fixtureResult(seed, 16).Overlap.LayerUs)
	}
	if want := MeanCI95(xs); g.Metrics[6] != want || headline[6].Name != "overlap.layer_us" {
		t.Fatalf("layer interval = %+v, want %+v", g.Metrics[6], want)
	}
	if seedGroups(&Set{Vary: []string{"kernel.num_sms"}}) != nil {
		t.Fatal("a set that does not vary the seed has seed groups")
	}
}

func TestHTMLPlotsOmittedWithReason(t *testing.T) {
	rep, err := For("html", fixtureResult(1, 8))
	page := string(render(t, rep, err))
	for _, want := range []string{
		"<strong>Layer time against communication SMs.</strong> Omitted:",
		"<strong>Bandwidth against GPUs per node visit.</strong> Omitted:",
		"<svg", "Per-rank finish times", "Per-link utilization: dispatch",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("single-run HTML lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "http://") && !strings.Contains(page, "http://www.w3.org/") {
		t.Error("HTML must be self-contained")
	}
	rep, err = ForSet("html", fixtureSet())
	page = string(render(t, rep, err))
	if strings.Contains(page, "Omitted:") {
		t.Error("the sweep varies num_sms and the visit: no plot should be omitted")
	}
	if n := strings.Count(page, "<svg"); n != 4 {
		t.Errorf("sweep HTML has %d plots, want 4", n)
	}
}

// TestExtrapolationInEveryFormat: a run beyond DeepEP V1's limits says so
// in every format, with the reason.
func TestExtrapolationInEveryFormat(t *testing.T) {
	res := fixtureResult(42, 20)
	const reason = "cluster.gpus_per_node = 72 is above NUM_MAX_NVL_PEERS = 8"
	for _, k := range []*scenarios.KernelSummary{&res.Dispatch, &res.Combine} {
		k.Extrapolated, k.ExtrapolationReason = true, reason
	}
	for _, f := range Formats {
		rep, err := For(f, res)
		out := string(render(t, rep, err))
		switch f {
		case "table", "markdown", "html":
			first := strings.SplitN(out, "\n", 2)[0]
			if f == "html" {
				first = out
			}
			if !strings.Contains(first, "EXTRAPOLATED") || !strings.Contains(first, "NUM_MAX_NVL_PEERS") {
				t.Errorf("%s: heading lacks the extrapolation and its reason:\n%.400s", f, first)
			}
		case "csv":
			recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			col := -1
			for i, c := range recs[0] {
				if c == "extrapolated" {
					col = i
				}
			}
			if col < 0 || recs[1][col] != "true" || !strings.Contains(recs[1][col+1], "NUM_MAX_NVL_PEERS") {
				t.Errorf("csv: extrapolated column missing or not true: %v", recs)
			}
		case "json":
			var m struct {
				Dispatch struct {
					Extrapolated bool   `json:"extrapolated"`
					Reason       string `json:"extrapolation_reason"`
				} `json:"dispatch"`
			}
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatal(err)
			}
			if !m.Dispatch.Extrapolated || m.Dispatch.Reason != reason {
				t.Errorf("json: dispatch.extrapolated = %v, reason %q", m.Dispatch.Extrapolated, m.Dispatch.Reason)
			}
		}
	}
}
