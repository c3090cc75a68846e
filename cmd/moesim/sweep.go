package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/report"
	"github.com/moesim/moesim/scenarios/search"
)

func init() {
	commands["sweep"] = command{"run the cartesian product of --vary values in parallel, appending each point to a JSON-lines file", cmdSweep}
}

func cmdSweep(args []string, stdout, stderr io.Writer) error {
	job, err := parseSweep(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first interrupt the points in flight finish and are
		// written; a second one kills the process as usual.
		<-ctx.Done()
		stop()
	}()
	return job.run(ctx, stderr, nil)
}

// parseSweep reads the flags and loads every point.
func parseSweep(args []string, stderr io.Writer) (*sweepJob, error) {
	fs := newFlagSet("sweep", "sweep --vary path=v1,v2,... [--vary ...] [--preset NAME | --scenario FILE] [--set path=value ...] [--seed N] --out FILE.jsonl [--resume] [--shard I/N|auto/N] [--jobs N]", stderr)
	var sf scenarioFlags
	sf.register(fs)
	var varies multiFlag
	fs.Var(&varies, "vary", "a scenario path and its values, path=v1,v2,... (repeatable; the sweep runs every combination), e.g. --vary kernel.num_sms=8,16,24")
	out := fs.String("out", "", "append each finished point to `FILE.jsonl` (required; render it with moesim report)")
	resume := fs.Bool("resume", false, "continue a sweep: skip the points --out already holds and append the rest")
	jobs := fs.Int("jobs", 0, "points run at once (default: GOMAXPROCS, all cores)")
	verify := fs.Bool("verify", false, "check conservation of every (token, GPU) record end to end (slower)")
	shard := fs.String("shard", "", "run only shard `I/N` of the points (1 <= I <= N; auto/N reads JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID); merge the shards' files with moesim merge")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	if *out == "" || *out == "-" {
		return nil, usagef("--out FILE.jsonl is required: the sweep appends one JSON line per finished point to it")
	}
	if err := checkOutPath("--out", *out); err != nil {
		return nil, err
	}
	if *jobs < 0 {
		return nil, usagef("--jobs = %d, want 0 (all cores) or more", *jobs)
	}
	if len(varies) == 0 {
		return nil, usagef("give at least one --vary path=v1,v2,... (for example --vary kernel.num_sms=8,16,24)")
	}
	var vs []search.Vary
	for _, v := range varies {
		pv, err := search.ParseVary(v)
		if err != nil {
			return nil, usageError{err}
		}
		vs = append(vs, pv)
	}
	points, err := search.Expand(vs)
	if err != nil {
		return nil, usageError{err}
	}
	var space *search.Space
	if *shard != "" {
		if space, err = shardSpace(*shard, &sf, vs); err != nil {
			return nil, err
		}
		points = space.Shard.Filter(points)
	}
	ps, err := loadPoints(&sf, points, *verify)
	if err != nil {
		return nil, err
	}
	job := &sweepJob{out: *out, resume: *resume, jobs: *jobs, points: points, ps: ps, space: space}
	for _, v := range vs {
		job.vary = append(job.vary, v.Path)
	}
	return job, nil
}

// pointScenarios are a sweep's points loaded and validated up front, so a
// bad value fails before anything runs.
type pointScenarios struct {
	scens  []scenarios.Scenario
	opts   []scenarios.RunOptions
	routes scenarios.LayoutCache
}

func loadPoints(sf *scenarioFlags, points []search.Point, verify bool) (*pointScenarios, error) {
	// A few layouts per worker: points that differ only in kernel or
	// compute settings share theirs.
	ps := &pointScenarios{routes: scenarios.LayoutCache{Size: 2 * runtime.GOMAXPROCS(0)}}
	traces := map[string][]byte{} // share each routing trace's bytes
	n := 0                        // a shard's points are not numbered 0..len-1
	for _, p := range points {
		n = max(n, p.Index+1)
	}
	ps.scens, ps.opts = make([]scenarios.Scenario, n), make([]scenarios.RunOptions, n)
	for _, p := range points {
		s, opt, err := sf.load(p.Values...)
		if err != nil {
			return nil, usagef("point %s: %v", p, err)
		}
		if opt.Trace != nil {
			if b, ok := traces[opt.TraceName]; ok {
				opt.Trace = b
			} else {
				traces[opt.TraceName] = opt.Trace
			}
		}
		opt.Verify = verify
		ps.scens[p.Index], ps.opts[p.Index] = s, opt
	}
	return ps, nil
}

func (ps *pointScenarios) run(p search.Point) (*scenarios.Result, error) {
	s, opt := ps.scens[p.Index], ps.opts[p.Index]
	lay, err := ps.routes.Layout(s, opt)
	if err != nil {
		return nil, err
	}
	opt.Layout = lay
	return runPoint(s, opt)
}

// sweepJob is one sweep into one file.
type sweepJob struct {
	out    string
	resume bool
	jobs   int
	vary   []string
	points []search.Point
	ps     *pointScenarios
	// space is set for a shard (--shard): its lines carry it for merge.
	space *search.Space
}

