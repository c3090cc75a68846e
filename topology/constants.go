package topology

import (
	"fmt"
	"math"
	"strconv"

	"github.com/moesim/moesim/sim"
)

// Kind says where a hardware constant comes from.
type Kind string

// Kinds of source. A hardware file names one for every constant, so a
// reader sees which answers rest on measurements and which on guesses.
const (
	// Measured: read off a GPU with the calibration kit (topology/probe).
	Measured Kind = "measured"
	// Published: a datasheet, paper or maintainer's figure, cited.
	Published Kind = "published"
	// Assumed: carried over from another GPU or chosen by reasoning,
	// with the reasoning cited; the least certain kind.
	Assumed Kind = "assumed"
	// Fitted: chosen so that the model reproduces a named published row;
	// the source names the row.
	Fitted Kind = "fitted"
)

func (k Kind) valid() bool {
	switch k {
	case Measured, Published, Assumed, Fitted:
		return true
	}
	return false
}

// ConstantSpec describes one hardware constant a hardware file sets: its
// key (also its scenario override, cluster.<key>), its unit, the range a
// value may take, and how it maps onto a Config.
type ConstantSpec struct {
	Key  string
	Unit string
	// Doc is a one-line description for `moesim presets show`.
	Doc string
	// Min and Max bound a value; Integer values must be whole.
	Min, Max float64
	Integer  bool
	get      func(*Config) float64
	set      func(*Config, float64)
}

// Get reads the constant from c, in the spec's unit.
func (s ConstantSpec) Get(c *Config) float64 { return s.get(c) }

// Set writes v, in the spec's unit, into c.
func (s ConstantSpec) Set(c *Config, v float64) { s.set(c, v) }

// Check returns an error naming field, value and range if v is not allowed.
func (s ConstantSpec) Check(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < s.Min || v > s.Max {
		return fmt.Errorf("%s = %s, want %s", field, FormatNumber(v), s.rangeText())
	}
	if s.Integer && v != math.Trunc(v) {
		return fmt.Errorf("%s = %s, want a whole number in %s", field, FormatNumber(v), s.rangeText())
	}
	return nil
}

// FormatNumber writes v as a person typed it: whole numbers below 1e15 in
// full (1048576, not 1.048576e+06), others in the shortest form.
func FormatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func (s ConstantSpec) rangeText() string {
	unit := ""
	if s.Unit != "" {
		unit = " " + s.Unit
	}
	return fmt.Sprintf("%s..%s%s", FormatNumber(s.Min), FormatNumber(s.Max), unit)
}

