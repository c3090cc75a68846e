package main

import (
	"os"

	"github.com/moesim/moesim/scenarios/search"
)

// shardSpace parses --shard (auto/N reads the batch system's index from
// the environment) and describes the whole sweep for the shard's lines:
// its varied values and the run id of its base scenario.
func shardSpace(spec string, sf *scenarioFlags, vs []search.Vary) (*search.Space, error) {
	sh, err := search.ParseShard(spec, os.Getenv)
	if err != nil {
		return nil, usageError{err}
	}
	base, opt, err := sf.load()
	if err != nil {
		return nil, err
	}
	return &search.Space{Shard: sh, Base: runID(base, opt), Vary: vs}, nil
}
