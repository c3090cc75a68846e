package calibrate

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat"

	"github.com/moesim/moesim/topology"
)

// Fit derives a hardware file from a profile. Constants the kit measures
// come from its points; the rest (the node's size, the GPU's datasheet
// rates, launch cost, the fitted link efficiencies) come from base, each
// keeping base's source; the NIC comes from the profile's documented NIC
// input. name is the hardware's name; from names the profile in sources.
// The fit is deterministic: the same profile gives the same bytes.
func Fit(p *Profile, base *topology.Hardware, name, from string) (*topology.Hardware, error) {
	h := &topology.Hardware{
		Name:        name,
		Description: fmt.Sprintf("%s, calibrated from %s (kit %s, %s, %d SMs)", p.GPU.Name, from, p.KitVersion, p.Created, p.GPU.SMs),
		DerivedFrom: from,
		Constants:   map[string]topology.Value{},
	}
	for k, v := range base.Constants {
		if v.Kind != topology.Fitted && v.Kind != topology.Published {
			v.Source = fmt.Sprintf("from base preset %s (%s): %s", base.Name, v.Kind, v.Source)
		}
		h.Constants[k] = v
	}
	set := func(key string, v float64, src string) {
		h.Constants[key] = topology.Value{Value: round(v), Kind: topology.Measured, Source: from + ": " + src}
	}
	set("sms", float64(p.GPU.SMs), "gpu.sms as the device reports it")

	sm, err := fitSMCopy(p.CopySMs)
	if err != nil {
		return nil, err
	}
	set("sm_copy_GBps", sm.rate, sm.src)

	w, err := fitWarp(p.CopyWarps)
	if err != nil {
		return nil, err
	}
	set("warp_copy_GBps", w.rate, w.src)
	set("record_overhead_ns", w.overheadNs, w.src)

	hs, err := fitHandshake(p.Handshake)
	if err != nil {
		return nil, err
	}
	set("chunk_handshake_ns", hs.ns, hs.src)

	red, err := fitReduce(p.Reduce)
	if err != nil {
		return nil, err
	}
	set("sm_reduce_GBps", red.rate, red.src)

	if bw, src, ok := fitNVLinkBW(p.NVLinkBW); ok {
		set("nvlink_GBps", bw, src)
	} else {
		return nil, fmt.Errorf("profile: nvlink_bw has no \"uni\" point; the kit needs two GPUs of one node to measure NVLink")
	}
	if lat, src, ok := fitFlagLatency(p.FlagLatency); ok {
		set("nvlink_latency_us", lat, src)
	} else {
		return nil, fmt.Errorf("profile: flag_latency has no \"nvlink\" point; the kit needs two GPUs of one node to measure NVLink latency")
	}
	if err := FitInterference(p, h, from); err != nil {
		return nil, err
	}
	if p.NIC == nil {
		return nil, fmt.Errorf("profile: nic is absent; the kit cannot measure the NIC on one node: run it with --nic FILE naming the NIC's documented figures")
	}
	nic := func(key string, n SourcedNum) {
		h.Constants[key] = topology.Value{Value: n.Value, Kind: topology.Published, Source: fmt.Sprintf("%s (via %s nic input)", n.Source, p.NIC.Name)}
	}
	nic("nic_GBps", p.NIC.GBps)
	nic("ib_latency_us", SourcedNum{p.NIC.Latency.Value * 1e6, p.NIC.Latency.Source})
	nic("nic_message_rate_Mps", SourcedNum{p.NIC.MessageRate.Value / 1e6, p.NIC.MessageRate.Source})
	return h, h.Check()
}

// round keeps four significant digits: the fit's noise is larger, and a
// short number reads better in a hardware file and in diffs.
func round(v float64) float64 {
	if v == 0 {
		return 0
	}
	d := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*d) / d
}

type rateFit struct {
	rate float64
	src  string
}

// preferKind returns the points of the first kind in kinds that has any.
func preferKind[T any](pts []T, kind func(T) string, kinds ...string) ([]T, string) {
	for _, k := range kinds {
		var out []T
		for _, p := range pts {
			if kind(p) == k {
				out = append(out, p)
			}
		}
		if len(out) > 0 {
			return out, k
		}
	}
	return nil, ""
}

