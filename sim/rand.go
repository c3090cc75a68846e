package sim

import (
	"hash/fnv"
	"math/rand/v2"
)

// DefaultSeed is used when a scenario names none, so an unseeded run is still
// reproducible.
const DefaultSeed uint64 = 42

// Stream returns a random stream for one purpose ("routing", "skew"), derived
// from the run's seed and the purpose's name, so adding a consumer of
// randomness never shifts another's draws.
func Stream(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}
