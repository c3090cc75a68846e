package dispatch

import (
	"errors"
	"strings"
	"testing"
)

func v2LimitBase(t *testing.T) V2LimitShape {
	t.Helper()
	fp8, err := FormatNamed("model.dispatch_dtype", "fp8")
	if err != nil {
		t.Fatal(err)
	}
	bf16, err := FormatNamed("model.combine_dtype", "bf16")
	if err != nil {
		t.Fatal(err)
	}
	return V2LimitShape{Nodes: 2, GPUsPerNode: 8, Hidden: 7168, TopK: 8, Experts: 256, Dispatch: fp8, Combine: bf16, NumSMs: 12, Path: V2Hybrid}
}

// TestCheckV2Limits checks each V2 limit alone: the README's shapes pass,
// and each change past a limit is named by its field, DeepEP's constant
// and the value.
func TestCheckV2Limits(t *testing.T) {
	base := v2LimitBase(t)
	for _, ok := range []func(*V2LimitShape){
		func(*V2LimitShape) {},
		func(s *V2LimitShape) { s.Nodes = 4; s.NumSMs = 6 },
		func(s *V2LimitShape) { s.Nodes = 1; s.NumSMs = 64 },
		// A GB200 NVL72-like scale-up domain of 64 GPUs: V2 allows it.
		func(s *V2LimitShape) { s.Nodes = 2; s.GPUsPerNode = 64; s.Experts = 1024 },
		// 1024 ranks, direct: no scale-out cap.
		func(s *V2LimitShape) { s.Nodes = 128; s.Experts = 1024; s.TopK = 8; s.Path = V2Direct },
		// One node runs direct whatever the path: 72 GPUs, 144 SMs.
		func(s *V2LimitShape) { s.Nodes = 1; s.GPUsPerNode = 72; s.Experts = 288; s.NumSMs = 144 },
	} {
		s := base
		ok(&s)
		if err := CheckV2Limits(s); err != nil {
			t.Errorf("%+v: %v, want no limit", s, err)
		}
	}
	for _, c := range []struct {
		field, name, value string
		mut                func(*V2LimitShape)
	}{
		{"cluster.nodes", "kNumMaxRanks", "2048 ranks", func(s *V2LimitShape) { s.Nodes = 256; s.Experts = 2048; s.Path = V2Direct }},
		{"cluster.nodes", "kNumScaleoutRanks <= 32", "cluster.nodes = 64", func(s *V2LimitShape) { s.Nodes = 64; s.Experts = 512 }},
		{"cluster.gpus_per_node", "kNumScaleupRanks <= 64", "cluster.gpus_per_node = 72", func(s *V2LimitShape) { s.GPUsPerNode = 72; s.Experts = 288 }},
		{"model.experts", "kNumMaxExperts", "model.experts = 4096", func(s *V2LimitShape) { s.Experts = 4096 }},
		{"model.experts", "num_experts % num_ranks == 0", "model.experts = 250", func(s *V2LimitShape) { s.Experts = 250 }},
		{"model.experts", "kNumMaxExpertsPerRank", "512 experts per GPU", func(s *V2LimitShape) { s.Nodes = 1; s.GPUsPerNode = 4; s.Experts = 2048 }},
		{"model.experts", "kNumScaleupRanks + kNumExpertsPerRank <= kNumNotifyWarps * 32", "64 scale-up peers + 128 experts", func(s *V2LimitShape) { s.GPUsPerNode = 64; s.Experts = 16384 }},
		{"model.topk", "num_topk <= 32", "model.topk = 33", func(s *V2LimitShape) { s.TopK = 33 }},
		{"kernel.num_sms", "kNumMaxSMs", "kernel.num_sms = 162", func(s *V2LimitShape) { s.NumSMs = 162 }},
		{"model.hidden", "hidden % 256 == 0", "model.hidden = 7200", func(s *V2LimitShape) { s.Hidden = 7200 }},
		{"model.hidden", "kNumTMAAlignBytes", "model.hidden = 7176", func(s *V2LimitShape) { s.Hidden = 7176 }},
		{"model.combine_dtype", "combine dtype", `"fp8"`, func(s *V2LimitShape) { s.Combine = s.Dispatch }},
	} {
		s := base
		c.mut(&s)
		err := CheckV2Limits(s)
		var le *LimitError
		if !errors.As(err, &le) {
			t.Errorf("%s: %v, want a *LimitError", c.name, err)
			continue
		}
		found := false
		for _, l := range le.Limits {
			if l.Field == c.field && l.Name == c.name && strings.Contains(l.Detail, c.value) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: limits %+v, want field %s naming %q", c.name, le.Limits, c.field, c.value)
		}
		if !strings.Contains(err.Error(), "kernel.extrapolate") || !strings.Contains(err.Error(), le.Reason()) {
			t.Errorf("%s: error %q does not say how to extrapolate or give the reason", c.name, err)
		}
	}
}

// TestV2RanksLimitNamesREADME checks the rank cap says both what the
// README claims and what the code enforces.
func TestV2RanksLimitNamesREADME(t *testing.T) {
	s := v2LimitBase(t)
	s.Nodes, s.Experts, s.Path = 160, 1280, V2Direct
	err := CheckV2Limits(s)
	if err == nil || !strings.Contains(err.Error(), "EP2048") || !strings.Contains(err.Error(), "1024") {
		t.Fatalf("1280 ranks: %v, want the README's EP2048 and the code's 1024", err)
	}
}
