package validate

import (
	"maps"
	"slices"
	"testing"

	"github.com/moesim/moesim/topology"
)

func caseNamed(t *testing.T, id string) Case {
	t.Helper()
	for _, c := range ValidationCases() {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no case %s", id)
	return Case{}
}

// withSource is a copy of hw whose constant key has the given kind and
// source.
func withSource(hw *topology.Hardware, key string, kind topology.Kind, source string) *topology.Hardware {
	h := *hw
	h.Constants = maps.Clone(hw.Constants)
	v := h.Constants[key]
	v.Kind, v.Source = kind, source
	h.Constants[key] = v
	return &h
}

// TestFittedByFollowsTheSource: which case is fitted is read from the
// hardware file alone. Naming another case in a fitted constant's source
// moves the mark there; making the constant measured makes both
// predictions.
func TestFittedByFollowsTheSource(t *testing.T) {
	ep8 := caseNamed(t, "deepep_readme_2025_02_ep8_intranode_dispatch")
	ep16 := caseNamed(t, "deepep_readme_2025_04_ep16_dispatch")
	hw, err := ep8.Hardware()
	if err != nil || hw == nil {
		t.Fatalf("hardware of %s: %v, %v", ep8.ID, hw, err)
	}
	cited := withSource(hw, "nvlink_efficiency", topology.Fitted, "fitted on DeepEP V1's intranode EP8 dispatch, 153 GB/s")
	if got := FittedBy(ep8, cited); !slices.Equal(got, []string{"nvlink_efficiency"}) {
		t.Errorf("source citing the row: FittedBy(%s) = %v, want [nvlink_efficiency]", ep8.ID, got)
	}
	if got := FittedBy(ep16, cited); got != nil {
		t.Errorf("FittedBy(%s) = %v, want none", ep16.ID, got)
	}
	moved := withSource(hw, "nvlink_efficiency", topology.Fitted, "fitted on "+ep16.ID)
	if FittedBy(ep8, moved) != nil || !slices.Equal(FittedBy(ep16, moved), []string{"nvlink_efficiency"}) {
		t.Errorf("source naming %s: ep8 %v, ep16 %v; want the mark on ep16 only", ep16.ID, FittedBy(ep8, moved), FittedBy(ep16, moved))
	}
	measured := withSource(hw, "nvlink_efficiency", topology.Measured, "fitted on "+ep16.ID)
	if FittedBy(ep16, measured) != nil {
		t.Errorf("a measured constant marks %s fitted", ep16.ID)
	}
	// Ids match as whole words: ep16's id inside a longer one is not ep16.
	longer := withSource(hw, "nvlink_efficiency", topology.Fitted, "fitted on "+ep16.ID+"_v2")
	if FittedBy(ep16, longer) != nil {
		t.Errorf("%s matched inside a longer id", ep16.ID)
	}
}

// TestEveryFittedConstantNamesACase: every constant of kind fitted in the
// hardware a case runs on names at least one validation case in its
// source, so the fitted/predicted marks follow the file (a source rewritten
// without the row's id or cited_as phrase would silently make its row a
// "prediction"); and the embedded cases have both kinds. (A preset may
// carry another GPU's fit: gb200-nvl72's efficiencies name H800 rows, so
// its own cases stay predictions.)
func TestEveryFittedConstantNamesACase(t *testing.T) {
	cases := ValidationCases()
	fitted, predicted := 0, 0
	seen := map[string]bool{}
	for _, c := range cases {
		if c.Kind == "not-modelled" {
			continue
		}
		hw, err := c.Hardware()
		if err != nil || hw == nil {
			t.Fatalf("%s: hardware %v, %v", c.ID, hw, err)
		}
		cr := CaseResult{Case: c}
		if err := mark(&cr); err != nil {
			t.Fatal(err)
		}
		if cr.Fitted != (len(cr.FittedBy) > 0) {
			t.Errorf("%s: fitted %v but fitted by %v", c.ID, cr.Fitted, cr.FittedBy)
		}
		if cr.Fitted {
			fitted++
		} else {
			predicted++
		}
		if seen[hw.Name] {
			continue
		}
		seen[hw.Name] = true
		for _, k := range slices.Sorted(maps.Keys(hw.Constants)) {
			if hw.Constants[k].Kind != topology.Fitted {
				continue
			}
			if !slices.ContainsFunc(cases, func(o Case) bool { return o.namedIn(hw.Constants[k].Source) }) {
				t.Errorf("hardware %s: fitted constant %s names no validation case (by id or cited_as) in its source %q",
					hw.Name, k, hw.Constants[k].Source)
			}
		}
	}
	if fitted == 0 || predicted <= fitted {
		t.Errorf("%d fitted and %d predicted cases; want a few fitted and most predicted", fitted, predicted)
	}
}
