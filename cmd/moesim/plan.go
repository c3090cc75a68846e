package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/report"
	"github.com/moesim/moesim/scenarios/search"
)

func init() {
	commands["plan"] = command{"capacity planning: search a space of scenarios for the best one that meets constraints (PLAN.yaml or --example NAME)", cmdPlan}
}

const planSynopsis = "plan (PLAN.yaml | --example NAME) [--format table|markdown|json|html] [--report FILE] [--out FILE.jsonl [--resume]] [--from FILE.jsonl] [--shard I/N|auto/N] [--jobs N] [--no-prune] [--no-uncertainty]"

func cmdPlan(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plan", planSynopsis, stderr)
	example := fs.String("example", "", "run a built-in plan: "+strings.Join(scenarios.PlanExampleNames(), ", "))
	show := fs.Bool("show", false, "print the plan file (with --example: the built-in plan, to start your own) and exit")
	format := fs.String("format", "table", "output format: table, markdown, json, html")
	reportOut := fs.String("report", "", "write the plan report to `FILE` instead of stdout")
	out := fs.String("out", "", "append each point run to `FILE.jsonl` (a sweep file: moesim report reads it)")
	resume := fs.Bool("resume", false, "continue a plan: use the points --out already holds and run the rest")
	from := fs.String("from", "", "evaluate the plan from the points in `FILE.jsonl` (a merged set of shards) instead of running them")
	shard := fs.String("shard", "", "run only shard `I/N` of the space (1 <= I <= N; auto/N reads JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID) into --out, unpruned")
	jobs := fs.Int("jobs", 0, "points run at once (default: GOMAXPROCS, all cores)")
	noPrune := fs.Bool("no-prune", false, "run every point, not only those monotone pruning leaves")
	noUnc := fs.Bool("no-uncertainty", false, "skip rerunning the recommendation and its neighbours at the ends of the constants' ranges")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	data, dir, err := planSource(*example, pos)
	if err != nil {
		return err
	}
	if *show {
		_, err := stdout.Write(data)
		return err
	}
	if !slices.Contains(report.Formats, *format) || *format == "csv" {
		return usagef("--format = %q, want one of table, markdown, json, html", *format)
	}
	if *jobs < 0 {
		return usagef("--jobs = %d, want 0 (all cores) or more", *jobs)
	}
	if *resume && *out == "" {
		return usagef("--resume needs --out FILE.jsonl, the file to continue")
	}
	if *from != "" && (*out != "" || *shard != "") {
		return usagef("--from evaluates a finished file; drop --out and --shard")
	}
	plan, err := search.DecodePlan(bytes.NewReader(data))
	if err != nil {
		return usageError{err}
	}
	sf, err := planScenarioFlags(plan, dir)
	if err != nil {
		return err
	}
	env := search.PlanEnv{
		Load: func(ovs []scenarios.Override) (scenarios.Scenario, scenarios.RunOptions, error) {
			return sf.load(ovs...)
		},
		Run:         runPoint,
		Jobs:        *jobs,
		Prune:       !*noPrune,
		Uncertainty: !*noUnc,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *shard != "" {
		return planShard(ctx, plan, sf, *shard, *out, *resume, *jobs, stderr)
	}
	if *from != "" {
		known, err := readPoints(*from, plan, sf)
		if err != nil {
			return err
		}
		// Merged shards hold every point: evaluate them all. A file an
		// earlier pruned plan wrote holds the points pruning chose, which
		// the same pruning chooses again.
		env.Known, env.Prune = known, false
		env.Run = func(s scenarios.Scenario, opt scenarios.RunOptions) (*scenarios.Result, error) {
			return nil, errMissingPoint
		}
		var unc bool
		unc, env.Uncertainty = env.Uncertainty, false
		res, err := search.RunPlan(ctx, plan, env)
		if errors.Is(err, errMissingPoint) {
			env.Prune = true
			res, err = search.RunPlan(ctx, plan, env)
		}
		if errors.Is(err, errMissingPoint) {
			return fmt.Errorf("--from %s: %w: run its shard again (moesim plan --shard) and merge", *from, err)
		}
		if err != nil {
			return err
		}
		if unc {
			env.Uncertainty, env.Run = true, runPoint
			if err := search.CheckUncertainty(ctx, res, env); err != nil {
				return err
			}
		}
		return renderPlan(res, *format, *reportOut, stdout)
	}
	var w *pointWriter
	if *out != "" {
		if w, err = openPointWriter(*out, *resume, plan, sf, stderr); err != nil {
			return err
		}
		defer w.close()
		env.Known, env.Each = w.known, w.write
	}
	bar := progressBar(stderr, len(plan.Varies()), "plan")
	if bar != nil {
		env.Progress = func() { _ = bar.Add(1) }
	}
	res, err := search.RunPlan(ctx, plan, env)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(stderr)
	}
	if w != nil {
		if cerr := w.close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		if *out != "" {
			return fmt.Errorf("%w; run the same command with --resume to continue", err)
		}
		return err
	}
	fmt.Fprintf(stderr, "moesim plan: %d points: %d run, %d reused, %d not needed\n", res.Points, res.Ran, res.Reused, res.Points-res.Ran-res.Reused)
	return renderPlan(res, *format, *reportOut, stdout)
}

var errMissingPoint = errors.New("the file lacks this point")

func renderPlan(res *search.PlanResult, format, out string, stdout io.Writer) error {
	rep, err := report.ForPlan(format, res)
	if err != nil {
		return usageError{err}
	}
	return writeOutput(out, stdout, rep)
}

// planSource is the plan file's bytes and the folder its relative paths
// start from.
func planSource(example string, pos []string) ([]byte, string, error) {
	switch {
	case example != "" && len(pos) > 0:
		return nil, "", usagef("give a plan file or --example NAME, not both")
	case example != "":
		data, err := scenarios.PlanExampleYAML(example)
		if err != nil {
			return nil, "", usageError{err}
		}
		return data, "", nil
	case len(pos) == 1:
		data, err := readBounded(pos[0], 1<<20)
		if err != nil {
			return nil, "", usageError{err}
		}
		return data, filepath.Dir(pos[0]), nil
	}
	return nil, "", usagef("want one plan file or --example NAME (%s); got %d arguments", strings.Join(scenarios.PlanExampleNames(), ", "), len(pos))
}

// planScenarioFlags are the flags that load the plan's base scenario.
func planScenarioFlags(p *search.Plan, dir string) (*scenarioFlags, error) {
	sf := &scenarioFlags{preset: p.Base.Preset}
	if p.Base.Scenario != "" {
		if dir == "" {
			return nil, usagef("base.scenario = %q: a built-in plan can only start from a preset", p.Base.Scenario)
		}
		sf.file = p.Base.Scenario
		if !filepath.IsAbs(sf.file) {
			sf.file = filepath.Join(dir, sf.file)
		}
	}
	for _, o := range p.Base.Set {
		sf.sets = append(sf.sets, o.Path+"="+o.Value)
	}
	// Every point must load: fail on a bad base before anything runs.
	if _, _, err := sf.load(); err != nil {
		return nil, usagef("base: %v", err)
	}
	return sf, nil
}
