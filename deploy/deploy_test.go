package deploy

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/metrics"
)

// registered returns the names of every metric internal/metrics defines.
func registered(t *testing.T) map[string]bool {
	t.Helper()
	reg := &describer{names: map[string]bool{}}
	metrics.New(reg)
	if len(reg.names) < 10 {
		t.Fatalf("only %d metrics registered: %v", len(reg.names), reg.names)
	}
	return reg.names
}

// describer is a Registerer that records the names of what is registered.
type describer struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return true }

var metricName = regexp.MustCompile(`\breconciler_[a-z_]+`)

// used returns the metric names an expression refers to, without the
// histogram series suffixes.
func used(expr string) []string {
	var out []string
	for _, m := range metricName.FindAllString(expr, -1) {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			m = strings.TrimSuffix(m, suf)
		}
		out = append(out, m)
	}
	return out
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile("alerts/reconciler-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	return rf
}

func TestAlertsUseExportedMetrics(t *testing.T) {
	names := registered(t)
	rf := readRules(t)
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			ms := used(r.Expr)
			if len(ms) == 0 {
				t.Errorf("alert %s uses no reconciler metric", r.Alert)
			}
			for _, m := range ms {
				if !names[m] {
					t.Errorf("alert %s uses %s, which the daemon does not export", r.Alert, m)
				}
			}
		}
	}
	if n < 7 {
		t.Errorf("%d alerts, want at least 7", n)
	}
}

func TestDashboardUsesExportedMetrics(t *testing.T) {
	names := registered(t)
	b, err := os.ReadFile("grafana/reconciler-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range used(tg.Expr) {
				seen[m] = true
				if !names[m] {
					t.Errorf("panel %q queries %s, which the daemon does not export", p.Title, m)
				}
			}
		}
	}
	for _, want := range []string{"reconciler_runs_total", "reconciler_run_duration_seconds", "reconciler_planned_changes",
		"reconciler_treasure_request_duration_seconds", "reconciler_drift_objects", "reconciler_source_stalled"} {
		if !seen[want] {
			t.Errorf("dashboard does not show %s", want)
		}
	}
}

func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	rf := readRules(t)
	b, err := os.ReadFile("base/prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Kind string   `yaml:"kind"`
		Spec ruleFile `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Kind != "PrometheusRule" || !reflect.DeepEqual(pr.Spec, rf) {
		t.Error("deploy/base/prometheusrule.yaml differs from deploy/alerts/reconciler-rules.yaml; regenerate it")
	}
}

func TestDeploymentIsLockedDown(t *testing.T) {
	b, err := os.ReadFile("base/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					SecurityContext map[string]any `yaml:"securityContext"`
					Containers      []struct {
						SecurityContext struct {
							AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
							ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
							Capabilities             struct {
								Drop []string `yaml:"drop"`
							} `yaml:"capabilities"`
						} `yaml:"securityContext"`
						Env []struct {
							Name  string `yaml:"name"`
							Value string `yaml:"value"`
						} `yaml:"env"`
						LivenessProbe  map[string]any `yaml:"livenessProbe"`
						ReadinessProbe map[string]any `yaml:"readinessProbe"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	ps := d.Spec.Template.Spec
	if ps.SecurityContext["runAsNonRoot"] != true {
		t.Error("pod does not require a non-root user")
	}
	c := ps.Containers[0]
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil ||
		!*sc.ReadOnlyRootFilesystem || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container security context is not locked down: %+v", sc)
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Error("probes missing")
	}
	for _, e := range c.Env {
		if strings.Contains(strings.ToLower(e.Name), "key") || strings.Contains(strings.ToLower(e.Name), "token") ||
			strings.Contains(strings.ToLower(e.Name), "secret") {
			if e.Value != "" {
				t.Errorf("env %s carries a literal value; secrets must come from a Secret", e.Name)
			}
		}
	}
}

func TestShippedConfigIsValid(t *testing.T) {
	// The Deployment fills these from the Secret.
	for _, v := range []string{"GIT_TOKEN", "TD_API_KEY", "DATABRICKS_TOKEN", "GITHUB_WEBHOOK_SECRET"} {
		t.Setenv(v, "placeholder-"+strings.ToLower(v))
	}
	if _, err := config.Load("base/config.yaml"); err != nil {
		t.Errorf("deploy/base/config.yaml: %v", err)
	}
}
