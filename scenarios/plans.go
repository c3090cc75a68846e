package scenarios

import (
	"embed"
	"fmt"
	"path"
	"strings"
)

// The built-in capacity plans (`moesim plan --example NAME`) are embedded
// here beside the presets they start from; scenarios/search decodes them.

//go:embed plans/*.yaml
var planFS embed.FS

// PlanExampleNames lists the embedded plan examples, sorted.
func PlanExampleNames() []string { return embeddedNames(planFS, "plans") }

// PlanExampleYAML is the named plan example's file, comments included.
func PlanExampleYAML(name string) ([]byte, error) {
	data, err := planFS.ReadFile(path.Join("plans", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("plan: --example %q does not exist; examples: %s", name, strings.Join(PlanExampleNames(), ", "))
	}
	return data, nil
}
