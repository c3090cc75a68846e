package calibrate

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/moesim/moesim/topology"
)

// truth is what a synthetic GPU is made of.
type truth struct {
	smGBps, warpGBps, overheadNs, handshakeNs, reduceGBps, nvlGBps, latUs float64
}

// synthetic makes a profile of a GPU with the given constants, with
// multiplicative noise of up to ±noise on every time, and a saturation
// ceiling so the curve flattens as real ones do.
func synthetic(tr truth, noise float64, seed uint64) *Profile {
	rng := rand.New(rand.NewPCG(seed, 1))
	jit := func(v float64) float64 { return v * (1 + noise*(2*rng.Float64()-1)) }
	p := &Profile{KitVersion: "test", Created: "now", GPU: GPUInfo{Name: "Synthetic", SMs: 132}}
	for _, kind := range []string{"local", "nvlink_store"} {
		ceil := 3000.0
		if kind == "nvlink_store" {
			ceil = tr.nvlGBps
		}
		for _, sms := range []int{1, 2, 4, 8, 16, 24, 32, 48, 64} {
			g := jit(math.Min(tr.smGBps*float64(sms), ceil))
			p.CopySMs = append(p.CopySMs, CopyPoint{Kind: kind, Path: "v16", SMs: sms, WarpsPerSM: 32, Bytes: 1e9, Seconds: 1 / g, GBps: g})
		}
		for _, rec := range []float64{512, 1024, 7168, 14336} {
			for _, w := range []int{1, 2, 4, 8} {
				per := jit(tr.overheadNs*1e-9 + rec/(tr.warpGBps*1e9))
				n := 10000.0
				secs := per * n / float64(w)
				p.CopyWarps = append(p.CopyWarps, CopyPoint{Kind: kind, Path: "v16", SMs: 1, WarpsPerSM: w, RecordBytes: rec, Records: n,
					Bytes: rec * n, Seconds: secs, GBps: rec * n / secs / 1e9})
			}
		}
	}
	for _, rec := range []float64{1024, 7168, 14336} {
		for _, n := range []int{1, 2, 4, 8, 16, 32, 64} {
			per := jit(tr.handshakeNs*1e-9 + float64(n)*(tr.overheadNs*1e-9+rec/(tr.warpGBps*1e9)))
			p.Handshake = append(p.Handshake, Handshake{Link: "nvlink", RecordsPerChunk: n, RecordBytes: rec, Chunks: 1000, Seconds: per * 1000, SecondsPerChunk: per})
		}
	}
	for _, k := range []int{1, 2, 4, 8} {
		for _, sms := range []int{1, 2, 4, 8, 16, 32} {
			g := jit(math.Min(tr.reduceGBps*float64(sms), 3000))
			p.Reduce = append(p.Reduce, ReducePoint{K: k, SMs: sms, Hidden: 7168, Tokens: 4096, BytesRead: 1e9, Seconds: 1 / g, GBps: g})
		}
	}
	p.NVLinkBW = []NVLinkPoint{{Direction: "uni", Engine: "sm", SMs: 64, Bytes: 1e9, Seconds: 1 / tr.nvlGBps, GBpsPerDirection: tr.nvlGBps},
		{Direction: "bi", Engine: "sm", SMs: 64, Bytes: 1e9, Seconds: 1, GBpsPerDirection: 0.9 * tr.nvlGBps}}
	p.FlagLatency = []FlagLatency{{Link: "nvlink", RoundTrips: 1000, Seconds: 2e-3 * tr.latUs, OneWaySeconds: jit(tr.latUs * 1e-6)}}
	p.NIC = &NIC{Name: "test NIC", GBps: SourcedNum{50, "datasheet"}, Latency: SourcedNum{2.8e-6, "paper"}, MessageRate: SourcedNum{200e6, "brief"}}
	return p
}

