package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/moesim/moesim/scenarios/search"
	"github.com/moesim/moesim/scenarios/validate"
	"github.com/moesim/moesim/topology"
)

// SensitivityThresholdPct is the smallest change the sensitivity table
// lists: below it a constant does not decide the answer.
const SensitivityThresholdPct = 0.5

// maxMovers bounds the constants listed per case; the JSON has them all.
const maxMovers = 5

// WriteSensitivity renders validate --sensitivity: per case, the constants
// that move its prediction by at least SensitivityThresholdPct, largest
// first, with the change at each factor; then the constants that move no
// case that much.
func WriteSensitivity(w io.Writer, markdown bool, pts []validate.SensitivityPoint) error {
	var factors []float64
	var cases, constants []string
	type key struct {
		c, k string
		f    float64
	}
	at := map[key]validate.SensitivityPoint{}
	for _, p := range pts {
		if !slices.Contains(factors, p.Factor) {
			factors = append(factors, p.Factor)
		}
		if !slices.Contains(cases, p.Case) {
			cases = append(cases, p.Case)
		}
		if !slices.Contains(constants, p.Constant) {
			constants = append(constants, p.Constant)
		}
		at[key{p.Case, p.Constant, p.Factor}] = p
	}
	fs := make([]string, len(factors))
	for i, f := range factors {
		fs[i] = "×" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	head := fmt.Sprintf("Sensitivity: each predicted case with one hardware constant at %s, all else fixed", strings.Join(fs, " and "))
	if markdown {
		head = "### " + head
	}
	if _, err := fmt.Fprintf(w, "%s\n\n", head); err != nil {
		return err
	}
	t := newTable(w, markdown, tw.AlignLeft)
	t.Header("case", fmt.Sprintf("constants that move it by %g%% or more: change at %s", SensitivityThresholdPct, strings.Join(fs, " / ")))
	moves := map[string]bool{}
	for _, c := range cases {
		type mover struct {
			k       string
			size    float64
			changes []string
		}
		var ms []mover
		for _, k := range constants {
			m := mover{k: k}
			for _, f := range factors {
				p, ok := at[key{c, k, f}]
				switch {
				case !ok:
					m.changes = append(m.changes, "-")
				case p.ChangePct == nil:
					m.changes = append(m.changes, "failed")
					m.size = math.Inf(1)
				default:
					ch := *p.ChangePct
					s := fmt.Sprintf("%+.1f%%", ch)
					if p.Clamped {
						s += fmt.Sprintf(" (at %g)", p.Value)
					}
					m.changes = append(m.changes, s)
					m.size = math.Max(m.size, math.Abs(ch))
				}
			}
			if m.size >= SensitivityThresholdPct {
				ms = append(ms, m)
				moves[k] = true
			}
		}
		slices.SortStableFunc(ms, func(a, b mover) int {
			switch {
			case a.size > b.size:
				return -1
			case a.size < b.size:
				return 1
			}
			return 0
		})
		var parts []string
		for i, m := range ms {
			if i == maxMovers {
				parts = append(parts, fmt.Sprintf("(%d more)", len(ms)-maxMovers))
				break
			}
			parts = append(parts, m.k+" "+strings.Join(m.changes, " / "))
		}
		cell := strings.Join(parts, "; ")
		if cell == "" {
			cell = "none"
		}
		if err := t.Append(c, cell); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	var none []string
	for _, k := range constants {
		if !moves[k] {
			none = append(none, k)
		}
	}
	if len(none) > 0 {
		if _, err := fmt.Fprintf(w, "\nMove no case by %g%% or more: %s.\n", SensitivityThresholdPct, strings.Join(none, ", ")); err != nil {
			return err
		}
	}
	return nil
}

// WriteTuneSensitivity renders how tune's recommendation on scenario moves
// with each constant scaled.
func WriteTuneSensitivity(w io.Writer, markdown bool, scenario string, sum search.Summary, pts []validate.TuneSensitivityPoint) error {
	head := fmt.Sprintf("Tune sensitivity: moesim tune --preset %s, recommended %d SMs; the recommendation with one constant scaled",
		scenario, sum.RecommendedSMs)
	if markdown {
		head = "### " + head
	}
	if _, err := fmt.Fprintf(w, "\n%s\n\n", head); err != nil {
		return err
	}
	t := newTable(w, markdown, tw.AlignRight)
	t.Header("constant", "value", "scaled", "recommended SMs", "layer µs")
	for _, p := range pts {
		unit := ""
		if spec, ok := topology.ConstantNamed(p.Constant); ok && spec.Unit != "" {
			unit = " " + spec.Unit
		}
		scaled := fmt.Sprintf("×%g = %.4g%s", p.Factor, p.Value, unit)
		if p.Clamped {
			scaled += " (clamped)"
		}
		base := fmt.Sprintf("%.4g%s", p.Base, unit)
		if err := t.Append(p.Constant, base, scaled, strconv.Itoa(p.RecommendedSMs), f1(p.LayerUs)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nRecommended %d SMs; with one of these constants scaled: %d..%d SMs.\n", sum.RecommendedSMs, sum.RangeSMs[0], sum.RangeSMs[1])
	return err
}
