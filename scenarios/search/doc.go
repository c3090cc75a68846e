// Package search owns running many scenarios: sweeps (the cartesian
// product of --vary values, expanded in a fixed order, run in parallel,
// resumable by point key), the SM-split tune and its recommendation, and
// the knee sweep that finds where dispatch turns from IB-bound to
// NVLink-bound. Each point is an independent scenarios.Run on its own
// engine, so results do not depend on the worker count or completion
// order; Parallel and RunPoints are the two ways points run concurrently.
//
// # Usage
//
//	pts, err := search.Expand(varies)
//	err = search.RunPoints(ctx, pts, jobs, run, each)
//	tps, err := search.Tune(s, 4, 48, scenarios.RunOptions{})
//	best, err := search.Recommend(tps, search.ObjectiveLayer)
//
// Imports: scenarios (and below).
package search
