package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// knativeService is serving.knative.dev/v1 Service as far as the example
// uses it: Kubernetes' own types for the metadata and the pod spec, the
// fields Knative adds beside them. (Knative's Go module would bring in far
// more than this test needs.)
type knativeService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Template struct {
			metav1.ObjectMeta `json:"metadata"`
			Spec              struct {
				corev1.PodSpec       `json:",inline"`
				ContainerConcurrency *int64 `json:"containerConcurrency,omitempty"`
				TimeoutSeconds       *int64 `json:"timeoutSeconds,omitempty"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

// Every manifest decodes strictly (unknown or misspelt fields fail) into
// the Kubernetes API types of its kind; every Weft container's arguments
// are flags that weft accepts (its own parser checks them, with --help at
// the end so nothing starts); selectors match their pods' labels; probes
// and Services name ports the containers have.
func TestManifests(t *testing.T) {
	weft := buildWeft(t)
	var containers []corev1.Container
	files, _ := filepath.Glob("kubernetes/*.yaml")
	knative, _ := filepath.Glob("knative/*.yaml")
	files = append(files, knative...)
	if len(files) < 5 {
		t.Fatalf("found %v: want the Kubernetes manifests and the Knative Service", files)
	}
	kinds := map[string]int{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitYAML(data) {
			where := fmt.Sprintf("%s, document %d", file, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			kinds[tm.APIVersion+" "+tm.Kind]++
			strict := func(v any) {
				t.Helper()
				if err := yaml.UnmarshalStrict(doc, v); err != nil {
					t.Fatalf("%s (%s %s): %v", where, tm.APIVersion, tm.Kind, err)
				}
			}
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				var d appsv1.Deployment
				strict(&d)
				sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
				if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Fatalf("%s: the selector %v does not match the pod labels %v", where, d.Spec.Selector, d.Spec.Template.Labels)
				}
				checkPods(t, where, d.Spec.Template.Spec)
				containers = append(containers, d.Spec.Template.Spec.Containers...)
			case "v1 Service":
				var s corev1.Service
				strict(&s)
				if len(s.Spec.Selector) == 0 || len(s.Spec.Ports) == 0 {
					t.Fatalf("%s: a Service without a selector or ports", where)
				}
			case "v1 Secret":
				var s corev1.Secret
				strict(&s)
			case "serving.knative.dev/v1 Service":
				var k knativeService
				strict(&k)
				checkPods(t, where, k.Spec.Template.Spec.PodSpec)
				if k.Spec.Template.Annotations["autoscaling.knative.dev/min-scale"] != "0" {
					t.Fatalf("%s: the Knative workers must scale to zero (min-scale 0)", where)
				}
				containers = append(containers, k.Spec.Template.Spec.Containers...)
			default:
				t.Fatalf("%s: kind %s %s is not one this test knows", where, tm.APIVersion, tm.Kind)
			}
		}
	}
	for _, want := range []string{"apps/v1 Deployment", "v1 Service", "v1 Secret", "serving.knative.dev/v1 Service"} {
		if kinds[want] == 0 {
			t.Errorf("no %s among the manifests", want)
		}
	}
	roles := map[string]bool{}
	for _, c := range containers {
		checkArgs(t, weft, c.Name, c.Args)
		roles[c.Args[0]] = true
	}
	for _, role := range []string{"fabric", "worker", "indexer"} {
		if !roles[role] {
			t.Errorf("no container runs weft %s", role)
		}
	}
}

// checkPods checks what a pod template's containers refer to.
func checkPods(t *testing.T, where string, spec corev1.PodSpec) {
	t.Helper()
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range spec.Containers {
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
		}
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
			if p == nil || p.HTTPGet == nil {
				continue
			}
			if name := p.HTTPGet.Port.StrVal; name != "" && !ports[name] {
				t.Fatalf("%s: a probe names port %q, which container %s does not have", where, name, c.Name)
			}
			if p.HTTPGet.Path != "/readyz" && p.HTTPGet.Path != "/healthz" {
				t.Fatalf("%s: probe path %q: weft answers /readyz and /healthz", where, p.HTTPGet.Path)
			}
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Fatalf("%s: container %s mounts volume %q, which the pod does not have", where, c.Name, m.Name)
			}
		}
		if len(c.Args) == 0 {
			t.Fatalf("%s: container %s has no arguments: name the weft role", where, c.Name)
		}
	}
}

// checkArgs runs weft with a container's arguments and --help: weft parses
// every flag before it (refusing unknown ones) and then stops.
func checkArgs(t *testing.T, weft, name string, args []string) {
	t.Helper()
	out, err := exec.Command(weft, append(args, "--help")...).CombinedOutput()
	if err != nil {
		t.Fatalf("container %s: weft %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// The compose file's weft services run flags weft accepts.
func TestCompose(t *testing.T) {
	weft := buildWeft(t)
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image   string   `json:"image"`
			Command []string `json:"command"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for name, s := range compose.Services {
		if s.Image != "weft:example" {
			continue
		}
		checkArgs(t, weft, name, s.Command)
		roles[s.Command[0]]++
	}
	if roles["fabric"] != 1 || roles["worker"] != 1 || roles["indexer"] != 1 {
		t.Fatalf("compose services by weft role: %v; want a fabric, a worker (3 replicas) and an indexer", roles)
	}
	if !regexp.MustCompile(`(?m)^\s+replicas: 3$`).Match(data) {
		t.Fatal("compose.yaml: want 3 worker replicas")
	}
}

// splitYAML splits a multi-document YAML file.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if len(bytes.TrimSpace([]byte(stripComments(d)))) > 0 {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// buildWeft builds the weft binary of this checkout once per test.
func buildWeft(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "weft")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/weft")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build weft: %v\n%s", err, out)
	}
	return bin
}
