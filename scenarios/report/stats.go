package report

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Statistics are plain functions over slices, in gonum's style: they never
// keep or reorder the caller's slice, and misuse (an unsorted slice where
// a sorted one is promised) panics with a "report: " prefix.

// Dist describes a distribution over a population (every rank, every GPU
// port): its size, mean, population standard deviation, empirical p50
// and p99 (Percentile) and maximum. The zero Dist describes no values.
type Dist struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stddev"`
	P50    float64 `json:"p50"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

// Describe returns the Dist of x. The values are the whole population
// (all ranks, not a sample), so StdDev divides by n.
func Describe(x []float64) Dist {
	if len(x) == 0 {
		return Dist{}
	}
	s := slices.Clone(x)
	slices.Sort(s)
	mean, std := stat.PopMeanStdDev(s, nil)
	return Dist{N: len(s), Mean: mean, StdDev: std,
		P50: Percentile(s, 0.50), P99: Percentile(s, 0.99), Max: s[len(s)-1]}
}

// Percentile is the empirical p-quantile of sorted (gonum's
// stat.Empirical): the smallest value whose share of values at or below it
// is at least p, that is sorted[ceil(p*n)-1] (sorted[0] for p = 0). It
// never interpolates, so it is always one of the values. It panics unless
// sorted is non-empty and sorted ascending and 0 <= p <= 1.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		panic("report: Percentile of no values")
	}
	if !slices.IsSorted(sorted) {
		panic("report: Percentile needs sorted values")
	}
	if !(p >= 0 && p <= 1) {
		panic("report: Percentile p outside [0, 1]")
	}
	return stat.Quantile(p, stat.Empirical, sorted, nil)
}

// Interval is a sample's mean with a two-sided 95% confidence interval
// from Student's t distribution with N-1 degrees of freedom:
// Mean ± t(0.975, N-1) · StdDev / √N, StdDev being the sample standard
// deviation (divided by N-1). With fewer than two values StdDev and the
// interval are undefined and OK is false.
type Interval struct {
	N         int
	Mean      float64
	StdDev    float64
	HalfWidth float64
	OK        bool
}

// Low and High are the interval's ends.
func (iv Interval) Low() float64  { return iv.Mean - iv.HalfWidth }
func (iv Interval) High() float64 { return iv.Mean + iv.HalfWidth }

// MeanCI95 returns the mean of x and its 95% Student t interval.
func MeanCI95(x []float64) Interval {
	iv := Interval{N: len(x)}
	if len(x) == 0 {
		return iv
	}
	if len(x) == 1 {
		iv.Mean = x[0]
		return iv
	}
	iv.Mean, iv.StdDev = stat.MeanStdDev(x, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(x) - 1)}.Quantile(0.975)
	iv.HalfWidth = t * iv.StdDev / math.Sqrt(float64(len(x)))
	iv.OK = true
	return iv
}
