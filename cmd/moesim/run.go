package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/report"
)

// scenarioFlags are the flags every command that loads a scenario shares.
type scenarioFlags struct {
	preset, file, traceRouting string
	sets                       multiFlag
	seed                       uint64
}

func (sf *scenarioFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.preset, "preset", "", "scenario preset to run (see `moesim presets`); default "+scenarios.DefaultPreset)
	fs.StringVar(&sf.file, "scenario", "", "scenario YAML file")
	fs.Var(&sf.sets, "set", "override a scenario field, path=value (repeatable), e.g. --set kernel.num_sms=24")
	fs.Uint64Var(&sf.seed, "seed", 0, "random seed (overrides the scenario's seed)")
	fs.StringVar(&sf.traceRouting, "trace-routing", "", "routing trace (.npy or .csv of top-k expert ids) for workload.routing=trace; overrides workload.trace_file")
}

// load reads the scenario the flags name, with overrides, and the routing
// trace it needs.
func (sf *scenarioFlags) load() (scenarios.Scenario, scenarios.RunOptions, error) {
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
	var (
		s   scenarios.Scenario
		err error
	)
	switch {
	case sf.preset != "" && sf.file != "":
		return s, opt, usagef("give --preset or --scenario, not both")
	case sf.file != "":
		data, rerr := os.ReadFile(sf.file)
		if rerr != nil {
			return s, opt, usagef("--scenario: %v", rerr)
		}
		s, err = scenarios.Decode(bytes.NewReader(data), ovs...)
		if err == nil && s.Name == "" {
			s.Name = filepath.Base(sf.file)
		}
	default:
		name := sf.preset
		if name == "" {
			name = scenarios.DefaultPreset
		}
		s, err = scenarios.LoadPreset(name, ovs...)
	}
	if err != nil {
		return s, opt, usageError{err}
	}
	trace := s.Workload.TraceFile
	if sf.traceRouting != "" {
		trace = sf.traceRouting
	}
	if s.Workload.Routing == "trace" {
		if trace == "" {
			return s, opt, usagef("workload.routing = trace needs workload.trace_file or --trace-routing FILE")
		}
		data, rerr := os.ReadFile(trace)
		if rerr != nil {
			return s, opt, usagef("routing trace: %v", rerr)
		}
		opt.Trace, opt.TraceName = data, trace
	}
	return s, opt, nil
}

// runID is derived from the effective scenario, so the same run always
// has the same id.
func runID(s scenarios.Scenario) string {
	var buf bytes.Buffer
	_ = scenarios.Encode(&buf, s)
	return uuid.NewSHA1(uuid.NameSpaceOID, buf.Bytes()).String()
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "run [--preset NAME | --scenario FILE] [--set path=value ...] [--seed N] [--format FMT] [--out FILE]", stderr)
	var sf scenarioFlags
	sf.register(fs)
	format := fs.String("format", "table", "output format: table, markdown, csv, json")
	out := fs.String("out", "", "write the report to FILE instead of stdout")
	verify := fs.Bool("verify", false, "check conservation of every (token, GPU) record end to end (slower)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	s, opt, err := sf.load()
	if err != nil {
		return err
	}
	opt.Verify = *verify
	res, err := scenarios.Run(s, opt)
	if err != nil {
		return err
	}
	res.Meta.RunID = runID(s)
	rep, err := report.For(*format, res)
	if err != nil {
		return usageError{err}
	}
	return writeOutput(*out, stdout, rep)
}
