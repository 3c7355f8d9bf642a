package cache

import (
	"errors"
	"fmt"
	"time"
)

// DefaultLoadTimeout bounds a load when Options.LoadTimeout is zero. Loads
// are detached from their callers, so without a bound a stuck bucket request
// would hold its key forever.
const DefaultLoadTimeout = time.Minute

// Options configure a Cache.
type Options struct {
	// RAMBytes is the RAM budget: ristretto's MaxCost. Required, > 0.
	RAMBytes int64

	// DiskDir enables the disk tier in this directory, created if missing.
	// Empty means RAM only.
	DiskDir string

	// DiskBytes is the disk tier's budget: the sum of its files' sizes,
	// headers included (not the file system's block rounding). Required,
	// > 0, when DiskDir is set.
	DiskBytes int64

	// LoadTimeout bounds each load. Zero means DefaultLoadTimeout.
	LoadTimeout time.Duration
}

func (o Options) validated() (Options, error) {
	var errs []error
	if o.RAMBytes <= 0 {
		errs = append(errs, fmt.Errorf("RAMBytes must be > 0, got %d", o.RAMBytes))
	}
	if o.DiskDir != "" && o.DiskBytes <= 0 {
		errs = append(errs, fmt.Errorf("DiskBytes must be > 0 with DiskDir %q, got %d", o.DiskDir, o.DiskBytes))
	}
	if o.DiskDir == "" && o.DiskBytes != 0 {
		errs = append(errs, fmt.Errorf("DiskBytes is %d but DiskDir is empty", o.DiskBytes))
	}
	if o.LoadTimeout < 0 {
		errs = append(errs, fmt.Errorf("LoadTimeout must be >= 0, got %v", o.LoadTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("cache: invalid options: %w", err)
	}
	if o.LoadTimeout == 0 {
		o.LoadTimeout = DefaultLoadTimeout
	}
	return o, nil
}
