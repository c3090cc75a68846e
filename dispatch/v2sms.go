package dispatch

import "math"

// DeepEP V2's analytical SM and QP counts (deep_ep/buffers/elastic.py,
// ElasticBuffer.get_theoretical_num_sms and get_theoretical_num_qps at
// dd758ca). DeepEP calls the estimator when dispatch is given num_sms = 0,
// and combine reuses dispatch's count; V2NumSMs reproduces it for a
// scenario that leaves kernel.num_sms unset.

// DeepEP V2's constants for the estimate.
const (
	// v2SMReadGBps and v2SMWriteGBps are get_theoretical_num_sms's
	// sm_read_gbs and sm_write_gbs defaults: one SM's HBM read and write
	// rates, the same for every architecture ("TODO: use different values
	// for other architectures").
	v2SMReadGBps  = 200
	v2SMWriteGBps = 50
	// V2NVLinkFactor is get_nvlink_gbs's factor (deep_ep/utils/envs.py):
	// DeepEP takes 0.9 of the per-link speeds `nvidia-smi nvlink -s`
	// prints, summed, as the NVLink rate.
	V2NVLinkFactor = 0.9
	// v2Headroom is the 1.25 the raw SM count is multiplied by before it
	// is rounded up to an even count of at least v2MinSMs.
	v2Headroom = 1.25
	v2MinSMs   = 4
	// v2MaxPerfSMs is the floor prefer_overlap_with_compute = False sets.
	v2MaxPerfSMs = 64
	// v2DirectMaxQPs is get_theoretical_num_qps's direct-mode cap
	// (8 + 1); v2QPsPerSM its hybrid 16 QPs per SM (+1 for notify).
	v2DirectMaxQPs = 8 + 1
	v2QPsPerSM     = 16
	// V2AllocatedQPsHybrid and V2AllocatedQPsDirect are ElasticBuffer's
	// automatic num_allocated_qps: 129 with allow_hybrid_mode (65 on a
	// ConnectX-8, MT4131, which moesim does not model), 17 without.
	V2AllocatedQPsHybrid = 129
	V2AllocatedQPsDirect = 17
)

// V2Shape is what DeepEP V2's SM and QP estimates depend on. The physical
// domains are Nodes (DeepEP's num_rdma_ranks) and GPUsPerNode
// (num_nvlink_ranks); the logical ones follow from Hybrid (ScaleOut,
// ScaleUp).
type V2Shape struct {
	Nodes, GPUsPerNode int
	// Experts is num_experts, redundant replicas included; TopK num_topk.
	Experts, TopK int
	// RDMAGBps is the NIC's line rate in GB/s, as DeepEP reads it
	// (ibstat's Rate / 8: 50 for a 400 Gb/s ConnectX-7), not what kernels
	// achieve. Only read when Nodes > 1.
	RDMAGBps float64
	// NVLinkNominalGBps is the sum of the GPU's NVLink link speeds per
	// direction (nvidia-smi nvlink -s); the estimate uses V2NVLinkFactor
	// of it, as DeepEP does.
	NVLinkNominalGBps float64
	// DeviceSMs is the GPU's multi_processor_count: the count's cap.
	DeviceSMs int
	// Hybrid is ElasticBuffer's allow_hybrid_mode (kernel.v2.path hybrid).
	Hybrid bool
	// MaxPerf is prefer_overlap_with_compute = False: at least 64 SMs.
	MaxPerf bool
}

// Ranks is num_ranks.
func (s V2Shape) Ranks() int { return s.Nodes * s.GPUsPerNode }

// ScaleOut is the logical scale-out domain, num_scaleout_ranks: the nodes
// with allow_hybrid_mode, else 1. The hybrid kernels run when it is above
// 1, so one node always runs the direct kernels.
func (s V2Shape) ScaleOut() int {
	if s.Hybrid {
		return s.Nodes
	}
	return 1
}

// ScaleUp is the logical scale-up domain, num_scaleup_ranks: the GPUs of
// a node with allow_hybrid_mode, else every rank.
func (s V2Shape) ScaleUp() int {
	if s.Hybrid {
		return s.GPUsPerNode
	}
	return s.Ranks()
}

// AllocatedQPs is ElasticBuffer's automatic num_allocated_qps.
func (s V2Shape) AllocatedQPs() int {
	if s.Hybrid {
		return V2AllocatedQPsHybrid
	}
	return V2AllocatedQPsDirect
}

// v2Estimate is get_theoretical_num_sms's working: the per scale-up token
// SM reads and writes and link traffic, and the bottleneck it picks.
type v2Estimate struct {
	et, ets           float64 // expected ranks and (scale-out) nodes per token
	smRead, smWrite   float64
	rdma, nvlink      float64 // traffic per scale-up token
	rdmaBound         bool
	boundGBps, boundT float64
}

