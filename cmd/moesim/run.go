package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/report"
	"github.com/moesim/moesim/scenarios/search"
	"github.com/moesim/moesim/topology"
)

// scenarioFlags are the flags every command that loads a scenario shares.
type scenarioFlags struct {
	preset, file, traceRouting string
	sets                       multiFlag
	seed                       uint64
}

func (sf *scenarioFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.preset, "preset", "", "scenario preset to run (`NAME`, see moesim presets); default "+scenarios.DefaultPreset)
	fs.StringVar(&sf.file, "scenario", "", "scenario YAML file")
	fs.Var(&sf.sets, "set", "override a scenario field, path=value (repeatable), e.g. --set kernel.num_sms=24")
	fs.Uint64Var(&sf.seed, "seed", 0, "random seed (overrides the scenario's seed)")
	fs.StringVar(&sf.traceRouting, "trace-routing", "", "routing trace (.npy or .csv of top-k expert ids) for workload.routing=trace; overrides workload.trace_file")
}

// load reads the scenario the flags name, with overrides (extra ones, such
// as a sweep point's, applied last), and the routing trace it needs.
func (sf *scenarioFlags) load(extra ...scenarios.Override) (scenarios.Scenario, scenarios.RunOptions, error) {
	var opt scenarios.RunOptions
	var ovs []scenarios.Override
	for _, s := range sf.sets {
		o, err := scenarios.ParseOverride(s)
		if err != nil {
			return scenarios.Scenario{}, opt, usageError{err}
		}
		ovs = append(ovs, o)
	}
	if sf.seed != 0 {
		ovs = append(ovs, scenarios.Override{Path: "seed", Value: fmt.Sprint(sf.seed)})
	}
	ovs = append(ovs, extra...)
	var (
		s   scenarios.Scenario
		err error
		dir string // the scenario file's folder: relative file names start there
	)
	switch {
	case sf.preset != "" && sf.file != "":
		return s, opt, usagef("give --preset or --scenario, not both")
	case sf.file != "":
		data, rerr := readBounded(sf.file, scenarios.MaxScenarioBytes)
		if rerr != nil {
			return s, opt, usagef("--scenario: %v", rerr)
		}
		dir = filepath.Dir(sf.file)
		s, err = scenarios.DecodeWith(bytes.NewReader(data), scenarios.DecodeOptions{ReadFile: func(name string) ([]byte, error) {
			return readBounded(resolveFrom(dir, name), topology.MaxHardwareFileBytes)
		}}, ovs...)
		if err == nil && s.Name == "" {
			s.Name = filepath.Base(sf.file)
		}
	default:
		name := sf.preset
		if name == "" {
			name = scenarios.DefaultPreset
		}
		s, err = scenarios.LoadPresetWith(name, scenarios.DecodeOptions{ReadFile: func(name string) ([]byte, error) {
			return readBounded(name, topology.MaxHardwareFileBytes)
		}}, ovs...)
	}
	if err != nil {
		return s, opt, usageError{err}
	}
	if opt, err = loadTrace(&s, dir, sf.traceRouting); err != nil {
		return s, opt, err
	}
	return s, opt, nil
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "run [--preset NAME | --scenario FILE] [--set path=value ...] [--seed N] [--repeat N [--jobs N]] [--format FMT] [--out FILE] [--trace FILE.json [--trace-ranks LIST] [--trace-max-events N]]", stderr)
	var sf scenarioFlags
	sf.register(fs)
	format := fs.String("format", "table", "output format: "+strings.Join(report.Formats, ", "))
	out := fs.String("out", "", "write the report to FILE instead of stdout")
	verify := fs.Bool("verify", false, "check conservation of every (token, GPU) record end to end (slower)")
	repeat := fs.Int("repeat", 1, "run seeds seed..seed+N-1 in parallel and report each headline figure's mean and 95% confidence interval")
	jobs := fs.Int("jobs", 0, "runs at once with --repeat (default: GOMAXPROCS, all cores)")
	traceOut := fs.String("trace", "", "write the dispatch and combine kernels' timeline to `FILE.json` (Chrome trace-event format: open it in ui.perfetto.dev or chrome://tracing)")
	traceRanks := fs.String("trace-ranks", fmt.Sprintf("0-%d", report.DefaultTraceRanks-1), "GPUs the trace keeps: a list such as 0-7 or 0,3,8-11, or all")
	traceMax := fs.Int("trace-max-events", report.DefaultTraceMaxEvents, "most complete events the trace keeps (the first ones)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if !slices.Contains(report.Formats, *format) {
		return usagef("--format = %q, want one of %s", *format, strings.Join(report.Formats, ", "))
	}
	if *repeat < 1 || *repeat > maxRepeat {
		return usagef("--repeat = %d, want 1..%d", *repeat, maxRepeat)
	}
	if *jobs < 0 {
		return usagef("--jobs = %d, want 0 (all cores) or more", *jobs)
	}
	if *traceOut != "" && *repeat > 1 {
		return usagef("--trace records one run; drop --repeat %d or --trace", *repeat)
	}
	if *traceOut == "-" {
		return usagef("--trace needs a file name (stdout carries the report)")
	}
	if *traceMax < 1 {
		return usagef("--trace-max-events = %d, want 1 or more", *traceMax)
	}
	for _, o := range []struct{ flag, path string }{{"--out", *out}, {"--trace", *traceOut}} {
		if err := checkOutPath(o.flag, o.path); err != nil {
			return err
		}
	}
	s, opt, err := sf.load()
	if err != nil {
		return err
	}
	opt.Verify = *verify
	if *repeat > 1 {
		return runRepeat(&sf, s, *repeat, *jobs, *verify, *format, *out, stdout)
	}
	var tr *report.Trace
	if *traceOut != "" {
		ranks, err := report.ParseRanks(*traceRanks, s.Cluster.Nodes*s.Cluster.GPUsPerNode)
		if err != nil {
			return usageError{err}
		}
		if tr, err = report.NewTrace(s, report.TraceOptions{Ranks: ranks, MaxEvents: *traceMax}); err != nil {
			return usageError{err}
		}
		opt.Tracer = tr
	}
	// One run: its two kernels may take a core each.
	opt.SideBySide = true
	res, err := runPoint(s, opt)
	if err != nil {
		return err
	}
	rep, err := report.For(*format, res)
	if err != nil {
		return usageError{err}
	}
	if tr != nil {
		if err := writeOutput(*traceOut, stdout, func(w io.Writer) error { return tr.WriteJSON(w, res) }); err != nil {
			return err
		}
		if cut := tr.Cut(); cut != "" {
			fmt.Fprintf(stderr, "moesim run: warning: --trace %s is cut: %s\n", *traceOut, cut)
		}
	}
	return writeOutput(*out, stdout, rep)
}

