package scenarios

import (
	"reflect"
	"testing"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/workload"
)

// TestDrawAndLayMatchesRouting: the layout drawn and laid out rank by rank
// on two goroutines is the one laid out from the whole routing, and the
// routing is the same, for node limits that take one stage and several,
// and for routings drawAndLay leaves to the usual path.
func TestDrawAndLayMatchesRouting(t *testing.T) {
	cases := []struct {
		name      string
		overrides []Override
		applies   bool
	}{
		{"default", []Override{{Path: "workload.tokens_per_gpu", Value: "512"}}, true},
		{"EP256, several stages", []Override{{Path: "cluster.nodes", Value: "32"}, {Path: "workload.tokens_per_gpu", Value: "64"}, {Path: "kernel.extrapolate", Value: "true"}}, true},
		{"no node limit", []Override{{Path: "model.max_nodes_per_token", Value: "0"}, {Path: "workload.tokens_per_gpu", Value: "128"}}, true},
		{"even routing", []Override{{Path: "workload.routing", Value: workload.RoutingEven}, {Path: "workload.tokens_per_gpu", Value: "128"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := LoadPreset("deepseek-v3-train", c.overrides...)
			if err != nil {
				t.Fatal(err)
			}
			rt, lay, err := drawAndLay(s)
			if err != nil {
				t.Fatal(err)
			}
			if !c.applies {
				if lay != nil {
					t.Fatal("drawAndLay laid out a routing it should leave to the usual path")
				}
				return
			}
			if lay == nil {
				t.Fatal("drawAndLay did not apply")
			}
			want, err := Routing(s, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rt, want) {
				t.Fatal("the routing drawn rank by rank differs from Routing's")
			}
			place, err := workload.Placement(s.Model, s.Cluster.Nodes*s.Cluster.GPUsPerNode)
			if err != nil {
				t.Fatal(err)
			}
			wantLay, err := dispatch.NewLayout(want, place, s.Cluster.Nodes, s.Cluster.GPUsPerNode, s.Model.Experts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(lay, wantLay) {
				t.Fatal("the layout built rank by rank differs from NewLayout's")
			}
		})
	}
}
