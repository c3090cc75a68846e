package search

import (
	"fmt"
	"slices"
	"strings"
)

// Merging shards checks that the shards' lines make up the whole sweep:
// every point of the space exactly once, all from the same base scenario
// and moesim version. Problems are named by point (its path=value pairs)
// and file, so a failed shard can be rerun alone.

// ShardLine is one line of a shard file, as merge needs it.
type ShardLine struct {
	File    string
	Point   Point
	Space   *Space
	Version string
}

// MergeError lists what keeps shards from merging.
type MergeError struct {
	Missing   []string // points of the space no file holds
	Duplicate []string // points more than one line holds, with the files
	Mixed     []string // lines of another space, base or version
	Shards    []string // shards (I/N) whose points are missing: rerun these
}

// maxNamed bounds how many points of each kind the message names.
const maxNamed = 20

func (e *MergeError) Error() string {
	var parts []string
	name := func(what string, list []string) {
		if len(list) == 0 {
			return
		}
		shown := list[:min(len(list), maxNamed)]
		s := fmt.Sprintf("%d %s: %s", len(list), what, strings.Join(shown, "; "))
		if len(list) > len(shown) {
			s += fmt.Sprintf("; and %d more", len(list)-len(shown))
		}
		parts = append(parts, s)
	}
	name("points missing", e.Missing)
	name("points given twice", e.Duplicate)
	name("lines from another sweep or version", e.Mixed)
	msg := strings.Join(parts, "\n  ")
	if len(e.Shards) > 0 {
		msg += "\n  rerun shard(s) " + strings.Join(e.Shards, ", ") + " (the same command with --resume finishes a shard's file)"
	}
	return msg
}

// Merged is one point of the merged sweep: the space's point, numbered
// as the unsharded sweep numbers it (Expand's index), and the line that
// holds its result.
type Merged struct {
	Point Point
	Line  int
}

// Merge checks the lines and returns the space's points in Expand's
// order, each with its line. A line is matched to its point by value (its
// Key), as a resumed sweep matches them: the index a line carries is not
// its identity (readers renumber points by value, NewSet). The first
// line's space, base and version are the reference.
func Merge(lines []ShardLine) ([]Merged, error) {
	if len(lines) == 0 {
		return nil, &MergeError{Missing: []string{"every point (the files hold no lines)"}}
	}
	ref := lines[0]
	if ref.Space == nil {
		return nil, fmt.Errorf("%s: its lines carry no space: write shard files with --shard I/N", ref.File)
	}
	points, err := Expand(ref.Space.Vary)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.File, err)
	}
	byKey := make(map[string]int, len(points))
	for i, p := range points {
		byKey[p.Key()] = i
	}
	e := &MergeError{}
	at := make([]int, len(points))
	for i := range at {
		at[i] = -1
	}
	files := make([][]string, len(points))
	for li, l := range lines {
		switch {
		case l.Space == nil:
			e.Mixed = append(e.Mixed, fmt.Sprintf("%s: point %s has no space (not written with --shard)", l.File, l.Point))
			continue
		case l.Space.Base != ref.Space.Base:
			e.Mixed = append(e.Mixed, fmt.Sprintf("%s: point %s has base scenario %s, %s has %s", l.File, l.Point, l.Space.Base, ref.File, ref.Space.Base))
			continue
		case !sameVary(l.Space.Vary, ref.Space.Vary):
			e.Mixed = append(e.Mixed, fmt.Sprintf("%s: point %s belongs to another space than %s's", l.File, l.Point, ref.File))
			continue
		case l.Space.Shard.N != ref.Space.Shard.N:
			e.Mixed = append(e.Mixed, fmt.Sprintf("%s: point %s is from shard %s, %s's from shard %s: one merge, one N", l.File, l.Point, l.Space.Shard, ref.File, ref.Space.Shard))
			continue
		case l.Version != ref.Version:
			e.Mixed = append(e.Mixed, fmt.Sprintf("%s: point %s was run by moesim %s, %s's by %s", l.File, l.Point, l.Version, ref.File, ref.Version))
			continue
		}
		i, ok := byKey[l.Point.Key()]
		if !ok {
			e.Mixed = append(e.Mixed, fmt.Sprintf("%s: point %s is not a point of the space its line names", l.File, l.Point))
			continue
		}
		files[i] = append(files[i], l.File)
		if at[i] >= 0 {
			continue
		}
		at[i] = li
	}
	var shards []int
	for i, p := range points {
		switch {
		case at[i] < 0:
			e.Missing = append(e.Missing, p.String())
			if s := ShardOf(p, ref.Space.Shard.N); !slices.Contains(shards, s) {
				shards = append(shards, s)
			}
		case len(files[i]) > 1:
			e.Duplicate = append(e.Duplicate, fmt.Sprintf("%s (in %s)", p, strings.Join(files[i], ", ")))
		}
	}
	slices.Sort(shards)
	for _, s := range shards {
		e.Shards = append(e.Shards, Shard{s, ref.Space.Shard.N}.String())
	}
	if len(e.Missing)+len(e.Duplicate)+len(e.Mixed) > 0 {
		return nil, e
	}
	out := make([]Merged, len(points))
	for i, p := range points {
		out[i] = Merged{Point: p, Line: at[i]}
	}
	return out, nil
}

func sameVary(a, b []Vary) bool {
	return slices.EqualFunc(a, b, func(x, y Vary) bool { return x.Path == y.Path && slices.Equal(x.Values, y.Values) })
}
