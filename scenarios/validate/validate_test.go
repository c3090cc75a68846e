package validate

import (
	"math"
	"strings"
	"testing"
)

// TestValidationCases is issue 8's contract: every April 2025 DeepEP V1
// normal-kernel row within ±10% with a median error of at most 5%, the knee
// within ±10% of the bandwidth ratio, the ISCA arithmetic within 1%, and the
// February rows listed as not modelled with a reason.
func TestValidationCases(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size DeepEP runs")
	}
	rs := Validate(ValidationCases())
	seen := map[string]bool{}
	v2Rows := 0
	for _, r := range rs {
		seen[r.Kind] = true
		isV2 := strings.HasPrefix(r.ID, "deepep_v2_readme_")
		if isV2 {
			v2Rows++
		}
		switch {
		case r.Kind == "not-modelled":
			if r.Predicted != nil || r.Pass != nil || r.Reason == "" || !strings.Contains(r.Note, r.Reason) {
				t.Errorf("%s: want predicted and pass null and the reason, got %+v", r.ID, r)
			}
		case r.Pass != nil && !*r.Pass && r.KnownMiss != "":
			// Reported, with its reason, and not counted against the model.
			if !strings.HasPrefix(r.Note, "known miss: ") {
				t.Errorf("%s: a known miss's note is %q, want its reason", r.ID, r.Note)
			}
		case r.Pass == nil || !*r.Pass:
			t.Errorf("%s: published %g, predicted %v (%s)", r.ID, r.Published, deref(r.Predicted), r.Note)
		}
		if strings.HasPrefix(r.ID, "deepep_readme_2025_04") && (r.ErrorPct == nil || math.Abs(*r.ErrorPct) > 10) {
			t.Errorf("%s: error %v%%, want within ±10%%", r.ID, deref(r.ErrorPct))
		}
		if strings.HasPrefix(r.ID, "isca_") && (r.ErrorPct == nil || math.Abs(*r.ErrorPct) > 1) {
			t.Errorf("%s: error %v%%, want within 1%%", r.ID, deref(r.ErrorPct))
		}
	}
	if v2Rows != 10 {
		t.Errorf("%d DeepEP V2 README rows, want the table's 10 (5 rows × dispatch and combine)", v2Rows)
	}
	if m := MedianDeepEPError(rs); m > 5 {
		t.Errorf("median DeepEP error %.1f%%, want at most 5%%", m)
	}
	for _, k := range []string{"deepep", "deepep-ll", "knee", "max-experts", "saturate", "isca-comm", "isca-tpot", "not-modelled"} {
		if !seen[k] {
			t.Errorf("no case of kind %s", k)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
