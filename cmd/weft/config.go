package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// applyConfig fills the flags the command line left unset, first from
// WEFT_<NAME> environment variables (the flag name upper-cased, with '-' and
// '.' turned into '_'), then from the YAML file named by configPath, whose
// keys are the flag names. So: flags > environment > file > defaults.
func applyConfig(fs *flag.FlagSet, configPath string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	file := map[string]any{}
	if configPath != "" {
		data, err := os.ReadFile(configPath)
		if err != nil {
			return fmt.Errorf("read --config: %w", err)
		}
		if err := yaml.Unmarshal(data, &file); err != nil {
			return fmt.Errorf("--config %s: %w", configPath, err)
		}
		for key := range file {
			if fs.Lookup(key) == nil || key == "config" {
				return fmt.Errorf("--config %s: unknown key %q: keys are flag names (weft %s -h lists them)", configPath, key, fs.Name())
			}
		}
	}

	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", env, v, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := fs.Set(f.Name, yamlScalar(v)); err != nil {
				errs = append(errs, fmt.Sprintf("--config key %s: %v", f.Name, err))
			}
		}
	})
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("bad configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// envName is the environment variable that sets flag name.
func envName(name string) string {
	return "WEFT_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// yamlScalar renders a YAML value the way the flag would be written.
func yamlScalar(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}
