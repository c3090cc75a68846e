package report

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/search"
)

// A shard's lines carry the whole sweep beside the point, so that
// `moesim merge` can check that the shards hold every point exactly once:
//
//	"point":{"index":3,"values":{...},"space":{"shard":"2/3","base":"RUN-ID",
//	         "vary":[{"path":"kernel.num_sms","values":["8","16"]}]}}
//
// Lines of an unsharded sweep have no "space"; merge writes none, so a
// merged file is byte for byte the unsharded sweep's lines in point order.

type varyJSON struct {
	Path   string   `json:"path"`
	Values []string `json:"values"`
}

type spaceJSON struct {
	Shard string     `json:"shard"`
	Base  string     `json:"base"`
	Vary  []varyJSON `json:"vary"`
}

func spaceOf(s *search.Space) *spaceJSON {
	if s == nil {
		return nil
	}
	j := &spaceJSON{Shard: s.Shard.String(), Base: s.Base}
	for _, v := range s.Vary {
		j.Vary = append(j.Vary, varyJSON{v.Path, v.Values})
	}
	return j
}

func (j *spaceJSON) space() (*search.Space, error) {
	if j == nil {
		return nil, nil
	}
	sh, err := search.ParseShard(j.Shard, func(string) string { return "" })
	if err != nil || j.Shard == "" {
		return nil, fmt.Errorf(`"point"."space"."shard" = %q, want I/N`, j.Shard)
	}
	if j.Base == "" || len(j.Vary) == 0 {
		return nil, errors.New(`"point"."space" needs "base" and "vary"`)
	}
	s := &search.Space{Shard: sh, Base: j.Base}
	for _, v := range j.Vary {
		if v.Path == "" || len(v.Values) == 0 {
			return nil, errors.New(`"point"."space"."vary": every entry needs a path and values`)
		}
		s.Vary = append(s.Vary, search.Vary{Path: v.Path, Values: v.Values})
	}
	if _, err := search.Expand(s.Vary); err != nil {
		return nil, fmt.Errorf(`"point"."space": %v`, err)
	}
	return s, nil
}

// MarshalShardLine is MarshalLine for a shard's point: the line carries
// the whole sweep (sp).
func MarshalShardLine(p search.Point, r *scenarios.Result, sp *search.Space) ([]byte, error) {
	b, err := json.Marshal(lineOf(Row{Point: p, Result: r, Space: sp}))
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
