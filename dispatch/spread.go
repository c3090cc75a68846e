package dispatch

import (
	"runtime"
	"sync"
)

// spreadMin is the least work (tokens) worth a goroutine of its own:
// below it the start-up costs more than the split saves.
const spreadMin = 1 << 15

// workersFor is how many goroutines spread should use on n items of work
// tokens in all: one per core at most, and fewer when the work is small.
func workersFor(n, work int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n, work/spreadMin))
}

// spread calls fn(w, lo, hi) for w < workers over [0, n) cut into
// contiguous ranges, range w to goroutine w, and waits for them all.
// Callers keep each range's results apart (or write disjoint parts of one
// result) and merge in range order, so results do not depend on the split.
func spread(n, workers int, fn func(w, lo, hi int)) {
	if workers <= 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { fn(w, n*w/workers, n*(w+1)/workers) })
	}
	wg.Wait()
}
