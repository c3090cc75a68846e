package calibrate

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat"

	"github.com/moesim/moesim/topology"
)

// FitInterference sets the interference constants (topology.Constants
// gemm_clock_drop, gemm_hbm_sensitivity, comm_sm_wait_us) of h from the
// profile's interference and no_carveout points, each as measured with the
// points it came from in its source; a constant whose points the profile
// lacks keeps h's value and source. copy_hbm_bytes_per_byte is not
// measured by the kit (it needs HBM counters) and always keeps h's value;
// gemm_hbm_sensitivity is fitted with it and with h's hbm_GBps. from names
// the profile in sources. A point with a non-finite or negative number is
// an error naming it. The fit is deterministic.
//
// The model (docs/model.md, "Interference") it fits:
//
//   - a copy kernel beside a math-bound GEMM runs at (1 - gemm_clock_drop)
//     of its rate alone: gemm_clock_drop = 1 - copy_GBps_with_gemm /
//     copy_GBps_alone, the median over the carve-out points (the GEMM and
//     the copy on disjoint SMs, so the SMs are not what slows the copy);
//   - the GEMM beside the copy stretches by 1 + gemm_hbm_sensitivity × u,
//     u = copy_hbm_bytes_per_byte × copy_GBps_with_gemm / hbm_GBps the
//     HBM share the copy takes: gemm_hbm_sensitivity = (gemm_seconds_with_
//     copy / gemm_seconds_alone - 1) / u, the median over the carve-out
//     points, with gemm_seconds_alone measured on the same free SMs;
//   - without a carve-out, a copy kernel launched during a GEMM gets its
//     first block when a GEMM block retires and all of them as the rest
//     of the wave retires: comm_sm_wait_us = the median of
//     copy_launch_to_all_blocks_seconds - copy_launch_to_first_block_seconds.
func FitInterference(p *Profile, h *topology.Hardware, from string) error {
	if p == nil || h == nil {
		return fmt.Errorf("calibrate: FitInterference needs a profile and a hardware file")
	}
	if err := checkInterference(p); err != nil {
		return err
	}
	set := func(key string, v float64, src string) error {
		spec, ok := topology.ConstantNamed(key)
		if !ok {
			return fmt.Errorf("calibrate: no constant %s", key)
		}
		v = round(min(max(v, spec.Min), spec.Max))
		if h.Constants == nil {
			h.Constants = map[string]topology.Value{}
		}
		h.Constants[key] = topology.Value{Value: v, Kind: topology.Measured, Source: from + ": " + src}
		return nil
	}

	var drops, clocks, sens []float64
	beta, hbm := h.Constants["copy_hbm_bytes_per_byte"].Value, h.Constants["hbm_GBps"].Value
	for _, x := range p.Interference {
		if !x.Carveout {
			continue
		}
		if x.CopyGBpsAlone > 0 && x.CopyGBpsWithGEMM > 0 {
			drops = append(drops, 1-x.CopyGBpsWithGEMM/x.CopyGBpsAlone)
		}
		if x.SMClockAlone > 0 && x.SMClockTogether > 0 {
			clocks = append(clocks, 1-x.SMClockTogether/x.SMClockAlone)
		}
		if u := beta * x.CopyGBpsWithGEMM / hbm; u > 0 && hbm > 0 && x.GEMMSecondsAlone > 0 && x.GEMMSecondsWithCopy > 0 {
			sens = append(sens, (x.GEMMSecondsWithCopy/x.GEMMSecondsAlone-1)/u)
		}
	}
	if len(drops) > 0 {
		src := fmt.Sprintf("interference: 1 - copy GB/s beside a GEMM / alone, median of %d carve-out points", len(drops))
		if len(clocks) > 0 {
			src += fmt.Sprintf(" (the SM clock itself dropped by a median %.3g)", median(clocks))
		}
		if err := set("gemm_clock_drop", median(drops), src); err != nil {
			return err
		}
	}
	if len(sens) > 0 {
		src := fmt.Sprintf("interference: (GEMM time beside a copy / alone - 1) over the copy's HBM share (%g HBM bytes per byte over %g GB/s), median of %d carve-out points",
			beta, hbm, len(sens))
		if err := set("gemm_hbm_sensitivity", median(sens), src); err != nil {
			return err
		}
	}
	var waits []float64
	for _, n := range p.NoCarveout {
		if n.CopyLaunchToAllBlocksSecs > 0 {
			waits = append(waits, max(0, n.CopyLaunchToAllBlocksSecs-n.CopyLaunchToFirstBlockSecs)*1e6)
		}
	}
	if len(waits) > 0 {
		src := fmt.Sprintf("no_carveout: copy launch to all blocks minus launch to first block, median of %d points", len(waits))
		if err := set("comm_sm_wait_us", median(waits), src); err != nil {
			return err
		}
	}
	return nil
}

// checkInterference rejects points the fit cannot use, naming them.
func checkInterference(p *Profile) error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) || v < 0 }
	for i, x := range p.Interference {
		for _, f := range []struct {
			name string
			v    float64
		}{
			{"copy_GBps_alone", x.CopyGBpsAlone}, {"copy_GBps_with_gemm", x.CopyGBpsWithGEMM},
			{"gemm_seconds_alone", x.GEMMSecondsAlone}, {"gemm_seconds_with_copy", x.GEMMSecondsWithCopy},
			{"sm_clock_mhz_alone", x.SMClockAlone}, {"sm_clock_mhz_together", x.SMClockTogether},
		} {
			if bad(f.v) {
				return fmt.Errorf("profile: interference[%d].%s = %g, want a finite number >= 0", i, f.name, f.v)
			}
		}
		if x.CopySMs < 0 {
			return fmt.Errorf("profile: interference[%d].copy_sms = %d, want >= 0", i, x.CopySMs)
		}
	}
	for i, n := range p.NoCarveout {
		for _, f := range []struct {
			name string
			v    float64
		}{
			{"gemm_seconds", n.GEMMSeconds}, {"copy_launch_to_first_block_seconds", n.CopyLaunchToFirstBlockSecs},
			{"copy_launch_to_all_blocks_seconds", n.CopyLaunchToAllBlocksSecs}, {"gemm_waves", n.GEMMWaves},
		} {
			if bad(f.v) {
				return fmt.Errorf("profile: no_carveout[%d].%s = %g, want a finite number >= 0", i, f.name, f.v)
			}
		}
	}
	return nil
}

// median of v (not empty), by gonum's empirical quantile on a sorted copy.
func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return stat.Quantile(0.5, stat.Empirical, s, nil)
}
