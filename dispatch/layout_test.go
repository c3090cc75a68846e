package dispatch

import "testing"

// TestRankPeers checks the sparse (rank, rank) token counts against a
// dense count of every token's targets, both ways.
func TestRankPeers(t *testing.T) {
	s := setup(t, "h800", 4, 256, 8, 2, 3)
	lay := s.lay
	dense := make([][]int32, lay.Ranks)
	for src := range lay.Ranks {
		dense[src] = make([]int32, lay.Ranks)
		for tok := range lay.Tokens[src] {
			for _, d := range lay.Targets(src, tok) {
				dense[src][d]++
			}
		}
	}
	for _, reverse := range []bool{false, true} {
		p := lay.RankPeers(reverse)
		pairs := 0
		for r := range lay.Ranks {
			peers, tokens := p.Of(r)
			if len(peers) != len(tokens) {
				t.Fatalf("reverse %v rank %d: %d peers, %d counts", reverse, r, len(peers), len(tokens))
			}
			for i, q := range peers {
				if i > 0 && peers[i-1] >= q {
					t.Fatalf("reverse %v rank %d: peers %v not ascending", reverse, r, peers)
				}
				want := dense[r][q]
				if reverse {
					want = dense[q][r]
				}
				if tokens[i] != want || want == 0 {
					t.Errorf("reverse %v: ranks %d, %d: %d tokens, want %d (listed only when > 0)", reverse, r, q, tokens[i], want)
				}
			}
			pairs += len(peers)
		}
		nonzero := 0
		for src := range lay.Ranks {
			for _, n := range dense[src] {
				if n > 0 {
					nonzero++
				}
			}
		}
		if pairs != nonzero {
			t.Errorf("reverse %v: %d pairs listed, %d carry tokens", reverse, pairs, nonzero)
		}
	}
}
