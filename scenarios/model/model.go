package model

// Model is the MoE model's shape: what decides bytes per token and FLOPs
// per layer. Field names follow the scenario file's model.* paths.
type Model struct {
	Hidden             int `yaml:"hidden"`              // model.hidden: 7168 for DeepSeek-V3
	Experts            int `yaml:"experts"`             // model.experts: routed experts, 256
	SharedExperts      int `yaml:"shared_experts"`      // model.shared_experts: 1
	TopK               int `yaml:"topk"`                // model.topk: routed experts per token, 8
	MaxNodesPerToken   int `yaml:"max_nodes_per_token"` // model.max_nodes_per_token: M, 4
	ExpertIntermediate int `yaml:"expert_intermediate"` // model.expert_intermediate: 2048
	// RedundantExperts are extra replicas of the most used experts
	// (DeepSeek-V3 §3.4: 32 in prefill); they add to experts on the GPUs,
	// and may outnumber them (whole copies of the model).
	RedundantExperts int `yaml:"redundant_experts"`
	// Placement (model.placement), when given, lists for each logical
	// expert the ranks that hold a copy of it: an expert-parallel load
	// balancer's map. It replaces the contiguous placement and
	// redundant_experts.
	Placement [][]int `yaml:"placement,omitempty"`
	// MLA attention (DeepSeek-V3 §4.2).
	Heads        int    `yaml:"heads"`                   // 128
	HeadDim      int    `yaml:"head_dim"`                // 128 (qk_nope and v)
	RopeHeadDim  int    `yaml:"rope_head_dim,omitempty"` // 64
	KVLoraRank   int    `yaml:"kv_lora_rank"`            // 512
	QLoraRank    int    `yaml:"q_lora_rank,omitempty"`   // 1536
	SeqLen       int    `yaml:"seq_len"`                 // 4096: attention's context per token
	Layers       int    `yaml:"layers"`                  // 61
	DispatchType string `yaml:"dispatch_dtype"`          // fp8 (default), bf16, mxfp8, nvfp4
	CombineType  string `yaml:"combine_dtype"`           // bf16 (default), fp8
}

// DeepSeekV3 is the DeepSeek-V3 model (technical report §4.2).
func DeepSeekV3() Model {
	return Model{
		Hidden: 7168, Experts: 256, SharedExperts: 1, TopK: 8, MaxNodesPerToken: 4,
		ExpertIntermediate: 2048,
		Heads:              128, HeadDim: 128, RopeHeadDim: 64, KVLoraRank: 512, QLoraRank: 1536,
		SeqLen: 4096, Layers: 61,
		DispatchType: "fp8", CombineType: "bf16",
	}
}
