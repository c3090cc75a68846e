package main

import (
	"fmt"
	"io"

	"github.com/moesim/moesim/scenarios/report"
	"github.com/moesim/moesim/scenarios/search"
)

func init() {
	commands["merge"] = command{"merge shard files (sweep or plan --shard I/N) into one sweep file, checking every point is there exactly once", cmdMerge}
}

func cmdMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("merge", "merge OUT.jsonl SHARD.jsonl [SHARD.jsonl ...]", stderr)
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) < 2 {
		return usagef("want the output file and one or more shard files, as in `moesim merge all.jsonl s1.jsonl s2.jsonl`; got %d arguments", len(files))
	}
	out, shards := files[0], files[1:]
	for _, s := range shards {
		if s == out {
			return usagef("%s is both the output and a shard", out)
		}
	}
	var (
		lines []search.ShardLine
		rows  []report.Row
	)
	for _, name := range shards {
		sw, err := readPointsFile(name)
		if err != nil {
			return err
		}
		if sw.TornLine > 0 {
			return fmt.Errorf("%s:%d: the last line is cut short (the shard was killed mid-write): rerun that shard with --resume", name, sw.TornLine)
		}
		for _, r := range sw.Set.Rows {
			lines = append(lines, search.ShardLine{File: name, Point: r.Point, Space: r.Space, Version: r.Result.Meta.Version})
			rows = append(rows, r)
		}
	}
	order, err := search.Merge(lines)
	if err != nil {
		return err
	}
	err = writeOutput(out, stdout, func(w io.Writer) error {
		for _, m := range order {
			// The space's point: its index is the one the unsharded
			// sweep writes (a file's rows are renumbered when read).
			line, err := report.MarshalLine(m.Point, rows[m.Line].Result)
			if err != nil {
				return err
			}
			if _, err := w.Write(line); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "moesim merge: %s: %d points from %d files\n", out, len(order), len(shards))
	return nil
}
