// Package model owns the MoE model's shape: the scenario file's model.*
// section (hidden size, experts, top-k, node limit, MLA attention
// dimensions, wire dtypes, an explicit expert placement) and DeepSeek-V3's
// values as the default. It is plain data, read by the workload generators
// (which experts a token may pick) and the compute model (FLOPs per layer),
// so both can depend on it without depending on each other.
//
// Imports: the standard library only.
package model
