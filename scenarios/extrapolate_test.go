package scenarios

import (
	"strings"
	"testing"
)

// TestExtrapolatedCombineRing: at EP2048 (256 nodes) DeepEP's largest
// combine ring (720 slots) splits into 2 slots per node, which combine
// cannot run. Without kernel.extrapolate the refusal names DeepEP V1's
// limits and the flag; with it the ring grows to the smallest size
// DeepEP's internode combine asserts accept (9 slots per node: more than
// rdma_chunk = 8), and a ring the user sets is kept and checked.
func TestExtrapolatedCombineRing(t *testing.T) {
	base := "cluster: {nodes: 256}\nmodel: {experts: 2048}\nworkload: {tokens_per_gpu: 1}\n"
	_, err := Decode(strings.NewReader(base))
	if err == nil || !strings.Contains(err.Error(), "NUM_MAX_RDMA_PEERS") || !strings.Contains(err.Error(), "kernel.extrapolate: true") {
		t.Fatalf("EP2048 normal without extrapolate: err = %v, want DeepEP V1's limits and the flag named", err)
	}
	s, err := Decode(strings.NewReader(base + "kernel: {extrapolate: true}\n"))
	if err != nil {
		t.Fatalf("EP2048 normal with extrapolate: %v", err)
	}
	if got, want := s.Kernel.Combine.NVLBuffer, 9*256; got != want {
		t.Errorf("combine nvl_buffer = %d, want %d (9 slots per node on 256 nodes)", got, want)
	}
	if err := s.V1Limits(); err == nil || strings.Contains(err.Error(), "kernel.combine.nvl_buffer") {
		t.Errorf("V1Limits = %v, want the node count named and the combine ring no more", err)
	}
	// Within DeepEP's table the ring is DeepEP's, extrapolated or not.
	s, err = Decode(strings.NewReader("cluster: {nodes: 8}\nworkload: {tokens_per_gpu: 1}\nkernel: {extrapolate: true}\n"))
	if err != nil || s.Kernel.Combine.NVLBuffer != 288 {
		t.Errorf("EP64 extrapolated: nvl_buffer = %d, err = %v; want DeepEP's 288", s.Kernel.Combine.NVLBuffer, err)
	}
	_, err = Decode(strings.NewReader(base + "kernel: {extrapolate: true, combine: {nvl_buffer: 720}}\n"))
	if err == nil || !strings.Contains(err.Error(), "kernel.combine.nvl_buffer = 720 gives 2 slots per source node on 256 nodes") {
		t.Errorf("a ring set too small: err = %v, want it refused with its slots per node", err)
	}
}
