package search

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shards split a sweep's or a plan's points over independent jobs (a
// Kubernetes Indexed Job's pods, a Slurm array's tasks): shard I of N
// runs the points whose Key hashes to I. The hash is FNV-1a of the Key
// (the point's sorted path=value pairs), so a point's shard depends on
// its values alone: adding values to a space adds points without moving
// the others, and every machine agrees on the split.
//
// Invariants:
//   - For every N >= 1 each point lands in exactly one of shards 1..N.
//   - Shard numbers are 1-based, as written on the command line (1/3,
//     2/3, 3/3); batch systems' 0-based indexes are converted by
//     ParseShard.

// MaxShards bounds N.
const MaxShards = 100000

// Shard is shard I of N (1 <= I <= N).
type Shard struct{ I, N int }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// ShardOf is the shard (1..n) that holds the point.
func ShardOf(p Point, n int) int {
	h := fnv.New64a()
	h.Write([]byte(p.Key()))
	return int(h.Sum64()%uint64(n)) + 1
}

// Filter returns the points of this shard, in order.
func (s Shard) Filter(points []Point) []Point {
	var out []Point
	for _, p := range points {
		if ShardOf(p, s.N) == s.I {
			out = append(out, p)
		}
	}
	return out
}

// Environment variables --shard auto/N reads, in this order.
const (
	EnvJobCompletionIndex = "JOB_COMPLETION_INDEX" // Kubernetes Indexed Job: 0..N-1
	EnvSlurmArrayTaskID   = "SLURM_ARRAY_TASK_ID"  // Slurm job array: --array=1-N
)

// ParseShard parses "I/N" (1 <= I <= N) or "auto/N", which takes I from
// JOB_COMPLETION_INDEX (0-based: I = index+1) or SLURM_ARRAY_TASK_ID (the
// array is --array=1-N: I = id) through getenv.
func ParseShard(s string, getenv func(string) string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 1 || n > MaxShards {
		return Shard{}, fmt.Errorf("--shard = %q, want I/N with 1 <= I <= N <= %d, or auto/N", s, MaxShards)
	}
	if is != "auto" {
		i, err := strconv.Atoi(is)
		if err != nil || i < 1 || i > n {
			return Shard{}, fmt.Errorf("--shard = %q, want I/N with 1 <= I <= N (shards count from 1), or auto/N", s)
		}
		return Shard{I: i, N: n}, nil
	}
	var i int
	switch {
	case getenv(EnvJobCompletionIndex) != "":
		v := getenv(EnvJobCompletionIndex)
		x, err := strconv.Atoi(v)
		if err != nil || x < 0 {
			return Shard{}, fmt.Errorf("--shard auto/%d: %s = %q, want 0 or more", n, EnvJobCompletionIndex, v)
		}
		i = x + 1
	case getenv(EnvSlurmArrayTaskID) != "":
		// The task id is the shard (--array=1-N), so a failed task
		// reruns alone with --array=K and still runs shard K.
		v := getenv(EnvSlurmArrayTaskID)
		x, err := strconv.Atoi(v)
		if err != nil || x < 1 || x > n {
			return Shard{}, fmt.Errorf("--shard auto/%d: %s = %q, want 1..%d: submit the array as --array=1-%d", n, EnvSlurmArrayTaskID, v, n, n)
		}
		i = x
	default:
		return Shard{}, fmt.Errorf("--shard auto/%d: neither %s (Kubernetes Indexed Job) nor %s (Slurm array) is set; give --shard I/%d", n, EnvJobCompletionIndex, EnvSlurmArrayTaskID, n)
	}
	if i < 1 || i > n {
		return Shard{}, fmt.Errorf("--shard auto/%d: the batch index gives shard %d, want 1..%d (a Kubernetes completions or Slurm --array range that matches N)", n, i, n)
	}
	return Shard{I: i, N: n}, nil
}

// Space describes the whole sweep a shard's lines belong to, so that
// merge can tell a missing point from one never asked for.
type Space struct {
	// Shard is the shard that wrote the line.
	Shard Shard
	// Base is the run id of the base scenario (preset or file, --set,
	// --seed) before the point's values: equal bases, equal sweeps.
	Base string
	Vary []Vary
}

// Points is the size of the space.
func (s *Space) Points() int {
	n := 1
	for _, v := range s.Vary {
		n *= len(v.Values)
	}
	return n
}
