package main

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/report"
	"github.com/moesim/moesim/scenarios/search"
)

func init() {
	commands["tune"] = command{"sweep the SMs given to communication and recommend the split", cmdTune}
}

func cmdTune(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tune", "tune [--preset NAME | --scenario FILE] [--set path=value ...] [--sms FROM..TO] [--objective layer|exposed] [--range=false] [--format table|json]", stderr)
	var sf scenarioFlags
	sf.register(fs)
	smsRange := fs.String("sms", "4..48", "even SM counts to try for communication, FROM..TO")
	objective := fs.String("objective", search.ObjectiveLayer, "what to minimize: layer (layer time) or exposed (exposed communication)")
	withRange := fs.Bool("range", true, "rerun the tune with each uncertain constant at the ends of its range and print the range of the recommendation")
	format := fs.String("format", "table", "output format: table or json")
	out := fs.String("out", "", "write the report to FILE instead of stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("--format = %q, want table or json", *format)
	}
	if *objective != search.ObjectiveLayer && *objective != search.ObjectiveExposed {
		return usagef("--objective = %q, want layer or exposed", *objective)
	}
	lo, hi, ok := strings.Cut(*smsRange, "..")
	from, err1 := strconv.Atoi(lo)
	to, err2 := strconv.Atoi(hi)
	s, opt, err := sf.load()
	if err != nil {
		return err
	}
	if !ok || err1 != nil || err2 != nil || from < 2 || to < from || to > s.Cluster.SMs-2 {
		return usagef("--sms = %q, want FROM..TO with 2 <= FROM <= TO <= %d", *smsRange, s.Cluster.SMs-2)
	}
	// The baseline's points and the variations of hardware constants
	// route the same tokens: lay them out once for all.
	if opt, err = search.Prepare(s, opt); err != nil {
		return usageError{err}
	}
	bar := tuneProgress(stderr, &opt, from, to, *withRange)
	pts, err := search.Tune(s, from, to, opt)
	if err != nil {
		return usageError{err}
	}
	best, err := search.Recommend(pts, *objective)
	if err != nil {
		return usageError{err}
	}
	var vs []search.Variation
	if *withRange {
		if vs, err = search.VaryUncertain(s, from, to, best, *objective, search.TuneUncertain, opt); err != nil {
			return err
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	sum := search.Summarize(pts, best, vs)
	return writeOutput(*out, stdout, func(w io.Writer) error {
		if *format == "json" {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Scenario  string         `json:"scenario"`
				Objective string         `json:"objective"`
				Tune      search.Summary `json:"tune"`
			}{s.Name, *objective, sum})
		}
		return report.WriteTune(w, s, sum, *objective)
	})
}

// tuneProgress draws tune's runs on stderr when it is a terminal (a tune
// with its reruns takes seconds), through opt.Progress. The reruns' count
// is known only as their windows widen, so the bar starts at each rerun's
// first window and grows when the runs pass it.
func tuneProgress(stderr io.Writer, opt *scenarios.RunOptions, from, to int, withRange bool) *progressbar.ProgressBar {
	ranges := 0
	if withRange {
		ranges = len(search.TuneUncertain)
	}
	bar := progressBar(stderr, search.TuneRuns(from, to, ranges), "tune")
	opt.Progress = countOn(bar)
	return bar
}
