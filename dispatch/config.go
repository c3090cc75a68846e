package dispatch

import (
	"fmt"
	"strings"
)

// Mode selects the dispatch algorithm.
type Mode string

// Modes.
const (
	// Normal is DeepEP's normal (high-throughput) kernel: one IB copy per
	// target node, NVLink forwarding inside it.
	Normal Mode = "normal"
	// AllToAll is a plain all-to-allv as NCCL runs it for dispatchers that
	// do not forward: one message per (source GPU, target GPU), inter-node
	// pairs straight NIC to NIC, no per-node deduplication.
	AllToAll Mode = "alltoall"
	// LowLatency is DeepEP's low-latency (decode) kernel: one message per
	// (token, selected expert) straight to the expert's GPU, latency-bound
	// rather than bandwidth-bound (lowlatency.go).
	LowLatency Mode = "low-latency"
	// V2 is DeepEP V2's ElasticBuffer kernels (v2.go): tokens move one per
	// warp by bulk (TMA) copies straight into receive buffers sized for
	// every token, no rings, a handful of SMs; V2Path picks hybrid or
	// direct.
	V2 Mode = "v2"
)

// V2Path is DeepEP V2's route across nodes.
type V2Path string

// V2 paths.
const (
	// V2Hybrid sends a token once per target node over RDMA, to the GPU of
	// the same local index there, which forwards it over NVLink (V1's
	// route; DeepEP's allow_hybrid_mode, its default). A single node
	// always runs direct.
	V2Hybrid V2Path = "hybrid"
	// V2Direct sends a token to each target GPU straight: NVLink inside
	// the node, one RDMA put per GPU in other nodes.
	V2Direct V2Path = "direct"
)

// Config is the kernel configuration: DeepEP's
// Config(num_sms, nvl_chunk, nvl_buffer, rdma_chunk, rdma_buffer), sizes in
// tokens, plus the mode.
type Config struct {
	Mode   Mode `yaml:"mode"`
	NumSMs int  `yaml:"num_sms"` // even; NumSMs/2 channels
	// NVLChunk tokens move per forwarder round; NVLBuffer slots per
	// (channel, source) ring on each receiver.
	NVLChunk  int `yaml:"nvl_chunk"`
	NVLBuffer int `yaml:"nvl_buffer"`
	// RDMAChunk tokens per RDMA write; RDMABuffer slots per (channel, peer
	// node) ring.
	RDMAChunk  int `yaml:"rdma_chunk"`
	RDMABuffer int `yaml:"rdma_buffer"`
	// LLRDMAOnly sends the low-latency kernels' same-node messages through
	// the NICs as well, as DeepEP did before PR #173 (June 2025) and as its
	// README's February 2025 low-latency table was measured; by default
	// they use NVLink.
	LLRDMAOnly bool `yaml:"ll_rdma_only,omitempty"`
	// LLHook splits each low-latency kernel into a send phase and a
	// receive phase launched apart (DeepEP's return_recv_hook): the
	// transfer runs between them with no SM held.
	LLHook bool `yaml:"ll_hook,omitempty"`
	// V2Path is the V2 kernels' route (Mode V2 only).
	V2Path V2Path `yaml:"v2_path,omitempty"`
	// V2MaxPerf is DeepEP V2's prefer_overlap_with_compute = False: the
	// analytical SM count is raised to at least 64 and a hybrid kernel
	// runs 4 channels per SM instead of 8 (elastic.py, buffer.hpp).
	V2MaxPerf bool `yaml:"v2_max_perf,omitempty"`
}

// CombineReplaysDispatch says the combine of this mode needs the handle
// of the dispatch run itself, not only its layout and config: DeepEP
// V2's hybrid combine replays the order its dispatch's forward warps took
// (and reuses its channels), so it cannot start before that dispatch ends.
func (c Config) CombineReplaysDispatch() bool { return c.Mode == V2 }

// Channels is NumSMs/2: each channel is a pair of SMs.
func (c Config) Channels() int { return c.NumSMs / 2 }

type defaultRow struct {
	ranks                                int
	nvlChunk, nvlBuf, rdmaChunk, rdmaBuf int
}

// DeepEP's tuned defaults at the end of V1 (deep_ep/buffer.py,
// get_dispatch_config and get_combine_config @ 567632d; reference §3.6).
var (
	dispatchDefaults = []defaultRow{
		{2, 24, 256, 6, 128}, {4, 6, 256, 6, 128}, {8, 6, 256, 6, 128},
		{16, 36, 288, 20, 128}, {24, 32, 288, 8, 128}, {32, 32, 288, 8, 128},
		{48, 32, 288, 8, 128}, {64, 32, 288, 8, 128}, {96, 20, 480, 12, 128},
		{128, 20, 560, 12, 128}, {144, 32, 720, 12, 128}, {160, 28, 720, 12, 128},
	}
	combineDefaults = []defaultRow{
		{2, 10, 256, 6, 128}, {4, 9, 256, 6, 128}, {8, 4, 256, 6, 128},
		{16, 4, 288, 12, 128}, {24, 1, 288, 8, 128}, {32, 1, 288, 8, 128},
		{48, 1, 288, 8, 128}, {64, 1, 288, 8, 128}, {96, 1, 480, 8, 128},
		{128, 1, 560, 8, 128}, {144, 2, 720, 8, 128}, {160, 2, 720, 8, 128},
	}
)