// perUnitSlope is the least-squares slope through the origin of y over x
// for the points below saturation (y at most 3/4 of the largest y), at
// least the two of smallest x: the rate one SM adds while the aggregate
// is not yet bound by HBM or the link.
func perUnitSlope(x, y []float64) (slope float64, used int) {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	top := slices.Max(y)
	var sxy, sxx float64
	for n, i := range idx {
		if n >= 2 && y[i] > 0.75*top {
			continue
		}
		sxy += x[i] * y[i]
		sxx += x[i] * x[i]
		used++
	}
	return sxy / sxx, used
}

func fitSMCopy(pts []CopyPoint) (rateFit, error) {
	sel, kind := preferKind(pts, func(c CopyPoint) string { return c.Kind }, "nvlink_store", "local")
	var v16 []CopyPoint
	for _, c := range sel {
		if c.Path == "" || c.Path == "v16" {
			v16 = append(v16, c)
		}
	}
	if distinct(v16, func(c CopyPoint) float64 { return float64(c.SMs) }) < 2 {
		return rateFit{}, fmt.Errorf("profile: copy_sms has %d v16 points of kind %q over fewer than 2 SM counts; want the saturation curve (1..64 SMs)", len(v16), kind)
	}
	x, y := make([]float64, len(v16)), make([]float64, len(v16))
	for i, c := range v16 {
		x[i], y[i] = float64(c.SMs), c.GBps
	}
	slope, used := perUnitSlope(x, y)
	return rateFit{slope, fmt.Sprintf("copy_sms, %s 16-byte copies: slope of GB/s over SMs through the origin on the %d points below 3/4 of the peak %.1f GB/s", kind, used, slices.Max(y))}, nil
}

func distinct[T any](pts []T, key func(T) float64) int {
	seen := map[float64]bool{}
	for _, p := range pts {
		seen[key(p)] = true
	}
	return len(seen)
}

type warpFit struct {
	rate, overheadNs float64
	src              string
}

// fitWarp fits one warp's time per record, t = overhead + bytes/rate, on
// the points with one warp on one SM.
func fitWarp(pts []CopyPoint) (warpFit, error) {
	var one []CopyPoint
	for _, c := range pts {
		if c.WarpsPerSM == 1 && c.SMs == 1 {
			one = append(one, c)
		}
	}
	sel, kind := preferKind(one, func(c CopyPoint) string { return c.Kind }, "nvlink_store", "local")
	if distinct(sel, func(c CopyPoint) float64 { return c.RecordBytes }) < 2 {
		return warpFit{}, fmt.Errorf("profile: copy_warps has %d one-warp, one-SM points over fewer than 2 record sizes; want record_bytes such as 1024, 7168, 14336 to fit the per-record overhead apart from the per-warp rate", len(sel))
	}
	x, y := make([]float64, len(sel)), make([]float64, len(sel))
	for i, c := range sel {
		x[i], y[i] = c.RecordBytes, c.Seconds/c.Records
	}
	alpha, beta := stat.LinearRegression(x, y, nil, false)
	if !(beta > 0) {
		return warpFit{}, fmt.Errorf("profile: copy_warps: one warp's time per record does not grow with record_bytes (slope %g s/B); the points are inconsistent", beta)
	}
	r2 := stat.RSquared(x, y, nil, alpha, beta)
	alpha = max(alpha, 0)
	return warpFit{1 / beta / 1e9, alpha * 1e9,
		fmt.Sprintf("copy_warps, one warp on one SM, %s: time per record = overhead + bytes/rate, least squares on %d points (R² %.3f)", kind, len(sel), r2)}, nil
}

type handshakeFit struct {
	ns  float64
	src string
}

