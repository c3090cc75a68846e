package report

import (
	"fmt"
	"io"
	"math"

	"github.com/moesim/moesim/scenarios/validate"
	"github.com/olekukonko/tablewriter/tw"
)

// WriteValidation renders moesim validate's table: each case's published and
// predicted figure, error, tolerance, bound and outcome, then the counts, the
// median error and the worst case.
func WriteValidation(w io.Writer, results []validate.CaseResult) error {
	t := newTable(w, false, tw.AlignLeft)
	t.Header("case", "unit", "published", "predicted", "error", "tolerance", "bound", "result")
	worst := ""
	var worstErr float64
	pass, fail, skip := 0, 0, 0
	for _, r := range results {
		pred, e, res, tol := "-", "-", "not modelled", "-"
		switch {
		case r.Pass == nil:
			skip++
		case *r.Pass:
			res = "pass"
			pass++
		default:
			res = "FAIL"
			fail++
		}
		if r.Pass != nil {
			tol = fmt.Sprintf("±%g%%", r.TolerancePct)
			if r.Calibration {
				res += " (calibration)"
			}
		}
		if r.Predicted != nil {
			pred = fmt.Sprintf("%.4g", *r.Predicted)
			e = fmt.Sprintf("%+.1f%%", *r.ErrorPct)
			if a := math.Abs(*r.ErrorPct); a > worstErr {
				worstErr, worst = a, r.ID
			}
		}
		if err := t.Append(r.ID, r.Unit, fmt.Sprintf("%g", r.Published), pred, e, tol, r.Bound, res); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d pass, %d fail, %d not modelled; median |error| %.1f%% (DeepEP normal-kernel rows %.1f%%), worst %.1f%% (%s)\n",
		pass, fail, skip, validate.MedianAbsError(results), validate.MedianDeepEPError(results), worstErr, worst)
	return err
}
