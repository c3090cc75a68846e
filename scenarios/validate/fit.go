package validate

import (
	"fmt"
	"strings"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/topology"
)

// A case is fitted when a constant of its hardware was chosen to reproduce
// it, and predicted otherwise. The one place that says so is the hardware
// file: a constant of kind fitted names the rows it was fitted on in its
// source. cases.yaml only says how a source may cite a case (its id, or a
// cited_as phrase), so refitting a constant on another row, or measuring
// it instead, moves the mark without touching the cases.

// FittedBy lists, in topology.Constants order, the constants of hw of kind
// fitted whose source names case c. Nil means c is a prediction.
func FittedBy(c Case, hw *topology.Hardware) []string {
	if hw == nil {
		return nil
	}
	var keys []string
	for _, spec := range topology.Constants {
		v, ok := hw.Constants[spec.Key]
		if ok && v.Kind == topology.Fitted && c.namedIn(v.Source) {
			keys = append(keys, spec.Key)
		}
	}
	return keys
}

// namedIn reports whether source names the case: its id as a whole word,
// or one of its cited_as phrases, ignoring case.
func (c Case) namedIn(source string) bool {
	src := strings.ToLower(source)
	if c.ID != "" && containsWord(src, strings.ToLower(c.ID)) {
		return true
	}
	for _, p := range c.CitedAs {
		if p = strings.TrimSpace(p); p != "" && containsWord(src, strings.ToLower(p)) {
			return true
		}
	}
	return false
}

// containsWord reports whether w occurs in s with no letter, digit or
// underscore either side, so ep16 does not match ep160.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(w)
		if (j == 0 || !wordByte(s[j-1])) && (end == len(s) || !wordByte(s[end])) {
			return true
		}
		i = j + 1
	}
}

func wordByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// Hardware is the hardware file case c runs on: the ISCA cases name a
// hardware preset, the others a scenario preset (with the case's
// overrides) whose cluster.preset is read. Nil for a case that names none.
func (c Case) Hardware() (*topology.Hardware, error) {
	if c.Preset == "" {
		return nil, nil
	}
	name := c.Preset
	if !isHardwareCase(c) {
		s, err := c.scenario()
		if err != nil {
			return nil, err
		}
		name = s.Cluster.Preset
	}
	h, ok := topology.PresetHardware(name)
	if !ok {
		return nil, fmt.Errorf("case %s: hardware preset %q does not exist", c.ID, name)
	}
	return h, nil
}

// isHardwareCase: the ISCA arithmetic runs on a hardware preset directly.
func isHardwareCase(c Case) bool { return strings.HasPrefix(c.Kind, "isca-") }

// scenario loads the case's scenario preset with its overrides.
func (c Case) scenario(extra ...scenarios.Override) (scenarios.Scenario, error) {
	ovs, err := overrides(c.Set)
	if err != nil {
		return scenarios.Scenario{}, err
	}
	return scenarios.LoadPreset(c.Preset, append(ovs, extra...)...)
}

func overrides(sets []string) ([]scenarios.Override, error) {
	var ovs []scenarios.Override
	for _, set := range sets {
		o, err := scenarios.ParseOverride(set)
		if err != nil {
			return nil, err
		}
		ovs = append(ovs, o)
	}
	return ovs, nil
}

// mark sets cr's fitted fields from its hardware.
func mark(cr *CaseResult) error {
	hw, err := cr.Case.Hardware()
	if err != nil {
		return err
	}
	cr.FittedBy = FittedBy(cr.Case, hw)
	cr.Fitted = len(cr.FittedBy) > 0
	return nil
}
