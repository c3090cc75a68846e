// Package calibrate turns a profile measured by the calibration kit
// (topology/probe) into a hardware file: it parses the profile strictly,
// fits the model's constants from the raw points deterministically, and
// names for each constant the points it came from. It reads no files.
package calibrate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// Profile is the kit's JSON output. Field names are the kit's contract
// (topology/probe/README.md).
type Profile struct {
	KitVersion   string         `json:"kit_version"`
	Created      string         `json:"created"`
	GPU          GPUInfo        `json:"gpu"`
	CopySMs      []CopyPoint    `json:"copy_sms"`
	CopyWarps    []CopyPoint    `json:"copy_warps"`
	Handshake    []Handshake    `json:"handshake"`
	FlagLatency  []FlagLatency  `json:"flag_latency"`
	Reduce       []ReducePoint  `json:"reduce"`
	NVLinkBW     []NVLinkPoint  `json:"nvlink_bw"`
	GEMM         []GEMMPoint    `json:"gemm"`
	Interference []Interference `json:"interference"`
	NoCarveout   []NoCarveout   `json:"no_carveout"`
	GEMMKernels  []GEMMKernel   `json:"gemm_kernels"`
	NIC          *NIC           `json:"nic"`
	Notes        []string       `json:"notes"`
	TMANote      string         `json:"tma_note"`
	SecondsTotal float64        `json:"seconds_total"`
}

// GPUInfo says what the profile was measured on.
type GPUInfo struct {
	Name            string  `json:"name"`
	SMs             int     `json:"sms"`
	CC              string  `json:"cc"`
	SMClockMaxMHz   float64 `json:"sm_clock_max_mhz"`
	MemClockMaxMHz  float64 `json:"mem_clock_max_mhz"`
	Driver          string  `json:"driver"`
	CUDA            string  `json:"cuda"`
	Torch           string  `json:"torch"`
	CuPy            string  `json:"cupy"`
	HBMBytes        float64 `json:"hbm_bytes"`
	L2Bytes         float64 `json:"l2_bytes"`
	GPUsInNodeUsed  int     `json:"gpus_in_node_used"`
	GPUsVisible     int     `json:"gpus_visible"`
	NVLink          string  `json:"nvlink"`
	CUDARuntimeCuPy string  `json:"cuda_runtime_cupy"`
	SmemOptinBytes  float64 `json:"smem_per_block_optin_bytes"`
	PowerLimitW     float64 `json:"power_limit_w"`
}

