package dispatch

import (
	"fmt"
	"slices"
)

// verifier follows every record from forwarder to receiver and checks the
// conservation law: each (token, target GPU) pair arrives exactly once and
// nothing else arrives.
type verifier struct {
	lay  *Layout
	ch   int
	logs [][]tokenRef // per NVL ring: records in the order written
	read []int
	// delivered[src][i] counts arrivals of the pair at CSR entry i.
	delivered [][]uint8
	err       error
}

type tokenRef struct{ src, tok int32 }

func newVerifier(l *Layout, ch int) *verifier {
	v := &verifier{lay: l, ch: ch,
		logs: make([][]tokenRef, l.Ranks*ch*l.GPUsPerNode), read: make([]int, l.Ranks*ch*l.GPUsPerNode),
		delivered: make([][]uint8, l.Ranks)}
	for src := range l.Ranks {
		v.delivered[src] = make([]uint8, len(l.targets[src]))
	}
	return v
}

func (v *verifier) ring(dst, c, srcLocal int) int {
	return (dst*v.ch+c)*v.lay.GPUsPerNode + srcLocal
}

// forwarded logs that forwarder fwd sent token tok of src to local GPU d.
func (v *verifier) forwarded(fwd, c, d, src, tok int) {
	g := v.lay.GPUsPerNode
	dst := fwd - fwd%g + d
	i := v.ring(dst, c, fwd%g)
	v.logs[i] = append(v.logs[i], tokenRef{int32(src), int32(tok)})
}

// received marks the next n records of a ring as delivered to dst.
func (v *verifier) received(dst, c, srcLocal, n int) {
	i := v.ring(dst, c, srcLocal)
	for _, ref := range v.logs[i][v.read[i] : v.read[i]+n] {
		targets := v.lay.Targets(int(ref.src), int(ref.tok))
		j, ok := slices.BinarySearch(targets, int32(dst))
		if !ok {
			if v.err == nil {
				v.err = fmt.Errorf("dispatch: verify: token %d of rank %d delivered to rank %d, which it does not target", ref.tok, ref.src, dst)
			}
			continue
		}
		v.delivered[ref.src][int(v.lay.start[ref.src][ref.tok])+j]++
	}
	v.read[i] += n
}

func (v *verifier) check() error {
	if v.err != nil {
		return v.err
	}
	for src, counts := range v.delivered {
		for t := range v.lay.Tokens[src] {
			s, e := v.lay.start[src][t], v.lay.start[src][t+1]
			for j := s; j < e; j++ {
				if counts[j] != 1 {
					return fmt.Errorf("dispatch: verify: token %d of rank %d arrived %d times at rank %d, want once",
						t, src, counts[j], v.lay.targets[src][j])
				}
			}
		}
	}
	return nil
}
