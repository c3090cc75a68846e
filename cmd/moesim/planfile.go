package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/report"
	"github.com/moesim/moesim/scenarios/search"
)

// A plan's points file (--out) is a sweep file of the plan's space and
// seeds: moesim report renders it, --resume continues it, and a plan
// evaluates one made of merged shards (--from).

// pointWriter appends a plan's points to --out.
type pointWriter struct {
	path   string
	f      *os.File
	prefix []byte
	known  map[string]*scenarios.Result
}

func openPointWriter(path string, resume bool, p *search.Plan, sf *scenarioFlags, stderr io.Writer) (*pointWriter, error) {
	w := &pointWriter{path: path, known: map[string]*scenarios.Result{}}
	st, err := os.Stat(path)
	var prefix []byte
	if err == nil && st.Size() > 0 {
		if !resume {
			return nil, usagef("--out %s already holds %d bytes: add --resume to continue that plan, or choose another file", path, st.Size())
		}
		sw, err := readPointsFile(path)
		if err != nil {
			return nil, err
		}
		if sw.TornLine > 0 {
			if err := os.Truncate(path, sw.Complete); err != nil {
				return nil, err
			}
			fmt.Fprintf(stderr, "moesim plan: %s:%d: dropped a cut-off last line (an interrupted write); its point runs again\n", path, sw.TornLine)
		}
		if sw.Unterminated {
			prefix = []byte("\n")
		}
		if w.known, err = knownPoints(path, sw.Set, p, sf); err != nil {
			return nil, err
		}
	}
	// Opened at the first point, so a plan that fails to load writes
	// nothing; checked now, so a bad path fails before anything runs.
	w.prefix = prefix
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		f.Close()
	} else if !os.IsNotExist(err) {
		return nil, usagef("--out %s: %v", path, err)
	} else if d, err := os.Stat(filepath.Dir(path)); err != nil || !d.IsDir() {
		return nil, usagef("--out %s: no such folder", path)
	}
	return w, nil
}

func (w *pointWriter) write(p search.Point, r *scenarios.Result) error {
	line, err := report.MarshalLine(p, r)
	if err != nil {
		return err
	}
	if w.f == nil {
		if w.f, err = os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
			return usagef("--out %s: %v", w.path, err)
		}
		line = append(w.prefix, line...)
	}
	if _, err := w.f.Write(line); err != nil {
		return fmt.Errorf("--out %s: %w", w.path, err)
	}
	return nil
}

func (w *pointWriter) close() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	return f.Close()
}

// readPointsFile reads a points file that plan and merge were given: a
// file that is missing or cannot be read is bad input (exit status 2),
// like a malformed one.
func readPointsFile(path string) (*report.SweepFile, error) {
	sw, err := readSweepFile(path)
	if err != nil && !errors.As(err, new(usageError)) {
		return nil, usageError{err}
	}
	return sw, err
}

// knownPoints are a points file's results by key, checked against the
// plan: the same varied paths, and each point's run id the one this plan
// gives it (the same base scenario).
func knownPoints(path string, set *report.Set, p *search.Plan, sf *scenarioFlags) (map[string]*scenarios.Result, error) {
	var paths []string
	for _, v := range p.Varies() {
		paths = append(paths, v.Path)
	}
	if len(set.Rows) > 0 && !slices.Equal(set.Vary, paths) {
		return nil, usagef("%s varies [%s], this plan varies [%s]: the file holds another plan or sweep",
			path, strings.Join(set.Vary, " "), strings.Join(paths, " "))
	}
	known := map[string]*scenarios.Result{}
	for _, row := range set.Rows {
		s, opt, err := sf.load(row.Point.Values...)
		if err != nil {
			return nil, usagef("%s: point %s: %v", path, row.Point, err)
		}
		if want := runID(s, opt); row.Result.Meta.RunID != want {
			return nil, usagef("%s has point %s with run_id %s, this plan's is %s: the plan's base scenario differs from the one the file was made with",
				path, row.Point, row.Result.Meta.RunID, want)
		}
		known[row.Point.Key()] = row.Result
	}
	return known, nil
}

// readPoints reads a finished points file for --from.
func readPoints(path string, p *search.Plan, sf *scenarioFlags) (map[string]*scenarios.Result, error) {
	sw, err := readPointsFile(path)
	if err != nil {
		return nil, err
	}
	if sw.TornLine > 0 {
		return nil, usagef("%s:%d: the line is cut short, as an interrupted write leaves it; rerun that shard", path, sw.TornLine)
	}
	return knownPoints(path, sw.Set, p, sf)
}

// planShard runs one shard of the plan's points, unpruned, into out: a
// sweep of the plan's space and seeds.
func planShard(ctx context.Context, p *search.Plan, sf *scenarioFlags, spec, out string, resume bool, jobs int, stderr io.Writer) error {
	if out == "" || out == "-" {
		return usagef("--shard needs --out FILE.jsonl: the shard appends its points there for moesim merge")
	}
	vs := p.Varies()
	space, err := shardSpace(spec, sf, vs)
	if err != nil {
		return err
	}
	points, err := search.Expand(vs)
	if err != nil {
		return usageError{err}
	}
	points = space.Shard.Filter(points)
	ps, err := loadPoints(sf, points, false)
	if err != nil {
		return err
	}
	job := &sweepJob{out: out, resume: resume, jobs: jobs, points: points, ps: ps, space: space}
	for _, v := range vs {
		job.vary = append(job.vary, v.Path)
	}
	return job.run(ctx, stderr, nil)
}
