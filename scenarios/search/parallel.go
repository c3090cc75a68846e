package search

import (
	"runtime"
	"sync"
)

// Parallel calls f(0), ..., f(n-1), GOMAXPROCS at a time: independent
// runs, each on its own engine, so results do not depend on the order.
func Parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}
