package search

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/moesim/moesim/scenarios"
)

// Every point lands in exactly one shard, for every N from 1 to 16, and
// adding values to a space moves none of the old points.
func TestShardPartition(t *testing.T) {
	vs := []Vary{{"kernel.num_sms", []string{"8", "12", "16", "20", "24", "28"}}, {"seed", []string{"1", "2", "3", "4", "5"}}}
	points, err := Expand(vs)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 16; n++ {
		count := map[string]int{}
		sizes := 0
		for i := 1; i <= n; i++ {
			for _, p := range (Shard{i, n}).Filter(points) {
				count[p.Key()]++
				sizes++
			}
		}
		if sizes != len(points) || len(count) != len(points) {
			t.Fatalf("N=%d: %d points over the shards, %d distinct, want %d once each", n, sizes, len(count), len(points))
		}
		for k, c := range count {
			if c != 1 {
				t.Fatalf("N=%d: point %q in %d shards", n, k, c)
			}
		}
	}
	more := slices.Clone(vs)
	more[0].Values = append(slices.Clone(more[0].Values), "32", "36")
	bigger, err := Expand(more)
	if err != nil {
		t.Fatal(err)
	}
	shardOf := map[string]int{}
	for _, p := range bigger {
		shardOf[p.Key()] = ShardOf(p, 7)
	}
	for _, p := range points {
		if ShardOf(p, 7) != shardOf[p.Key()] {
			t.Fatalf("point %s moved shards when values were added", p)
		}
	}
}

func TestParseShard(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		spec string
		env  func(string) string
		want Shard
		err  string
	}{
		{"2/3", env(), Shard{2, 3}, ""},
		{"auto/4", env(EnvJobCompletionIndex, "0"), Shard{1, 4}, ""},
		{"auto/4", env(EnvJobCompletionIndex, "3"), Shard{4, 4}, ""},
		{"auto/4", env(EnvSlurmArrayTaskID, "3"), Shard{3, 4}, ""},
		{"auto/4", env(EnvSlurmArrayTaskID, "0"), Shard{}, "submit the array as --array=1-4"},
		{"auto/4", env(EnvJobCompletionIndex, "4"), Shard{}, "gives shard 5, want 1..4"},
		{"auto/4", env(), Shard{}, "neither JOB_COMPLETION_INDEX"},
		{"0/3", env(), Shard{}, "shards count from 1"},
		{"4/3", env(), Shard{}, "want I/N"},
		{"1/0", env(), Shard{}, "want I/N"},
		{"1-3", env(), Shard{}, "want I/N"},
	} {
		got, err := ParseShard(c.spec, c.env)
		if c.err == "" && (err != nil || got != c.want) {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", c.spec, got, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseShard(%q) = %v, %v; want an error containing %q", c.spec, got, err, c.err)
		}
	}
}

// Merge names missing, duplicated and mixed points.
func TestMergeChecks(t *testing.T) {
	vs := []Vary{{"kernel.num_sms", []string{"8", "16", "24"}}}
	points, _ := Expand(vs)
	sp := &Space{Shard: Shard{1, 2}, Base: "b", Vary: vs}
	line := func(file string, i int, mod func(*ShardLine)) ShardLine {
		l := ShardLine{File: file, Point: points[i], Space: sp, Version: scenarios.Version}
		if mod != nil {
			l.Point.Values = slices.Clone(l.Point.Values)
			mod(&l)
		}
		return l
	}
	order, err := Merge([]ShardLine{line("b", 2, nil), line("a", 0, nil), line("a", 1, nil)})
	var got []int
	for _, m := range order {
		got = append(got, m.Line)
	}
	if err != nil || !slices.Equal(got, []int{1, 2, 0}) {
		t.Fatalf("Merge of a whole space = %v, %v; want lines in point order", order, err)
	}
	// A point is matched by value, not by the index its line carries (a
	// shard file read back is numbered 0..k-1 by value): the merged point
	// has the space's index.
	renumbered := func(i int) func(*ShardLine) { return func(l *ShardLine) { l.Point.Index = i } }
	order, err = Merge([]ShardLine{line("b", 2, renumbered(0)), line("a", 0, nil), line("a", 1, renumbered(0))})
	if err != nil || len(order) != 3 {
		t.Fatalf("Merge of renumbered lines: %v, %v", order, err)
	}
	for i, m := range order {
		if m.Point.Index != i || m.Point.Key() != points[i].Key() || m.Line != []int{1, 2, 0}[i] {
			t.Fatalf("Merge of renumbered lines: point %d = %+v, want the space's point %v from line %d", i, m, points[i], []int{1, 2, 0}[i])
		}
	}
	var me *MergeError
	_, err = Merge([]ShardLine{line("a", 0, nil), line("a", 1, nil), line("a", 2, nil), line("b", 1, func(l *ShardLine) { l.Point.Values[0].Value = "32" })})
	if !errors.As(err, &me) || len(me.Mixed) != 1 || !strings.Contains(me.Mixed[0], "b: point kernel.num_sms=32 is not a point of the space") {
		t.Fatalf("point outside the space: %v", err)
	}
	_, err = Merge([]ShardLine{line("a", 0, nil), line("a", 2, nil)})
	if !errors.As(err, &me) || !slices.Equal(me.Missing, []string{"kernel.num_sms=16"}) ||
		!strings.Contains(err.Error(), fmt.Sprintf("rerun shard(s) %d/2", ShardOf(points[1], 2))) {
		t.Fatalf("missing point: %v", err)
	}
	_, err = Merge([]ShardLine{line("a", 0, nil), line("a", 1, nil), line("a", 2, nil), line("b", 1, nil)})
	if !errors.As(err, &me) || len(me.Duplicate) != 1 || !strings.Contains(me.Duplicate[0], "kernel.num_sms=16 (in a, b)") {
		t.Fatalf("duplicate point: %v", err)
	}
	_, err = Merge([]ShardLine{line("a", 0, nil), line("a", 1, nil), line("b", 2, func(l *ShardLine) { l.Version = "0.0.1" })})
	if !errors.As(err, &me) || len(me.Mixed) != 1 || !strings.Contains(me.Mixed[0], "b: point kernel.num_sms=24 was run by moesim 0.0.1") {
		t.Fatalf("mixed version: %v", err)
	}
	other := &Space{Shard: Shard{1, 2}, Base: "c", Vary: vs}
	_, err = Merge([]ShardLine{line("a", 0, nil), line("a", 1, nil), line("b", 2, func(l *ShardLine) { l.Space = other })})
	if !errors.As(err, &me) || len(me.Mixed) != 1 || !strings.Contains(me.Mixed[0], "base scenario c") {
		t.Fatalf("mixed base: %v", err)
	}
}