// Constants lists every constant a hardware file carries, in the order
// files and reports show them.
var Constants = []ConstantSpec{
	{Key: "gpus_per_node", Doc: "GPUs in one NVLink domain (node)", Min: 1, Max: MaxGPUsPerNode, Integer: true,
		get: func(c *Config) float64 { return float64(c.GPUsPerNode) },
		set: func(c *Config, v float64) { c.GPUsPerNode = int(v) }},
	{Key: "sms", Doc: "streaming multiprocessors per GPU", Min: 4, Max: MaxSMs, Integer: true,
		get: func(c *Config) float64 { return float64(c.GPU.SMs) },
		set: func(c *Config, v float64) { c.GPU.SMs = int(v) }},
	{Key: "sm_copy_GBps", Unit: "GB/s", Doc: "one SM's copy rate with enough warps to saturate it", Min: 0.1, Max: 10000,
		get: func(c *Config) float64 { return c.GPU.SMCopyBytesPerSec / GBps },
		set: func(c *Config, v float64) { c.GPU.SMCopyBytesPerSec = v * GBps }},
	{Key: "warp_copy_GBps", Unit: "GB/s", Doc: "one warp's streaming copy rate, past its per-record latency", Min: 0.01, Max: 10000,
		get: func(c *Config) float64 { return c.GPU.WarpCopyBytesPerSec / GBps },
		set: func(c *Config, v float64) { c.GPU.WarpCopyBytesPerSec = v * GBps }},
	{Key: "record_overhead_ns", Unit: "ns", Doc: "a warp's fixed time per record copied (load, store, wait round trip)", Min: 0, Max: 100000,
		get: func(c *Config) float64 { return float64(c.GPU.RecordOverhead) / float64(sim.Nanosecond) },
		set: func(c *Config, v float64) { c.GPU.RecordOverhead = sim.Time(math.Round(v * float64(sim.Nanosecond))) }},
	{Key: "sm_bulk_copy_GBps", Unit: "GB/s", Doc: "one SM's rate of bulk (TMA) record copies, load then store, with enough warps to saturate it (DeepEP V2)", Min: 0.1, Max: 10000,
		get: func(c *Config) float64 { return c.GPU.SMBulkCopyBytesPerSec / GBps },
		set: func(c *Config, v float64) { c.GPU.SMBulkCopyBytesPerSec = v * GBps }},
	{Key: "sm_bulk_load_GBps", Unit: "GB/s", Doc: "one SM's rate of bulk (TMA) loads into shared memory, which run beside its stores (DeepEP V2)", Min: 0.1, Max: 100000,
		get: func(c *Config) float64 { return c.GPU.SMBulkLoadBytesPerSec / GBps },
		set: func(c *Config, v float64) { c.GPU.SMBulkLoadBytesPerSec = v * GBps }},
	{Key: "bulk_record_ns", Unit: "ns", Doc: "a bulk-copy warp's fixed time per record: the load's latency and the wait for its store (DeepEP V2)", Min: 0, Max: 100000,
		get: func(c *Config) float64 { return float64(c.GPU.BulkRecordOverhead) / float64(sim.Nanosecond) },
		set: func(c *Config, v float64) {
			c.GPU.BulkRecordOverhead = sim.Time(math.Round(v * float64(sim.Nanosecond)))
		}},
	{Key: "chunk_handshake_ns", Unit: "ns", Doc: "a producer's fence and tail-flag release per chunk, until a polling peer can see it", Min: 0, Max: 100000,
		get: func(c *Config) float64 { return float64(c.GPU.ChunkHandshake) / float64(sim.Nanosecond) },
		set: func(c *Config, v float64) { c.GPU.ChunkHandshake = sim.Time(math.Round(v * float64(sim.Nanosecond))) }},
	{Key: "sm_reduce_GBps", Unit: "GB/s", Doc: "one SM summing BF16 rows, in bytes of rows read", Min: 0.1, Max: 10000,
		get: func(c *Config) float64 { return c.GPU.SMReduceBytesPerSec / GBps },
		set: func(c *Config, v float64) { c.GPU.SMReduceBytesPerSec = v * GBps }},
	{Key: "fp8_TFLOPS", Unit: "TFLOP/s", Doc: "dense FP8 matrix rate", Min: 0.1, Max: 1e5,
		get: func(c *Config) float64 { return c.GPU.FP8FLOPS / TFLOPS },
		set: func(c *Config, v float64) { c.GPU.FP8FLOPS = v * TFLOPS }},
	{Key: "bf16_TFLOPS", Unit: "TFLOP/s", Doc: "dense BF16 matrix rate", Min: 0.1, Max: 1e5,
		get: func(c *Config) float64 { return c.GPU.BF16FLOPS / TFLOPS },
		set: func(c *Config, v float64) { c.GPU.BF16FLOPS = v * TFLOPS }},
	{Key: "hbm_GBps", Unit: "GB/s", Doc: "HBM bandwidth", Min: 1, Max: 1e6,
		get: func(c *Config) float64 { return c.GPU.HBMBytesPerSec / GBps },
		set: func(c *Config, v float64) { c.GPU.HBMBytesPerSec = v * GBps }},
	{Key: "nvlink_GBps", Unit: "GB/s", Doc: "achievable NVLink bandwidth per GPU per direction", Min: 0.1, Max: 1e5,
		get: func(c *Config) float64 { return c.GPU.NVLinkBytesPerSec / GBps },
		set: func(c *Config, v float64) { c.GPU.NVLinkBytesPerSec = v * GBps }},
	{Key: "nvlink_nominal_GBps", Unit: "GB/s", Doc: "nominal NVLink per GPU per direction, the sum of the per-link speeds nvidia-smi prints (DeepEP V2 sizes its SM count from it)", Min: 0.1, Max: 1e5,
		get: func(c *Config) float64 { return c.GPU.NVLinkNominalBytesPerSec / GBps },
		set: func(c *Config, v float64) { c.GPU.NVLinkNominalBytesPerSec = v * GBps }},
	{Key: "nvlink_latency_us", Unit: "µs", Doc: "one-way latency of a store or flag to a peer GPU in the node", Min: 0, Max: 1000,
		get: func(c *Config) float64 { return c.NVLinkLatency.Microseconds() },
		set: func(c *Config, v float64) { c.NVLinkLatency = sim.FromMicroseconds(v) }},
	{Key: "nic_GBps", Unit: "GB/s", Doc: "the GPU's NIC per direction", Min: 0.1, Max: 1e5,
		get: func(c *Config) float64 { return c.GPU.NICBytesPerSec / GBps },
		set: func(c *Config, v float64) { c.GPU.NICBytesPerSec = v * GBps }},
	{Key: "nic_message_rate_Mps", Unit: "M msg/s", Doc: "messages (RDMA writes, atomics) one NIC issues per second", Min: 0.01, Max: 1e5,
		get: func(c *Config) float64 { return c.NICMessageRate / 1e6 },
		set: func(c *Config, v float64) { c.NICMessageRate = v * 1e6 }},
	{Key: "ib_latency_us", Unit: "µs", Doc: "one-way RDMA write latency NIC to NIC within a leaf", Min: 0, Max: 1000,
		get: func(c *Config) float64 { return c.IBLatency.Microseconds() },
		set: func(c *Config, v float64) { c.IBLatency = sim.FromMicroseconds(v) }},
	{Key: "kernel_launch_us", Unit: "µs", Doc: "host launch gap plus grid start of one kernel", Min: 0, Max: 1000,
		get: func(c *Config) float64 { return c.KernelLaunch.Microseconds() },
		set: func(c *Config, v float64) { c.KernelLaunch = sim.FromMicroseconds(v) }},
	{Key: "ll_kernel_fixed_us", Unit: "µs", Doc: "a low-latency kernel's fixed start beyond its modelled costs (grid start, buffer cleaning, rank skew)", Min: 0, Max: 1000,
		get: func(c *Config) float64 { return c.LLKernelFixed.Microseconds() },
		set: func(c *Config, v float64) { c.LLKernelFixed = sim.FromMicroseconds(v) }},
	{Key: "nvlink_efficiency", Doc: "share of achievable NVLink that kernel traffic gets beyond the modelled per-record and per-chunk costs", Min: 0.01, Max: 1,
		get: func(c *Config) float64 { return c.NVLinkEfficiency },
		set: func(c *Config, v float64) { c.NVLinkEfficiency = v }},
	{Key: "nic_efficiency", Doc: "share of the NIC's rate that kernel traffic gets beyond the modelled per-message costs", Min: 0.01, Max: 1,
		get: func(c *Config) float64 { return c.NICEfficiency },
		set: func(c *Config, v float64) { c.NICEfficiency = v }},
	{Key: "gemm_clock_drop", Doc: "fraction a communication kernel's copy rate falls while a math-bound GEMM runs beside it (the GEMM's power draw lowers the shared SM clock)", Min: 0, Max: 0.9,
		get: func(c *Config) float64 { return c.GPU.GEMMClockDrop },
		set: func(c *Config, v float64) { c.GPU.GEMMClockDrop = v }},
	{Key: "copy_hbm_bytes_per_byte", Doc: "HBM bytes read and written per byte an SM copies or a NIC moves (the HBM share communication takes from compute)", Min: 0, Max: 16,
		get: func(c *Config) float64 { return c.GPU.CopyHBMBytesPerByte },
		set: func(c *Config, v float64) { c.GPU.CopyHBMBytesPerByte = v }},
	{Key: "gemm_hbm_sensitivity", Doc: "a GEMM's fractional slowdown per unit share of HBM bandwidth that copies beside it take", Min: 0, Max: 10,
		get: func(c *Config) float64 { return c.GPU.GEMMHBMSensitivity },
		set: func(c *Config, v float64) { c.GPU.GEMMHBMSensitivity = v }},
	{Key: "comm_sm_wait_us", Unit: "µs", Doc: "without an SM carve-out, time from a GEMM wave's end until every block of a communication kernel launched during it holds an SM", Min: 0, Max: 1000,
		get: func(c *Config) float64 { return c.GPU.CommSMWait.Microseconds() },
		set: func(c *Config, v float64) { c.GPU.CommSMWait = sim.FromMicroseconds(v) }},
}

// ConstantNamed returns the spec of key.
func ConstantNamed(key string) (ConstantSpec, bool) {
	for _, s := range Constants {
		if s.Key == key {
			return s, true
		}
	}
	return ConstantSpec{}, false
}