// maxRepeat bounds --repeat.
const maxRepeat = 10000

// runPoint runs one scenario and stamps its run id: the one path from a
// scenario to a Result, so `run` and every sweep point agree byte for byte.
func runPoint(s scenarios.Scenario, opt scenarios.RunOptions) (*scenarios.Result, error) {
	res, err := scenarios.Run(s, opt)
	if err != nil {
		return nil, err
	}
	res.Meta.RunID = runID(s, opt)
	return res, nil
}

// runRepeat runs seeds base..base+n-1 of s as a sweep over the seed and
// reports them together.
func runRepeat(sf *scenarioFlags, s scenarios.Scenario, n, jobs int, verify bool, format, out string, stdout io.Writer) error {
	v := search.Vary{Path: "seed"}
	for i := range n {
		v.Values = append(v.Values, strconv.FormatUint(s.Seed+uint64(i), 10))
	}
	points, err := search.Expand([]search.Vary{v})
	if err != nil {
		return usageError{err}
	}
	ps, err := loadPoints(sf, points, verify)
	if err != nil {
		return err
	}
	rows := make([]report.Row, len(points))
	err = search.RunPoints(context.Background(), points, jobs, ps.run, func(p search.Point, r *scenarios.Result) error {
		rows[p.Index] = report.Row{Point: p, Result: r}
		return nil
	})
	if err != nil {
		return err
	}
	rep, err := report.ForSet(format, report.NewSet([]string{"seed"}, rows))
	if err != nil {
		return usageError{err}
	}
	return writeOutput(out, stdout, rep)
}
