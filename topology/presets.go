package topology

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moesim/moesim/sim"
)

// Units for writing constants readably.
const (
	GBps   = 1e9  // bytes per second
	TFLOPS = 1e12 // FLOP per second
)

// Shared constants. Each carries its source.
const (
	// hopperSMCopy: DeepEP's intranode test on H20 reached 337 GB/s of
	// logical NVLink bandwidth with 24 SMs (12 sender SMs, 28 GB/s each) and
	// the maintainers answered that more SMs would raise it (DeepEP issue
	// #16), so a Hopper SM copies at about 30 GB/s when its link is not the
	// limit. Assumed for every preset; no Blackwell measurement was found.
	hopperSMCopy = 30 * GBps
	// hopperSMReduce: summing BF16 rows is bound by loading them, so it is
	// taken at the copy rate (bytes of input rows per second). An
	// assumption, not a measurement.
	hopperSMReduce = 30 * GBps
	// nvlinkAchievable: H800 NVLink is 200 GB/s per direction nominal and
	// "peaks at approximately 160 GB/s" measured (DeepEP issue #16,
	// DeepSeek-V3 report §3.2.2). Other GPUs take the same 0.8 ratio of
	// their nominal figure: an assumption, stated in docs/model.md.
	nvlinkAchievable = 0.8
	// cx7NIC: a 400 Gb/s ConnectX-7 is 50 GB/s per direction (DeepSeek-V3
	// §3.2.2: "IB (50 GB/s)").
	cx7NIC = 50 * GBps
	// Latencies from the ISCA'25 DeepSeek-V3 paper, Table 5: InfiniBand
	// 2.8 µs within a leaf switch (EP64 on 8 nodes is under one leaf of a
	// 64-port switch), NVLink 3.33 µs.
	ibLatencySameLeaf = 2800 * sim.Nanosecond
	nvlinkLatency     = 3330 * sim.Nanosecond
	// kernelLaunch: host launch gap plus grid start of one kernel, about
	// 5 µs on Hopper with PyTorch's launch path (an assumption checked
	// against the small fixed part of DeepEP's benchmark times; see
	// docs/validation.md).
	kernelLaunch = 5 * sim.Microsecond
	// Kernel link efficiencies, calibrated on two published figures and
	// then held fixed for every other case (docs/validation.md): DeepEP V1's
	// intranode EP8 dispatch at 153 GB/s of logical NVLink bandwidth sets
	// NVLink's (0.87 × 160 = 139 GB/s physical), and its internode EP32
	// dispatch at 58 GB/s of logical RDMA bandwidth sets the NIC's
	// (0.91 × 50 = 45.5 GB/s physical, under NCCL's 48-49 GB/s for bulk
	// transfers).
	nvlinkKernelEfficiency = 0.87
	nicKernelEfficiency    = 0.91
)

type preset struct {
	cfg  Config
	desc string
}