// CopyPoint is one copy measurement: a kind of copy (local, nvlink_store,
// nvlink_load) on sms SMs with warps_per_sm warps each.
type CopyPoint struct {
	Kind        string  `json:"kind"`
	Path        string  `json:"path"`
	SMs         int     `json:"sms"`
	WarpsPerSM  int     `json:"warps_per_sm"`
	RecordBytes float64 `json:"record_bytes,omitempty"`
	Records     float64 `json:"records,omitempty"`
	Bytes       float64 `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	GBps        float64 `json:"GBps"`
}

// Handshake is one point of the chunk protocol: chunks of
// records_per_chunk records of record_bytes, each published by a fence
// and a tail store and seen by a polling consumer.
type Handshake struct {
	Link            string  `json:"link"`
	RecordsPerChunk int     `json:"records_per_chunk"`
	RecordBytes     float64 `json:"record_bytes"`
	// RingRecords is the ring's size: equal to RecordsPerChunk the
	// producer waits for each chunk's credit (lockstep); at least twice
	// it, producer and consumer overlap.
	RingRecords     float64 `json:"ring_records"`
	Chunks          float64 `json:"chunks"`
	Seconds         float64 `json:"seconds"`
	SecondsPerChunk float64 `json:"seconds_per_chunk"`
}

// FlagLatency is a flag ping-pong.
type FlagLatency struct {
	Link          string  `json:"link"`
	RoundTrips    float64 `json:"round_trips"`
	Seconds       float64 `json:"seconds"`
	OneWaySeconds float64 `json:"one_way_seconds"`
}

// ReducePoint is summing k BF16 rows per token on sms SMs.
type ReducePoint struct {
	K         int     `json:"k"`
	SMs       int     `json:"sms"`
	Hidden    int     `json:"hidden"`
	Tokens    float64 `json:"tokens"`
	BytesRead float64 `json:"bytes_read"`
	Seconds   float64 `json:"seconds"`
	GBps      float64 `json:"GBps"`
}

// NVLinkPoint is a bulk NVLink measurement.
type NVLinkPoint struct {
	Direction        string  `json:"direction"`
	Engine           string  `json:"engine"`
	SMs              int     `json:"sms"`
	Bytes            float64 `json:"bytes"`
	Seconds          float64 `json:"seconds"`
	GBpsPerDirection float64 `json:"GBps_per_direction"`
}

// GEMMPoint is a matrix product with sms_held SMs held by an idle kernel.
type GEMMPoint struct {
	DType     string  `json:"dtype"`
	Shape     string  `json:"shape"`
	M         int     `json:"m"`
	N         int     `json:"n"`
	K         int     `json:"k"`
	SMsHeld   int     `json:"sms_held"`
	SMsFree   int     `json:"sms_free"`
	Seconds   float64 `json:"seconds"`
	TFLOPS    float64 `json:"TFLOPS"`
	GEMMCount int     `json:"gemm_count"`
	// SMClockMHz is the clock the occupier read during the burst (null,
	// so zero, when no SMs were held).
	SMClockMHz float64 `json:"sm_clock_mhz"`
}

// GEMMKernel is the cuBLAS kernel a GEMM shape launched, as the profiler
// saw it: its grid and how many waves it makes on every SM.
type GEMMKernel struct {
	DType         string  `json:"dtype"`
	Shape         string  `json:"shape"`
	Kernel        string  `json:"kernel"`
	Grid          []int   `json:"grid"`
	Block         []int   `json:"block"`
	SharedMemory  float64 `json:"shared_memory"`
	Registers     int     `json:"registers_per_thread"`
	Blocks        int     `json:"blocks"`
	WavesAllSMs   float64 `json:"waves_all_sms"`
	KernelSeconds float64 `json:"kernel_seconds"`
}

// Interference is a copy kernel and a GEMM side by side on disjoint SMs.
type Interference struct {
	CopyKind            string  `json:"copy_kind"`
	CopySMs             int     `json:"copy_sms"`
	Carveout            bool    `json:"carveout"`
	CopyGBpsAlone       float64 `json:"copy_GBps_alone"`
	CopyGBpsWithGEMM    float64 `json:"copy_GBps_with_gemm"`
	GEMMSecondsAlone    float64 `json:"gemm_seconds_alone"`
	GEMMSecondsWithCopy float64 `json:"gemm_seconds_with_copy"`
	SMClockAlone        float64 `json:"sm_clock_mhz_alone"`
	SMClockTogether     float64 `json:"sm_clock_mhz_together"`
	GEMMDType           string  `json:"gemm_dtype"`
	M                   int     `json:"m"`
	N                   int     `json:"n"`
	K                   int     `json:"k"`
	GEMMCount           int     `json:"gemm_count"`
	// Clocks read inside the kernels (clock64 over globaltimer) and by
	// NVML, and board power, for each of the three runs.
	SMClockCopyAlone   float64 `json:"sm_clock_mhz_copy_alone"`
	NVMLClockAlone     float64 `json:"nvml_sm_clock_mhz_alone"`
	NVMLClockTogether  float64 `json:"nvml_sm_clock_mhz_together"`
	NVMLClockCopyAlone float64 `json:"nvml_sm_clock_mhz_copy_alone"`
	PowerWAlone        float64 `json:"power_w_alone"`
	PowerWTogether     float64 `json:"power_w_together"`
	PowerWCopyAlone    float64 `json:"power_w_copy_alone"`
}

// NoCarveout is a copy kernel launched while a GEMM holds every SM.
type NoCarveout struct {
	CopySMs                    int     `json:"copy_sms"`
	GEMMSeconds                float64 `json:"gemm_seconds"`
	CopyLaunchToFirstBlockSecs float64 `json:"copy_launch_to_first_block_seconds"`
	CopyLaunchToAllBlocksSecs  float64 `json:"copy_launch_to_all_blocks_seconds"`
	GEMMWaves                  float64 `json:"gemm_waves"`
	GEMMCount                  int     `json:"gemm_count"`
	LaunchAfterGEMMStartSecs   float64 `json:"launch_after_gemm_start_seconds"`
	FirstBlockAfterGEMMEndSecs float64 `json:"first_block_after_gemm_end_seconds"`
	AllBlocksAfterGEMMEndSecs  float64 `json:"all_blocks_after_gemm_end_seconds"`
	GEMMKernelEndAfterLaunch   float64 `json:"gemm_kernel_end_after_launch_seconds"`
	FirstBlockAfterKernelEnd   float64 `json:"first_block_after_gemm_kernel_end_seconds"`
	IdleLaunchToFirstBlockSecs float64 `json:"idle_launch_to_first_block_seconds"`
	GEMMDType                  string  `json:"gemm_dtype"`
	M                          int     `json:"m"`
	N                          int     `json:"n"`
	K                          int     `json:"k"`
}

// NIC is what the kit cannot measure on one node, copied from a
// documented input file (topology/probe/nic-*.json): each value with its
// source.
type NIC struct {
	Name        string     `json:"name"`
	Measured    bool       `json:"measured"`
	Comment     string     `json:"comment"`
	InputFile   string     `json:"input_file"`
	LinkGbit    SourcedNum `json:"link_rate_gbit_per_second"`
	GBps        SourcedNum `json:"bandwidth_GBps_per_direction"`
	Latency     SourcedNum `json:"latency_seconds"`
	MessageRate SourcedNum `json:"message_rate_per_second"`
}

// SourcedNum is a number with its source.
type SourcedNum struct {
	Value  float64 `json:"value"`
	Source string  `json:"source"`
}

// MaxProfileBytes bounds a profile file.
const MaxProfileBytes = 16 << 20

// Parse decodes a profile strictly: unknown fields, trailing data and
// non-finite or negative numbers are errors naming the field.
func Parse(data []byte) (*Profile, error) {
	var p Profile
	if err := decodeStrict("profile", data, &p); err != nil {
		return nil, err
	}
	return &p, p.check()
}

// decodeStrict decodes one JSON object of at most MaxProfileBytes into v:
// unknown fields and trailing data are errors, prefixed with what.
func decodeStrict(what string, data []byte, v any) error {
	if len(data) > MaxProfileBytes {
		return fmt.Errorf("%s: %d bytes, want at most %d", what, len(data), MaxProfileBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %v", what, err)
	}
	if dec.More() {
		return fmt.Errorf("%s: trailing data after the JSON object", what)
	}
	return nil
}

func (p *Profile) check() error {
	if p.KitVersion == "" {
		return fmt.Errorf("profile: kit_version is empty, want the kit's version")
	}
	if p.GPU.Name == "" {
		return fmt.Errorf("profile: gpu.name is empty")
	}
	if p.GPU.SMs < 1 || p.GPU.SMs > 1024 {
		return fmt.Errorf("profile: gpu.sms = %d, want 1..1024", p.GPU.SMs)
	}
	pos := func(field string, v float64) error {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("profile: %s = %g, want a positive finite number", field, v)
		}
		return nil
	}
	for i, c := range p.CopySMs {
		if err := checkCopy(fmt.Sprintf("copy_sms[%d]", i), c, pos); err != nil {
			return err
		}
	}
	for i, c := range p.CopyWarps {
		f := fmt.Sprintf("copy_warps[%d]", i)
		if err := checkCopy(f, c, pos); err != nil {
			return err
		}
		if err := pos(f+".record_bytes", c.RecordBytes); err != nil {
			return err
		}
		if err := pos(f+".records", c.Records); err != nil {
			return err
		}
	}
	for i, h := range p.Handshake {
		f := fmt.Sprintf("handshake[%d]", i)
		if h.RecordsPerChunk < 1 {
			return fmt.Errorf("profile: %s.records_per_chunk = %d, want >= 1", f, h.RecordsPerChunk)
		}
		for _, e := range []error{pos(f+".record_bytes", h.RecordBytes), pos(f+".seconds_per_chunk", h.SecondsPerChunk)} {
			if e != nil {
				return e
			}
		}
	}
	for i, l := range p.FlagLatency {
		if err := pos(fmt.Sprintf("flag_latency[%d].one_way_seconds", i), l.OneWaySeconds); err != nil {
			return err
		}
	}
	for i, r := range p.Reduce {
		f := fmt.Sprintf("reduce[%d]", i)
		if r.K < 1 || r.SMs < 1 {
			return fmt.Errorf("profile: %s has k = %d, sms = %d, want both >= 1", f, r.K, r.SMs)
		}
		if err := pos(f+".GBps", r.GBps); err != nil {
			return err
		}
	}
	for i, n := range p.NVLinkBW {
		if err := pos(fmt.Sprintf("nvlink_bw[%d].GBps_per_direction", i), n.GBpsPerDirection); err != nil {
			return err
		}
	}
	for i, g := range p.GEMM {
		if err := pos(fmt.Sprintf("gemm[%d].seconds", i), g.Seconds); err != nil {
			return err
		}
	}
	if p.NIC != nil {
		for _, v := range []struct {
			f string
			n SourcedNum
		}{{"nic.bandwidth_GBps_per_direction", p.NIC.GBps}, {"nic.latency_seconds", p.NIC.Latency}, {"nic.message_rate_per_second", p.NIC.MessageRate}} {
			if err := pos(v.f+".value", v.n.Value); err != nil {
				return err
			}
			if v.n.Source == "" {
				return fmt.Errorf("profile: %s.source is empty; the NIC's figures must name their source", v.f)
			}
		}
	}
	return nil
}

func checkCopy(f string, c CopyPoint, pos func(string, float64) error) error {
	switch c.Kind {
	case "local", "nvlink_store", "nvlink_load":
	default:
		return fmt.Errorf("profile: %s.kind = %q, want local, nvlink_store or nvlink_load", f, c.Kind)
	}
	if c.SMs < 1 || c.WarpsPerSM < 1 {
		return fmt.Errorf("profile: %s has sms = %d, warps_per_sm = %d, want both >= 1", f, c.SMs, c.WarpsPerSM)
	}
	for _, e := range []error{pos(f+".seconds", c.Seconds), pos(f+".GBps", c.GBps)} {
		if e != nil {
			return e
		}
	}
	return nil
}
