package plugins

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config configures a Host.
type Config struct {
	// CompileCacheDir keeps compiled machine code across restarts; empty
	// keeps it in memory only.
	CompileCacheDir string `yaml:"compile_cache_dir"`
	// PoolSize is the number of instances per plugin, all created when the
	// plugin is loaded: at most PoolSize calls of one plugin run at once.
	PoolSize int `yaml:"pool_size"`
	// MemoryLimitPages caps each instance's linear memory, in 64 KiB pages.
	MemoryLimitPages uint32 `yaml:"memory_limit_pages"`
	// CallDeadline is the default wall-clock limit of one hook call,
	// including the wait for a free instance.
	CallDeadline time.Duration `yaml:"call_deadline"`
	// InitDeadline bounds a module's instantiation and initialisation (a Go
	// guest starts its runtime), which happens when a plugin is validated or
	// loaded and when a discarded instance is replaced, never in a query.
	InitDeadline time.Duration `yaml:"init_deadline" category:"advanced"`
	// CompileDeadline bounds compiling a module to machine code; a module
	// that takes longer is refused (the compile finishes in the background
	// and is dropped).
	CompileDeadline time.Duration `yaml:"compile_deadline" category:"advanced"`
	// MaxModuleBytes caps the size of a module.
	MaxModuleBytes int `yaml:"max_module_bytes"`
	// MaxFilterBatch splits larger filter inputs (e.g. pre-ANN allow-lists
	// over a whole shard) into calls of at most this many candidates.
	MaxFilterBatch int `yaml:"max_filter_batch" category:"advanced"`
}

// RegisterFlags registers the flags under prefix (e.g. "plugins.") and sets
// the defaults.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.CompileCacheDir, prefix+"compile-cache-dir", "", "Directory that keeps compiled plugin code across restarts; empty keeps it in memory only.")
	fs.IntVar(&c.PoolSize, prefix+"pool-size", 4, "Instances per plugin, created when the plugin is loaded; at most this many calls of one plugin run at once.")
	fs.Func(prefix+"memory-limit-pages", "Linear memory limit of each plugin instance, in 64 KiB pages (default 1024 = 64 MiB).", func(s string) error {
		var v uint32
		if _, err := fmt.Sscan(s, &v); err != nil {
			return err
		}
		c.MemoryLimitPages = v
		return nil
	})
	c.MemoryLimitPages = 1024
	fs.DurationVar(&c.CallDeadline, prefix+"call-deadline", 100*time.Millisecond, "Default wall-clock limit of one plugin call; a plugin's own deadline overrides it.")
	fs.DurationVar(&c.InitDeadline, prefix+"init-deadline", 10*time.Second, "Wall-clock limit of instantiating and initialising one plugin instance.")
	fs.DurationVar(&c.CompileDeadline, prefix+"compile-deadline", time.Minute, "Wall-clock limit of compiling one plugin module; slower modules are refused.")
	fs.IntVar(&c.MaxModuleBytes, prefix+"max-module-bytes", 16<<20, "Largest plugin module accepted, in bytes.")
	fs.IntVar(&c.MaxFilterBatch, prefix+"max-filter-batch", 65536, "Largest number of candidates sent to a filter hook in one call; larger inputs are split.")
}

// DefaultConfig returns the defaults RegisterFlags sets.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	return c
}

// Validate reports every problem of the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.PoolSize < 1 {
		errs = append(errs, fmt.Errorf("plugins pool-size must be at least 1, got %d", c.PoolSize))
	}
	if c.MemoryLimitPages < 1 || c.MemoryLimitPages > 65536 {
		errs = append(errs, fmt.Errorf("plugins memory-limit-pages must be in 1..65536, got %d", c.MemoryLimitPages))
	}
	if c.CallDeadline <= 0 {
		errs = append(errs, fmt.Errorf("plugins call-deadline must be positive, got %s", c.CallDeadline))
	}
	if c.CompileDeadline <= 0 {
		errs = append(errs, fmt.Errorf("plugins compile-deadline must be positive, got %s", c.CompileDeadline))
	}
	if c.InitDeadline <= 0 {
		errs = append(errs, fmt.Errorf("plugins init-deadline must be positive, got %s", c.InitDeadline))
	}
	if c.MaxModuleBytes < 1 {
		errs = append(errs, fmt.Errorf("plugins max-module-bytes must be positive, got %d", c.MaxModuleBytes))
	}
	if c.MaxFilterBatch < 1 {
		errs = append(errs, fmt.Errorf("plugins max-filter-batch must be positive, got %d", c.MaxFilterBatch))
	}
	return errors.Join(errs...)
}
