package report

import (
	"strings"
	"testing"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios"
)

// TestV2RunReport checks a kernel.mode v2 run's text and markdown reports
// show the V2 figures (path, SM count and where it came from, QPs,
// epilogue) and name V2, not V1, when extrapolated; a normal run shows
// none of them.
func TestV2RunReport(t *testing.T) {
	res := fixtureResult(42, 12)
	res.Scenario.Kernel.Mode = dispatch.V2
	for _, k := range []*scenarios.KernelSummary{&res.Dispatch, &res.Combine} {
		k.Mode, k.V2Path, k.QPs, k.NumSMsSource, k.EpilogueUs = "v2", "hybrid", 129, scenarios.NumSMsAnalytical, 123.4
		k.Extrapolated, k.ExtrapolationReason = true, "cluster.nodes = 64 is above 32"
	}
	for _, f := range []string{"table", "markdown"} {
		rep, err := For(f, res)
		got := string(render(t, rep, err))
		for _, want := range []string{"DeepEP V2 kernels", "path hybrid, num_sms analytical, 129 QPs", "123.4", "EXTRAPOLATED beyond DeepEP V2: cluster.nodes = 64"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s report lacks %q:\n%s", f, want, got)
			}
		}
	}
	plain := fixtureResult(42, 12)
	rep, err := For("table", plain)
	if got := string(render(t, rep, err)); strings.Contains(got, "DeepEP V2") {
		t.Errorf("a normal-mode report mentions DeepEP V2:\n%s", got)
	}
}
