package main

import (
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/report"
	"github.com/moesim/moesim/scenarios/search"
	"github.com/moesim/moesim/scenarios/validate"
)

func init() {
	commands["validate"] = command{"replay published DeepEP and DeepSeek figures and report the model's error", cmdValidate}
}

// errValidationFailed makes the exit status 1 once the report is written.
var errValidationFailed = errors.New("some cases are outside their tolerance")

// The tune the sensitivity reruns: the default scenario over tune's
// default grid.
const sensitivityTuneFrom, sensitivityTuneTo = 4, 48

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", "validate [--format table|markdown|json] [--sensitivity [--constants K1,K2,...]] [--out FILE]", stderr)
	format := fs.String("format", "table", "output format: table, markdown or json")
	sens := fs.Bool("sensitivity", false, "also rerun every predicted case, and tune on "+scenarios.DefaultPreset+", with each hardware constant at 0.8× and 1.2× (a few minutes)")
	constants := fs.String("constants", "", "with --sensitivity, the hardware constants to scale, comma-separated (default: every one that is not a whole number)")
	out := fs.String("out", "", "write the report to FILE instead of stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "markdown" && *format != "json" {
		return usagef("--format = %q, want table, markdown or json", *format)
	}
	keys := validate.SensitivityConstants()
	if *constants != "" {
		if !*sens {
			return usagef("--constants = %q needs --sensitivity", *constants)
		}
		keys = strings.Split(*constants, ",")
		if err := validate.CheckConstants(keys); err != nil {
			return usagef("--constants: %v", err)
		}
	}
	cases := validate.ValidationCases()
	results := validate.Validate(cases)
	var (
		pts      []validate.SensitivityPoint
		tunePts  []validate.TuneSensitivityPoint
		tuneBase search.Summary
	)
	if *sens {
		var tuneKeys []string
		for _, k := range validate.TuneConstants {
			if strings.Contains(","+strings.Join(keys, ",")+",", ","+k+",") {
				tuneKeys = append(tuneKeys, k)
			}
		}
		// A minute or more: count the reruns on a terminal. The tune's
		// reruns widen as they go; the bar grows with them.
		predicted := 0
		for _, r := range results {
			if r.Predicted != nil {
				predicted++
			}
		}
		bar := progressBar(stderr, len(keys)*len(validate.Factors)*predicted+
			search.TuneRuns(sensitivityTuneFrom, sensitivityTuneTo, len(tuneKeys)), "validate")
		progress := countOn(bar)
		var err error
		if pts, err = validate.Sensitivity(cases, results, keys, validate.Factors, progress); err != nil {
			return err
		}
		tuneBase, tunePts, err = validate.TuneSensitivity(scenarios.DefaultPreset, sensitivityTuneFrom, sensitivityTuneTo,
			tuneKeys, validate.Factors[0], validate.Factors[1], progress)
		if err != nil {
			return err
		}
		if bar != nil {
			_ = bar.Finish()
		}
	}
	err := writeOutput(*out, stdout, func(w io.Writer) error {
		if *format == "json" {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if !*sens {
				return enc.Encode(results)
			}
			return enc.Encode(struct {
				Cases              []validate.CaseResult           `json:"cases"`
				Sensitivity        []validate.SensitivityPoint     `json:"sensitivity"`
				TuneScenario       string                          `json:"tune_scenario"`
				TuneRecommendedSMs int                             `json:"tune_recommended_sms"`
				TuneSensitivity    []validate.TuneSensitivityPoint `json:"tune_sensitivity"`
			}{results, pts, scenarios.DefaultPreset, tuneBase.RecommendedSMs, tunePts})
		}
		md := *format == "markdown"
		if err := report.WriteValidation(w, md, results); err != nil {
			return err
		}
		if !*sens {
			return nil
		}
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
		if err := report.WriteSensitivity(w, md, pts); err != nil {
			return err
		}
		return report.WriteTuneSensitivity(w, md, scenarios.DefaultPreset, tuneBase, tunePts)
	})
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Pass != nil && !*r.Pass && r.KnownMiss == "" {
			return errValidationFailed
		}
	}
	return nil
}