// run appends the points the file lacks. afterLine, when set, is called
// after each line is written with the count so far; an error from it stops
// the sweep (tests interrupt with it).
func (j *sweepJob) run(ctx context.Context, stderr io.Writer, afterLine func(n int) error) error {
	done, prefix, err := j.existing(stderr)
	if err != nil {
		return err
	}
	pending := search.Pending(j.points, done)
	f, err := os.OpenFile(j.out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return usagef("--out %s: %v", j.out, err)
	}
	defer f.Close()
	if prefix != nil {
		if _, err := f.Write(prefix); err != nil {
			return err
		}
	}
	bar := progressBar(stderr, len(pending), "sweep")
	written := 0
	// A point that fails (a stall, say) fails again on --resume; an
	// interrupt or a write error does not.
	var pointFailed atomic.Bool
	runOne := func(p search.Point) (*scenarios.Result, error) {
		r, err := j.ps.run(p)
		if err != nil {
			pointFailed.Store(true)
		}
		return r, err
	}
	err = search.RunPoints(ctx, pending, j.jobs, runOne, func(p search.Point, r *scenarios.Result) error {
		line, err := report.MarshalShardLine(p, r, j.space)
		if err != nil {
			return err
		}
		if _, err := f.Write(line); err != nil {
			return fmt.Errorf("--out %s: %w", j.out, err)
		}
		written++
		if bar != nil {
			_ = bar.Add(1)
		}
		if afterLine != nil {
			return afterLine(written)
		}
		return nil
	})
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(stderr)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	skipped := len(j.points) - len(pending)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return interrupted{fmt.Errorf("interrupted; %s holds %d of %d points (those in flight finished and were written): run the same command with --resume to finish", j.out, skipped+written, len(j.points))}
	}
	if err != nil && pointFailed.Load() {
		return fmt.Errorf("%w; %s keeps the %d of %d points that finished (that point fails again on --resume until its values change)", err, j.out, skipped+written, len(j.points))
	}
	if err != nil {
		return fmt.Errorf("%w; %s holds %d of %d points: run the same command with --resume to finish", err, j.out, skipped+written, len(j.points))
	}
	in := ""
	if j.space != nil {
		in = fmt.Sprintf(" of shard %s (the sweep has %d; merge the shards with moesim merge)", j.space.Shard, j.space.Points())
	}
	fmt.Fprintf(stderr, "moesim sweep: %s: %d points run, %d already there, %d in all%s\n", j.out, written, skipped, len(j.points), in)
	return nil
}

// existing reads what the file already holds: the keys of its points, and
// bytes to write before the first new line (a newline the last line
// lacks). Without --resume the file must be absent or empty.
func (j *sweepJob) existing(stderr io.Writer) (map[string]bool, []byte, error) {
	if err := checkOutPath("--out", j.out); err != nil {
		return nil, nil, err
	}
	st, err := os.Stat(j.out)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, usagef("--out %s: %v", j.out, err)
	}
	if st.Size() == 0 {
		return nil, nil, nil
	}
	if !j.resume {
		return nil, nil, usagef("--out %s already holds %d bytes: add --resume to continue that sweep, or choose another file", j.out, st.Size())
	}
	sw, err := readSweepFile(j.out)
	if err != nil {
		return nil, nil, usagef("--out %v", err)
	}
	if sw.TornLine > 0 {
		if err := os.Truncate(j.out, sw.Complete); err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(stderr, "moesim sweep: %s:%d: dropped a cut-off last line (an interrupted write); its point runs again\n", j.out, sw.TornLine)
	}
	var prefix []byte
	if sw.Unterminated {
		prefix = []byte("\n")
	}
	if len(sw.Set.Rows) > 0 && !slices.Equal(sw.Set.Vary, j.vary) {
		return nil, nil, usagef("--resume: %s varies [%s], this sweep varies [%s]: one file holds one sweep",
			j.out, strings.Join(sw.Set.Vary, " "), strings.Join(j.vary, " "))
	}
	byKey := map[string]int{}
	for _, p := range j.points {
		byKey[p.Key()] = p.Index
	}
	done := map[string]bool{}
	others := 0
	for _, row := range sw.Set.Rows {
		key := row.Point.Key()
		i, ok := byKey[key]
		if !ok {
			others++
			continue
		}
		if want := runID(j.ps.scens[i], j.ps.opts[i]); row.Result.Meta.RunID != want {
			return nil, nil, usagef("--resume: %s has point %s with run_id %s, this sweep's is %s: the base scenario (--preset, --scenario, --set, --seed) or an input file it reads (routing trace, hardware file) differs from the one the file was started with",
				j.out, row.Point, row.Result.Meta.RunID, want)
		}
		done[key] = true
	}
	if others > 0 {
		fmt.Fprintf(stderr, "moesim sweep: %s holds %d points outside this sweep's values; kept as they are\n", j.out, others)
	}
	return done, prefix, nil
}

// countOn is a progress callback that adds one to bar, safe for
// concurrent use, raising bar's count of the work when it is passed (a
// search that widens as it goes); nil for no bar.
func countOn(bar *progressbar.ProgressBar) func() {
	if bar == nil {
		return nil
	}
	var mu sync.Mutex
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if bar.State().CurrentNum >= bar.GetMax64() {
			bar.AddMax(1)
		}
		_ = bar.Add(1)
	}
}

// progressBar draws on stderr only when it is a terminal; what names the
// command.
func progressBar(stderr io.Writer, n int, what string) *progressbar.ProgressBar {
	f, ok := stderr.(*os.File)
	if !ok || n == 0 || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond))
}
