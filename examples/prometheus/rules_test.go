// Package prometheus_test checks the example alerting rules: they parse,
// and they name only metrics Weft exports.
package prometheus_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type rules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestRecallRules(t *testing.T) {
	data, err := os.ReadFile("weft-recall.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var r rules
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"weft_recall_alarm": true, "weft_recall_sampled_sum": true, "weft_recall_sampled_count": true}
	n := 0
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			n++
			if rule.Alert == "" || rule.Expr == "" || rule.For == "" {
				t.Errorf("rule %+v: alert, expr and for are all needed", rule)
			}
			for _, m := range regexp.MustCompile(`weft_[a-z_]+`).FindAllString(rule.Expr, -1) {
				if !known[m] {
					t.Errorf("rule %s names %s, which Weft does not export", rule.Alert, m)
				}
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d rules, want 2", n)
	}
}
