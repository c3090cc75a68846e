// Package topology owns the hardware: GPU models (SMs, per-SM copy rate,
// FLOP/s, HBM), nodes of GPUs joined by a non-blocking NVSwitch, one NIC per
// GPU on the rail of its local index, the scale-out fabric above the NICs
// (leaves and spine, oversubscription, ECMP, planes, PXN: fabric.go), the
// presets with the source of every constant, validation, and the engine
// ports that a cluster becomes (Build) with the network routes between GPUs
// (Route).
//
// "Routing" here means the network path. Where tokens go (gating) lives in
// package dispatch as a Layout.
//
// # Usage
//
//	cfg, _ := topology.Preset("h800")
//	cfg.Nodes = 8
//	if err := cfg.Validate(); err != nil { ... }
//	c := topology.Build(cfg)
//	r := c.Route(0, 9) // GPU 0 of node 0 to GPU 1 of node 1
//	arrive := sim.Transfer(now, bytes, r.Latency, r.Ports...)
package topology