// DefaultNumSMs is DeepEP's Buffer.num_sms and DeepSeek-V3's choice (20 of
// 132 SMs, §3.5.1).
const DefaultNumSMs = 20

// pickDefault takes DeepEP's row for ranks. DeepEP's table has rows for
// the rank counts its kernels run (buffer.py asserts num_ranks in
// config_map); for any other count, which only an extrapolation beyond
// DeepEP V1 may use (CheckV1Limits), it takes the row of the smallest
// listed count above it, or the largest row.
func pickDefault(rows []defaultRow, ranks, numSMs int) Config {
	row := rowFor(rows, ranks)
	return Config{Mode: Normal, NumSMs: numSMs, NVLChunk: row.nvlChunk, NVLBuffer: row.nvlBuf,
		RDMAChunk: row.rdmaChunk, RDMABuffer: row.rdmaBuf}
}

func rowFor(rows []defaultRow, ranks int) defaultRow {
	for _, r := range rows {
		if r.ranks >= ranks {
			return r
		}
	}
	return rows[len(rows)-1]
}

// DefaultRow is the rank count of the default-config row that ranks takes,
// and whether DeepEP's table lists ranks itself.
func DefaultRow(ranks int) (row int, exact bool) {
	r := rowFor(dispatchDefaults, ranks)
	return r.ranks, r.ranks == ranks
}

// DefaultConfig is DeepEP's dispatch default for a rank count (the row for
// the smallest listed count at or above it).
func DefaultConfig(ranks, numSMs int) Config { return pickDefault(dispatchDefaults, ranks, numSMs) }

// DefaultCombineConfig is DeepEP's combine default for a rank count.
func DefaultCombineConfig(ranks, numSMs int) Config {
	return pickDefault(combineDefaults, ranks, numSMs)
}

// Limits that keep a run bounded; beyond them a typo is likelier than intent.
const (
	maxChunk  = 4096
	maxBuffer = 1 << 16
)

// Validate checks the config for a GPU with deviceSMs SMs, as dispatch's
// (its errors name kernel.dispatch.*). It rejects configurations that
// DeepEP's host asserts reject (config.hpp): an RDMA ring must hold two
// send chunks, since credits come back a chunk at a time, and an NVL ring
// must be larger than its chunk.
func (c Config) Validate(deviceSMs int) error { return c.ValidateAs(deviceSMs, "kernel.dispatch") }

// ValidateAs is Validate for the config of the scenario section named
// (kernel.dispatch or kernel.combine), which its errors name.
func (c Config) ValidateAs(deviceSMs int, section string) error {
	switch c.Mode {
	case Normal, AllToAll, LowLatency:
	case V2:
		return c.validateV2(deviceSMs)
	default:
		return fmt.Errorf("dispatch: kernel.mode = %q, want one of %s", c.Mode, strings.Join([]string{string(Normal), string(AllToAll), string(LowLatency), string(V2)}, ", "))
	}
	if c.NumSMs%2 != 0 {
		return fmt.Errorf("dispatch: kernel.num_sms = %d is odd; each channel takes 2 SMs", c.NumSMs)
	}
	if c.NumSMs < 2 || c.NumSMs > deviceSMs-2 {
		return fmt.Errorf("dispatch: kernel.num_sms = %d, want an even number in 2..%d (the GPU has %d SMs; each channel takes 2)",
			c.NumSMs, (deviceSMs-2)&^1, deviceSMs)
	}
	inRange := func(field string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("dispatch: %s = %d, want %d..%d", field, v, lo, hi)
		}
		return nil
	}
	p := section + "."
	for _, err := range []error{
		inRange(p+"nvl_chunk", c.NVLChunk, 1, maxChunk),
		inRange(p+"nvl_buffer", c.NVLBuffer, 1, maxBuffer),
		inRange(p+"rdma_chunk", c.RDMAChunk, 1, maxChunk),
		inRange(p+"rdma_buffer", c.RDMABuffer, 1, maxBuffer),
	} {
		if err != nil {
			return err
		}
	}
	if c.NVLBuffer <= c.NVLChunk {
		return fmt.Errorf("dispatch: %snvl_buffer = %d is not larger than %snvl_chunk = %d; DeepEP asserts nvl_chunk < nvl_buffer (a forwarder waits for a chunk's worth of free slots): want nvl_buffer >= %d",
			p, c.NVLBuffer, p, c.NVLChunk, c.NVLChunk+1)
	}
	if c.RDMABuffer < 2*c.RDMAChunk {
		return fmt.Errorf("dispatch: %srdma_buffer = %d holds fewer than two %srdma_chunk (%d) chunks; DeepEP requires rdma_buffer >= 2*rdma_chunk (credits return per chunk): want rdma_buffer >= %d",
			p, c.RDMABuffer, p, c.RDMAChunk, 2*c.RDMAChunk)
	}
	return nil
}
