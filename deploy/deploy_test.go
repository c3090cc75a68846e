// Package deploy checks the deployment examples offline: the Kubernetes
// manifest decodes strictly into the API's batch/v1 Job (an unknown or
// misspelt field fails), and says what docs/distributed.md promises. It is
// a module of its own so that moesim's module does not depend on the
// Kubernetes API.
package deploy

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func readJob(t *testing.T, path string) *batchv1.Job {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(data, &job); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &job
}

func TestIndexedJobManifest(t *testing.T) {
	job := readJob(t, "kubernetes/moesim-sweep-job.yaml")
	if job.APIVersion != "batch/v1" || job.Kind != "Job" {
		t.Fatalf("apiVersion %q kind %q, want batch/v1 Job", job.APIVersion, job.Kind)
	}
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Fatal("completionMode must be Indexed: each pod gets JOB_COMPLETION_INDEX")
	}
	if s.Completions == nil || s.Parallelism == nil {
		t.Fatal("completions and parallelism must be set")
	}
	n := int(*s.Completions)
	pod := s.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		t.Errorf("restartPolicy %q, want Never or OnFailure (a Job's pods)", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want one", len(pod.Containers))
	}
	c := pod.Containers[0]
	args := c.Args
	i := slices.Index(args, "--shard")
	if i < 0 || i+1 >= len(args) || args[i+1] != "auto/"+strconv.Itoa(n) {
		t.Errorf("args %q: want --shard auto/%d to match completions: %d", args, n, n)
	}
	if !slices.Contains(args, "--resume") {
		t.Error("a retried pod must continue its file: add --resume")
	}
	j := slices.Index(args, "--out")
	if j < 0 || !strings.HasPrefix(args[j+1], "/data/") || !strings.Contains(args[j+1], "$(SHARD_INDEX)") {
		t.Errorf("args %q: --out must name a per-shard file on the shared volume", args)
	}
	if len(c.Env) == 0 || c.Env[0].Name != "SHARD_INDEX" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.FieldRef == nil ||
		!strings.Contains(c.Env[0].ValueFrom.FieldRef.FieldPath, "job-completion-index") {
		t.Error("SHARD_INDEX must come from the job-completion-index annotation")
	}
	sc := pod.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Error("the pod must run as a non-root user")
	}
	if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("the container must not allow privilege escalation")
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || m.MountPath == "/data"
	}
	if !mounted {
		t.Error("the shared volume must be mounted at /data")
	}
}

// A misspelt field fails the strict decoding the test relies on.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	bad := []byte("apiVersion: batch/v1\nkind: Job\nspec:\n  completionMode: Indexed\n  completionz: 8\n")
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(bad, &job); err == nil || !strings.Contains(err.Error(), "completionz") {
		t.Fatalf("strict decoding of a typo: %v, want an error naming completionz", err)
	}
}

// The Dockerfile builds a static binary onto a distroless base and runs
// it as a non-root user.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	d := string(data)
	for _, want := range []string{"FROM gcr.io/distroless/", "CGO_ENABLED=0", "USER 65532", `ENTRYPOINT ["/usr/local/bin/moesim"]`} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
