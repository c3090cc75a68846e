package calibrate

import (
	"math"
	"strings"
	"testing"

	"github.com/moesim/moesim/topology"
)

func h800(t *testing.T) *topology.Hardware {
	t.Helper()
	h, ok := topology.PresetHardware("h800")
	if !ok {
		t.Fatal("no h800 preset")
	}
	// A copy: the preset is shared.
	c := *h
	c.Constants = map[string]topology.Value{}
	for k, v := range h.Constants {
		c.Constants[k] = v
	}
	return &c
}

// interferenceProfile is a GPU whose copies run 12% slower beside a GEMM
// (clock 1980 -> 1760 MHz), whose GEMMs slow by 0.4 × the copies' HBM
// share, and whose copy blocks all start 3 µs after the first.
func interferenceProfile() *Profile {
	p := &Profile{KitVersion: "test", GPU: GPUInfo{Name: "Synthetic", SMs: 132}}
	for i, sms := range []int{4, 8, 16, 24} {
		alone := 30.0 * float64(sms)
		with := alone * 0.88
		u := 2 * with / 3350 // copy_hbm_bytes_per_byte 2, hbm 3350 GB/s (h800)
		gemm := 1e-3 * (1 + 0.01*float64(i))
		p.Interference = append(p.Interference, Interference{CopyKind: "nvlink_store", CopySMs: sms, Carveout: true,
			CopyGBpsAlone: alone, CopyGBpsWithGEMM: with, GEMMSecondsAlone: gemm, GEMMSecondsWithCopy: gemm * (1 + 0.4*u),
			SMClockAlone: 1980, SMClockTogether: 1760, GEMMDType: "fp8", M: 4096, N: 7168, K: 7168})
		// Without a carve-out the GEMM's SMs are what slows the copy:
		// such points must not move the clock drop.
		p.Interference = append(p.Interference, Interference{CopyKind: "nvlink_store", CopySMs: sms, Carveout: false,
			CopyGBpsAlone: alone, CopyGBpsWithGEMM: alone * 0.3, GEMMSecondsAlone: gemm, GEMMSecondsWithCopy: gemm * 2})
	}
	for _, sms := range []int{8, 20, 32} {
		p.NoCarveout = append(p.NoCarveout, NoCarveout{CopySMs: sms, GEMMSeconds: 2e-3, GEMMWaves: 8,
			CopyLaunchToFirstBlockSecs: 40e-6, CopyLaunchToAllBlocksSecs: 43e-6})
	}
	return p
}

func TestFitInterferenceRecoversConstants(t *testing.T) {
	h := h800(t)
	if err := FitInterference(interferenceProfile(), h, "p.json"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  string
		want float64
	}{{"gemm_clock_drop", 0.12}, {"gemm_hbm_sensitivity", 0.4}, {"comm_sm_wait_us", 3}} {
		v := h.Constants[c.key]
		if math.Abs(v.Value-c.want) > 0.01*c.want {
			t.Errorf("%s = %g, want %g", c.key, v.Value, c.want)
		}
		if v.Kind != topology.Measured || !strings.HasPrefix(v.Source, "p.json: ") {
			t.Errorf("%s: kind %s source %q, want measured from p.json", c.key, v.Kind, v.Source)
		}
	}
	if src := h.Constants["gemm_clock_drop"].Source; !strings.Contains(src, "4 carve-out points") || !strings.Contains(src, "0.111") {
		t.Errorf("gemm_clock_drop source %q: want the point count and the clock's own drop", src)
	}
	if v := h.Constants["copy_hbm_bytes_per_byte"]; v.Kind != topology.Assumed || v.Value != 2 {
		t.Errorf("copy_hbm_bytes_per_byte = %+v, want the base's assumed 2", v)
	}
	if err := h.Check(); err != nil {
		t.Errorf("fitted hardware: %v", err)
	}
}

func TestFitInterferenceKeepsBaseWithoutPoints(t *testing.T) {
	h, base := h800(t), h800(t)
	p := &Profile{KitVersion: "test", GPU: GPUInfo{Name: "Synthetic", SMs: 132}}
	if err := FitInterference(p, h, "p.json"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"gemm_clock_drop", "gemm_hbm_sensitivity", "comm_sm_wait_us"} {
		if h.Constants[k] != base.Constants[k] {
			t.Errorf("%s = %+v without points, want the base's %+v", k, h.Constants[k], base.Constants[k])
		}
	}
}

func TestFitInterferenceClampsAndRejects(t *testing.T) {
	// A copy faster beside the GEMM (noise) clamps the drop at 0.
	p := interferenceProfile()
	for i := range p.Interference {
		p.Interference[i].CopyGBpsWithGEMM = p.Interference[i].CopyGBpsAlone * 1.02
	}
	h := h800(t)
	if err := FitInterference(p, h, "p.json"); err != nil {
		t.Fatal(err)
	}
	if v := h.Constants["gemm_clock_drop"].Value; v != 0 {
		t.Errorf("gemm_clock_drop = %g from faster copies, want clamped to 0", v)
	}
	p = interferenceProfile()
	p.NoCarveout[1].CopyLaunchToAllBlocksSecs = math.Inf(1)
	if err := FitInterference(p, h800(t), "p.json"); err == nil ||
		!strings.Contains(err.Error(), "no_carveout[1].copy_launch_to_all_blocks_seconds = +Inf") {
		t.Errorf("infinite point: %v", err)
	}
	p = interferenceProfile()
	p.Interference[2].GEMMSecondsWithCopy = -1
	if err := FitInterference(p, h800(t), "p.json"); err == nil ||
		!strings.Contains(err.Error(), "interference[2].gemm_seconds_with_copy = -1") {
		t.Errorf("negative point: %v", err)
	}
}