// fitHandshake fits, for each record size, time per chunk = handshake +
// records × per-record time, and takes the median intercept.
func fitHandshake(pts []Handshake) (handshakeFit, error) {
	sel, link := preferKind(pts, func(h Handshake) string { return h.Link }, "nvlink", "local")
	// The model charges the producer's own cost per chunk; the consumer's
	// credit coming back is modelled apart (a latency and ring room). So
	// fit on the rows where producer and consumer overlap (a ring of at
	// least two chunks), where the intercept is the producer's fence and
	// tail store; lockstep rows also pay the round trip.
	var deep []Handshake
	for _, h := range sel {
		if h.RingRecords == 0 || h.RingRecords >= 2*float64(h.RecordsPerChunk) {
			deep = append(deep, h)
		}
	}
	sel = deep
	groups := map[float64][]Handshake{}
	for _, h := range sel {
		groups[h.RecordBytes] = append(groups[h.RecordBytes], h)
	}
	var sizes []float64
	for r := range groups {
		sizes = append(sizes, r)
	}
	sort.Float64s(sizes)
	var icepts []float64
	for _, r := range sizes {
		g := groups[r]
		if distinct(g, func(h Handshake) float64 { return float64(h.RecordsPerChunk) }) < 2 {
			continue
		}
		x, y := make([]float64, len(g)), make([]float64, len(g))
		for i, h := range g {
			x[i], y[i] = float64(h.RecordsPerChunk), h.SecondsPerChunk
		}
		a, _ := stat.LinearRegression(x, y, nil, false)
		icepts = append(icepts, a)
	}
	if len(icepts) == 0 {
		return handshakeFit{}, fmt.Errorf("profile: handshake has no record size with 2 or more chunk sizes; want records_per_chunk 1..64 to fit the per-chunk cost apart from the per-record cost")
	}
	sort.Float64s(icepts)
	med := stat.Quantile(0.5, stat.Empirical, icepts, nil)
	return handshakeFit{max(med, 0) * 1e9,
		fmt.Sprintf("handshake over %s, rings of two chunks or more: time per chunk = handshake + records × per-record time, least squares per record size; median intercept of %d sizes", link, len(icepts))}, nil
}

func fitReduce(pts []ReducePoint) (rateFit, error) {
	var x, y []float64
	for _, r := range pts {
		if r.K >= 2 {
			x, y = append(x, float64(r.SMs)), append(y, r.GBps)
		}
	}
	if distinct(pts, func(r ReducePoint) float64 { return float64(r.SMs) }) < 2 || len(x) < 2 {
		return rateFit{}, fmt.Errorf("profile: reduce has %d points with k >= 2 over fewer than 2 SM counts; want k = 2..8 rows against SMs", len(x))
	}
	slope, used := perUnitSlope(x, y)
	return rateFit{slope, fmt.Sprintf("reduce, k = 2..8 BF16 rows: slope of input GB/s over SMs through the origin on the %d points below 3/4 of the peak", used)}, nil
}

// fitNVLinkBW takes the best one-way rate of SM stores, the path
// DeepEP's kernels use; the copy engine's rate, when measured, is named in
// the source.
func fitNVLinkBW(pts []NVLinkPoint) (float64, string, bool) {
	best := map[string]float64{}
	for _, n := range pts {
		key := n.Direction + "/" + n.Engine
		best[key] = max(best[key], n.GBpsPerDirection)
	}
	engine := "sm"
	if best["uni/sm"] == 0 {
		engine = "copy_engine"
	}
	v := best["uni/"+engine]
	if v == 0 {
		return 0, "", false
	}
	src := fmt.Sprintf("nvlink_bw: best one-direction rate of %s stores between the two GPUs", engine)
	if bi := best["bi/"+engine]; bi > 0 {
		src += fmt.Sprintf("; both directions at once %.1f GB/s each", bi)
	}
	if ce := best["uni/copy_engine"]; ce > 0 && engine != "copy_engine" {
		src += fmt.Sprintf("; the copy engine reached %.1f GB/s", ce)
	}
	return v, src, true
}

func fitFlagLatency(pts []FlagLatency) (float64, string, bool) {
	var v []float64
	for _, l := range pts {
		if l.Link == "nvlink" {
			v = append(v, l.OneWaySeconds*1e6)
		}
	}
	if len(v) == 0 {
		return 0, "", false
	}
	sort.Float64s(v)
	return stat.Quantile(0.5, stat.Empirical, v, nil), fmt.Sprintf("flag_latency: median one-way time of %d NVLink flag ping-pongs (half the round trip)", len(v)), true
}
