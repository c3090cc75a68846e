package validate

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moesim/moesim/topology"
)

func intranodeCases(t *testing.T) []Case {
	t.Helper()
	var cs []Case
	for _, c := range ValidationCases() {
		if c.Preset == "deepep-intranode-ep8" {
			cs = append(cs, c)
		}
	}
	if len(cs) < 2 {
		t.Fatalf("%d intranode cases", len(cs))
	}
	return cs
}

// TestSensitivityMovesWhatTheCaseDependsOn: the NIC rate does not touch an
// intranode (NVLink-only) case; the NVLink rate moves its GB/s the same
// way it moves (down at 0.8×, up at 1.2×) and by a good share of the 20%;
// the byte counts move with neither.
func TestSensitivityMovesWhatTheCaseDependsOn(t *testing.T) {
	cases := intranodeCases(t)
	base := Validate(cases)
	var calls atomic.Int64
	pts, err := Sensitivity(cases, base, []string{"nic_GBps", "nvlink_GBps"}, Factors, func() { calls.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * len(Factors) * len(cases); len(pts) != want {
		t.Fatalf("%d points, want %d", len(pts), want)
	}
	if int(calls.Load()) != len(pts) {
		t.Errorf("progress called %d times for %d points", calls.Load(), len(pts))
	}
	again, err := Sensitivity(cases, base, []string{"nic_GBps", "nvlink_GBps"}, Factors, nil)
	if a, b := fmt.Sprint(derefPoints(pts)), fmt.Sprint(derefPoints(again)); err != nil || a != b {
		t.Fatalf("two sensitivity runs differ (%v):\n%s\n%s", err, a, b)
	}
	for i, p := range pts {
		c := cases[i%len(cases)]
		if p.Case != c.ID || p.ChangePct == nil {
			t.Fatalf("point %d: %+v, want case %s with a change", i, p, c.ID)
		}
		ch := *p.ChangePct
		bytes := c.Unit == "MB"
		switch {
		case p.Constant == "nic_GBps" || bytes:
			if math.Abs(ch) > 0.01 {
				t.Errorf("%s at %s×%g moved %.3f%%, want about 0", c.ID, p.Constant, p.Factor, ch)
			}
		case p.Factor < 1 && ch > -5, p.Factor > 1 && ch < 5:
			t.Errorf("%s at nvlink_GBps×%g moved %.2f%%, want at least 5%% the same way", c.ID, p.Factor, ch)
		}
		hw, err := caseConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := topology.ConstantNamed(p.Constant)
		if want := p.Factor * spec.Get(&hw); math.Abs(p.Value-want) > 1e-9*want || p.Clamped {
			t.Errorf("%s: %s value %g, want %g unclamped", c.ID, p.Constant, p.Value, want)
		}
	}
}

// TestScaleStaysInRange: an efficiency at 1.2× is cut at 1 and says so.
func TestScaleStaysInRange(t *testing.T) {
	cases := intranodeCases(t)[:1]
	hw, err := caseConfig(cases[0])
	if err != nil {
		t.Fatal(err)
	}
	v, clamped, err := (&Scale{Constant: "nvlink_efficiency", Factor: 1.2}).value(hw)
	if err != nil || v > 1 || (hw.NVLinkEfficiency*1.2 > 1) != clamped {
		t.Fatalf("nvlink_efficiency %g ×1.2 = %g clamped %v (%v)", hw.NVLinkEfficiency, v, clamped, err)
	}
	if err := CheckConstants([]string{"sms"}); err == nil || !strings.Contains(err.Error(), `"sms"`) {
		t.Errorf("CheckConstants(sms) = %v, want an error naming it", err)
	}
}

// TestSensitivityJSONFields: the field names the docs promise.
func TestSensitivityJSONFields(t *testing.T) {
	x := 1.0
	for _, v := range []any{
		SensitivityPoint{Predicted: &x, ChangePct: &x},
		TuneSensitivityPoint{},
		CaseResult{},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{
			"validate.SensitivityPoint":     {"constant", "factor", "case", "predicted", "change_pct"},
			"validate.TuneSensitivityPoint": {"constant", "factor", "recommended_sms"},
			"validate.CaseResult":           {"id", "fitted", "predicted", "error_pct", "pass"},
		}[strings.TrimPrefix(typeName(v), "*")]
		for _, f := range want {
			if _, ok := m[f]; !ok {
				t.Errorf("%T JSON lacks %q: %s", v, f, b)
			}
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case SensitivityPoint:
		return "validate.SensitivityPoint"
	case TuneSensitivityPoint:
		return "validate.TuneSensitivityPoint"
	}
	return "validate.CaseResult"
}

// derefPoints makes points printable by value.
func derefPoints(ps []SensitivityPoint) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%s %g %s %v %v %v", p.Constant, p.Factor, p.Case, deref(p.Predicted), deref(p.ChangePct), p.Value)
	}
	return out
}