// v2ExpectedTopK is get_expected_topk: the expected number of groups, of
// g equal groups of experts, that a uniform random top-k hits,
// g·(1 − C(E − E/g, k) / C(E, k)). The ratio is a product of k terms, so
// it neither overflows nor needs big integers.
func v2ExpectedTopK(experts, topk, groups int) float64 {
	miss := 1.0 // C(E − E/g, k) / C(E, k)
	out := experts - experts/groups
	for i := range topk {
		if out-i <= 0 {
			miss = 0
			break
		}
		miss *= float64(out-i) / float64(experts-i)
	}
	return float64(groups) * (1 - miss)
}

// estimate runs get_theoretical_num_sms's traffic model; ok is false for
// a shape where DeepEP asserts or divides by zero (experts not divisible
// by the ranks or nodes, no RDMA rate across nodes, no NVLink rate).
func (s V2Shape) estimate() (v2Estimate, bool) {
	n, so, su := s.Ranks(), s.ScaleOut(), s.ScaleUp()
	r, l := s.Nodes, s.GPUsPerNode
	if n < 1 || l < 1 || s.Experts < 1 || s.TopK < 1 || s.Experts%n != 0 || s.Experts%so != 0 ||
		(r > 1 && !(s.RDMAGBps > 0)) || !(s.NVLinkNominalGBps > 0) {
		return v2Estimate{}, false
	}
	var e v2Estimate
	if so > 1 {
		e.ets = v2ExpectedTopK(s.Experts, s.TopK, so)
	}
	e.et = v2ExpectedTopK(s.Experts, s.TopK, n)
	e.smRead = 1 / e.et
	if so > 1 {
		// Scale-up warps write the send buffer, the local bypass, then the
		// forwarders re-read each node copy and issue the NVLink writes.
		e.smWrite += 1 / e.et
		e.smWrite += (1 / e.et) * (e.ets / float64(so))
		e.rdma += (1 / e.et) * (e.ets * (1 - 1/float64(so)))
		e.smRead += e.ets / e.et
		e.smWrite++
		e.nvlink += 1 - 1/float64(su)
	} else {
		if r > 1 {
			e.smWrite += 1 / e.et
		}
		e.smWrite += float64(l) / float64(n)
		e.nvlink += float64(l) / float64(n) * (1 - 1/float64(l))
		e.rdma += float64(n-l) / float64(n)
	}
	nvlGBps := s.NVLinkNominalGBps * V2NVLinkFactor
	e.boundT, e.boundGBps = e.nvlink, nvlGBps
	if so > 1 && e.rdma/s.RDMAGBps > e.nvlink/nvlGBps {
		e.rdmaBound = true
		e.boundT, e.boundGBps = e.rdma, s.RDMAGBps
	}
	return e, true
}

// V2NumSMs is DeepEP V2's analytical SM count for dispatch and combine
// (get_theoretical_num_sms): the SMs whose HBM reads (200 GB/s each) and
// writes (50 GB/s each) keep the bottleneck link busy, ×1.25, rounded up
// to an even count of at least 4; at least 64 with MaxPerf; at most the
// device's SMs. It returns 0 for a shape DeepEP would refuse (see
// CheckV2Limits) or could not size (no link rate).
func V2NumSMs(s V2Shape) int {
	if s.DeviceSMs < 1 {
		return 0
	}
	e, ok := s.estimate()
	if !ok {
		return 0
	}
	raw := float64(s.DeviceSMs) // no traffic (EP = 1)
	if e.boundT > 0 {
		raw = max(e.boundGBps/e.boundT*e.smRead/v2SMReadGBps, e.boundGBps/e.boundT*e.smWrite/v2SMWriteGBps)
	}
	sms := max(v2MinSMs, int(math.Ceil(raw*v2Headroom)))
	sms += sms % 2
	if s.MaxPerf {
		sms = max(sms, v2MaxPerfSMs)
	}
	return min(sms, s.DeviceSMs)
}

// V2NumQPs is DeepEP V2's QP count for numSMs SMs
// (get_theoretical_num_qps): min(numSMs, 9) without allow_hybrid_mode,
// 16 per SM plus one for the notify warps with it, capped at the QPs
// allocated (129 hybrid, 17 direct).
func V2NumQPs(s V2Shape, numSMs int) int {
	q := min(numSMs, v2DirectMaxQPs)
	if s.Hybrid {
		q = numSMs*v2QPsPerSM + 1
	}
	return min(q, s.AllocatedQPs())
}