func TestFitRecoversSyntheticConstantsWithNoise(t *testing.T) {
	base, _ := topology.PresetHardware("h800")
	for seed := uint64(1); seed <= 5; seed++ {
		tr := truth{smGBps: 20 + 10*float64(seed), warpGBps: 4 + float64(seed), overheadNs: 400 + 100*float64(seed),
			handshakeNs: 800 + 300*float64(seed), reduceGBps: 15 + 5*float64(seed), nvlGBps: 350, latUs: 1.5}
		h, err := Fit(synthetic(tr, 0.03, seed), base, "synthetic", "synthetic.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			key  string
			want float64
			tol  float64
		}{
			{"sm_copy_GBps", tr.smGBps, 0.05}, {"warp_copy_GBps", tr.warpGBps, 0.10}, {"record_overhead_ns", tr.overheadNs, 0.15},
			{"chunk_handshake_ns", tr.handshakeNs, 0.25}, {"sm_reduce_GBps", tr.reduceGBps, 0.05}, {"nvlink_GBps", tr.nvlGBps, 0.01},
			{"nvlink_latency_us", tr.latUs, 0.05},
		} {
			got := h.Constants[c.key].Value
			if math.Abs(got/c.want-1) > c.tol {
				t.Errorf("seed %d: %s = %g, want %g within %.0f%%", seed, c.key, got, c.want, 100*c.tol)
			}
			if h.Constants[c.key].Kind != topology.Measured {
				t.Errorf("%s kind %s, want measured", c.key, h.Constants[c.key].Kind)
			}
		}
		// What the kit cannot measure keeps the base's value and kind.
		if v := h.Constants["nvlink_efficiency"]; v.Kind != topology.Fitted || v.Value != base.Constants["nvlink_efficiency"].Value {
			t.Errorf("nvlink_efficiency = %+v, want base's fitted value", v)
		}
	}
}

func TestFitIsDeterministic(t *testing.T) {
	base, _ := topology.PresetHardware("h800")
	p := synthetic(truth{30, 6, 600, 1500, 25, 360, 2}, 0.05, 7)
	a, err := Fit(p, base, "x", "x.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Fit(p, base, "x", "x.json")
	if string(a.Format("h")) != string(b.Format("h")) {
		t.Error("two fits of one profile differ")
	}
}

func TestParseRefusesBadProfilesNamingTheField(t *testing.T) {
	good, err := json.Marshal(synthetic(truth{30, 6, 600, 1500, 25, 360, 2}, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(good); err != nil {
		t.Fatalf("good profile refused: %v", err)
	}
	for _, tc := range []struct{ old, new, want string }{
		{`"kit_version":"test"`, `"kit_version":""`, "kit_version is empty"},
		{`"sms":132`, `"sms":0`, "gpu.sms = 0"},
		{`"kind":"local"`, `"kind":"pcie"`, `copy_sms[0].kind = "pcie"`},
		{`"bandwidth_GBps_per_direction":{"value":50`, `"bandwidth_GBps_per_direction":{"value":-50`, "nic.bandwidth_GBps_per_direction.value = -50"},
		{`"source":"datasheet"`, `"source":""`, "nic.bandwidth_GBps_per_direction.source is empty"},
		{`"kit_version"`, `"kit_versoin"`, `unknown field "kit_versoin"`},
	} {
		bad := strings.Replace(string(good), tc.old, tc.new, 1)
		if bad == string(good) {
			t.Fatalf("replacement %q not applied", tc.old)
		}
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.new, err, tc.want)
		}
	}
	if _, err := Parse(append(good, []byte("{}")...)); err == nil {
		t.Error("trailing data accepted")
	}
}

func TestFitRefusesMissingPoints(t *testing.T) {
	base, _ := topology.PresetHardware("h800")
	for _, tc := range []struct {
		cut  func(*Profile)
		want string
	}{
		{func(p *Profile) { p.CopySMs = p.CopySMs[:1] }, "copy_sms"},
		{func(p *Profile) { p.CopyWarps = nil }, "copy_warps"},
		{func(p *Profile) { p.Handshake = p.Handshake[:1] }, "handshake"},
		{func(p *Profile) { p.Reduce = nil }, "reduce"},
		{func(p *Profile) { p.NVLinkBW = nil }, "nvlink_bw"},
		{func(p *Profile) { p.FlagLatency = nil }, "flag_latency"},
		{func(p *Profile) { p.NIC = nil }, "nic is absent"},
	} {
		p := synthetic(truth{30, 6, 600, 1500, 25, 360, 2}, 0, 1)
		tc.cut(p)
		if _, err := Fit(p, base, "x", "x.json"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
