package report

import (
	"fmt"
	"io"
	"math"

	"github.com/moesim/moesim/scenarios/validate"
	"github.com/olekukonko/tablewriter/tw"
)

// WriteValidation renders moesim validate's table (ASCII or Markdown): each
// case's published and predicted figure, error, tolerance, bound, whether
// it is fitted or predicted, and outcome; then the counts, the median error
// over predicted and over fitted cases apart, and the worst case.
func WriteValidation(w io.Writer, markdown bool, results []validate.CaseResult) error {
	t := newTable(w, markdown, tw.AlignLeft)
	t.Header("case", "unit", "published", "predicted", "error", "tolerance", "bound", "fit", "result")
	worst := ""
	var worstErr float64
	pass, fail, skip, known := 0, 0, 0, 0
	for _, r := range results {
		pred, e, res, tol, fit := "-", "-", "not modelled", "-", "-"
		switch {
		case r.Pass == nil:
			skip++
		case *r.Pass:
			res = "pass"
			pass++
		case r.KnownMiss != "":
			res = "FAIL (known miss)"
			known++
		default:
			res = "FAIL"
			fail++
		}
		if r.Pass != nil {
			tol = fmt.Sprintf("±%g%%", r.TolerancePct)
			fit = "predicted"
			if r.Fitted {
				fit = "fitted"
			}
		}
		if r.Predicted != nil {
			pred = fmt.Sprintf("%.4g", *r.Predicted)
			e = fmt.Sprintf("%+.1f%%", *r.ErrorPct)
			if a := math.Abs(*r.ErrorPct); a > worstErr {
				worstErr, worst = a, r.ID
			}
		}
		if err := t.Append(r.ID, r.Unit, fmt.Sprintf("%g", r.Published), pred, e, tol, r.Bound, fit, res); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	pm, pn := validate.MedianError(results, false)
	fm, fn := validate.MedianError(results, true)
	if known > 0 {
		if _, err := fmt.Fprintf(w, "\n%d known miss(es) (cases.yaml says why):\n", known); err != nil {
			return err
		}
		for _, r := range results {
			if r.Pass != nil && !*r.Pass && r.KnownMiss != "" {
				if _, err := fmt.Fprintf(w, "- %s: %s\n", r.ID, r.KnownMiss); err != nil {
					return err
				}
			}
		}
	}
	_, err := fmt.Fprintf(w, "\n%d pass, %d fail, %d known miss(es), %d not modelled; median |error| %.1f%% over %d predicted cases (DeepEP normal-kernel rows %.1f%%), %.1f%% over %d fitted; worst %.1f%% (%s)\n",
		pass, fail, known, skip, pm, pn, validate.MedianDeepEPPredictedError(results), fm, fn, worstErr, worst)
	return err
}
