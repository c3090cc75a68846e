// Package workload owns where tokens go: the scenario file's workload.*
// section, the routing generators (node-limited top-k as DeepSeek-V3 and
// DeepEP's tests draw it, skewed Zipf popularity with a hot expert and a
// hot rank, balanced routing placed on the NVLink/IB knee, and an even
// all-to-all), routing traces read from .npy and CSV bytes, and expert
// placement (contiguous with redundant replicas, or an explicit map).
// Every generated dispatch.Routing is a pure function of its inputs and
// the seed; nothing here opens a file.
//
// # Usage
//
//	rt, err := workload.GenerateRouting(w, m, nodes, gpusPerNode, seed)
//	place, err := workload.Placement(m, nodes*gpusPerNode)
//	lay, err := dispatch.NewLayout(rt, place, nodes, gpusPerNode, m.Experts)
//
// Imports: sim, topology, dispatch, scenarios/model.
package workload