var presets = map[string]preset{
	"h800": {desc: "NVIDIA H800 SXM, 8 per node, 160 GB/s NVLink, 400 Gb/s CX7 NIC per GPU (DeepSeek-V3's cluster)",
		cfg: Config{
			GPU: GPU{
				Name: "H800-SXM",
				// DeepSeek-V3 report §3.5.1: "132 SMs available in the H800".
				SMs:                 132,
				SMCopyBytesPerSec:   hopperSMCopy,
				SMReduceBytesPerSec: hopperSMReduce,
				// H800 SXM has H100 SXM's tensor cores: 1979 FP8 and 989
				// BF16 dense TFLOPS (NVIDIA H100 datasheet, halved from
				// the sparse figures).
				FP8FLOPS:  1979 * TFLOPS,
				BF16FLOPS: 989 * TFLOPS,
				// 80 GB HBM3 at 3.35 TB/s (NVIDIA H100 SXM datasheet).
				HBMBytesPerSec: 3350 * GBps,
				// DeepSeek-V3 §3.2.2 and DeepEP issue #16: 160 GB/s achievable.
				NVLinkBytesPerSec: 160 * GBps,
				NICBytesPerSec:    cx7NIC,
			},
			GPUsPerNode: 8,
		}},
	"h100": {desc: "NVIDIA H100 SXM, 8 per node, 360 GB/s NVLink (0.8 of 450), 400 Gb/s NIC per GPU",
		cfg: Config{
			GPU: GPU{
				Name: "H100-SXM", SMs: 132, // NVIDIA H100 datasheet
				SMCopyBytesPerSec: hopperSMCopy, SMReduceBytesPerSec: hopperSMReduce,
				FP8FLOPS: 1979 * TFLOPS, BF16FLOPS: 989 * TFLOPS, // datasheet, dense
				HBMBytesPerSec: 3350 * GBps, // datasheet
				// NVLink 4: 900 GB/s bidirectional, 450 per direction.
				NVLinkBytesPerSec: nvlinkAchievable * 450 * GBps,
				NICBytesPerSec:    cx7NIC,
			},
			GPUsPerNode: 8,
		}},
	"h200": {desc: "NVIDIA H200 SXM, 8 per node, 360 GB/s NVLink (0.8 of 450), 4.8 TB/s HBM3e, 400 Gb/s NIC",
		cfg: Config{
			GPU: GPU{
				Name: "H200-SXM", SMs: 132, // NVIDIA H200 datasheet
				SMCopyBytesPerSec: hopperSMCopy, SMReduceBytesPerSec: hopperSMReduce,
				FP8FLOPS: 1979 * TFLOPS, BF16FLOPS: 989 * TFLOPS, // datasheet, dense
				HBMBytesPerSec:    4800 * GBps, // datasheet
				NVLinkBytesPerSec: nvlinkAchievable * 450 * GBps,
				NICBytesPerSec:    cx7NIC,
			},
			GPUsPerNode: 8,
		}},
	"h20": {desc: "NVIDIA H20, 8 per node, 78 SMs, 360 GB/s NVLink (0.8 of 450), 400 Gb/s NIC",
		cfg: Config{
			GPU: GPU{
				// H20: 78 SMs, 296 FP8 / 148 BF16 dense TFLOPS, 4.0 TB/s
				// HBM3 (NVIDIA H20 product brief); NVLink 900 GB/s
				// bidirectional (DeepEP issue #16).
				Name: "H20", SMs: 78,
				SMCopyBytesPerSec: hopperSMCopy, SMReduceBytesPerSec: hopperSMReduce,
				FP8FLOPS: 296 * TFLOPS, BF16FLOPS: 148 * TFLOPS,
				HBMBytesPerSec:    4000 * GBps,
				NVLinkBytesPerSec: nvlinkAchievable * 450 * GBps,
				NICBytesPerSec:    cx7NIC,
			},
			GPUsPerNode: 8,
		}},
	"b200": {desc: "NVIDIA B200 (DGX B200), 8 per node, 720 GB/s NVLink (0.8 of 900), 400 Gb/s CX7 NIC",
		cfg: Config{
			GPU: GPU{
				// B200: 148 SMs; 4.5 PFLOPS FP8 and 2.25 PFLOPS BF16 dense;
				// 8 TB/s HBM3e; NVLink 5 at 1.8 TB/s bidirectional (NVIDIA
				// DGX B200 datasheet, dense = half of sparse). DGX B200
				// ships 8 ConnectX-7 400 Gb/s NICs.
				Name: "B200", SMs: 148,
				SMCopyBytesPerSec: hopperSMCopy, SMReduceBytesPerSec: hopperSMReduce,
				FP8FLOPS: 4500 * TFLOPS, BF16FLOPS: 2250 * TFLOPS,
				HBMBytesPerSec:    8000 * GBps,
				NVLinkBytesPerSec: nvlinkAchievable * 900 * GBps,
				NICBytesPerSec:    cx7NIC,
			},
			GPUsPerNode: 8,
		}},
	"gb200-nvl72": {desc: "NVIDIA GB200 NVL72: 72 GPUs in one NVLink domain, 720 GB/s NVLink (0.8 of 900), 400 Gb/s NIC",
		cfg: Config{
			GPU: GPU{
				// GB200 NVL72 datasheet: 72 Blackwell GPUs, 130 TB/s of
				// NVLink in the rack (1.8 TB/s bidirectional each), 5
				// PFLOPS FP8 and 2.5 PFLOPS BF16 dense per GPU, 8 TB/s HBM3e.
				Name: "GB200", SMs: 148,
				SMCopyBytesPerSec: hopperSMCopy, SMReduceBytesPerSec: hopperSMReduce,
				FP8FLOPS: 5000 * TFLOPS, BF16FLOPS: 2500 * TFLOPS,
				HBMBytesPerSec:    8000 * GBps,
				NVLinkBytesPerSec: nvlinkAchievable * 900 * GBps,
				NICBytesPerSec:    cx7NIC,
			},
			GPUsPerNode: 72,
		}},
}

// Preset returns the named hardware preset as a one-node Config with the
// network constants filled in. Callers set Nodes.
func Preset(name string) (Config, error) {
	p, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("topology: cluster.preset = %q, want one of %s", name, strings.Join(PresetNames(), ", "))
	}
	c := p.cfg
	c.Preset = name
	c.Nodes = 1
	c.NVLinkLatency = nvlinkLatency
	c.IBLatency = ibLatencySameLeaf
	c.RailOversubscription = 1
	c.KernelLaunch = kernelLaunch
	c.NVLinkEfficiency = nvlinkKernelEfficiency
	c.NICEfficiency = nicKernelEfficiency
	return c, nil
}

// PresetNames lists the presets in sorted order.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PresetDescription is the one-line description of a preset, "" if unknown.
func PresetDescription(name string) string { return presets[name].desc }
