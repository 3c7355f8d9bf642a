package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/weftdb/weft/fabric"
)

// runIndexer is `weft indexer`: it folds the WALs of every namespace in
// the bucket into segments and publishes their manifests, for processes
// that serve without indexing (`weft serve --index.disabled`). Several
// may run on one bucket: manifests are published with create-if-absent,
// and a fold that loses the race adopts the winner's.
func runIndexer(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("indexer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveFlags
	c.registerProcess(fs, "127.0.0.1:7601", "Address to serve /metrics, /healthz and /readyz on.", "weft-indexer")
	c.index.RegisterFlags("index.", fs)
	poll := fs.Duration("poll", time.Second, "How often to look for new namespaces and WAL entries.")
	unloadIdle := fs.Duration("namespace-unload-idle", time.Minute, "Drop a namespace from memory once nothing was written to it for this long and all of it is indexed; it loads again when its WAL grows. 0: keep every namespace loaded.")
	configPath := fs.String("config", os.Getenv("WEFT_CONFIG"), "YAML file of settings, keyed by flag name; flags and WEFT_* environment variables override it.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("indexer takes no arguments, got %q", fs.Args())
	}
	if err := applyConfig(fs, *configPath); err != nil {
		return err
	}
	if c.index.Disabled {
		return errors.New("--index.disabled: an indexer that does not index does nothing; remove the flag")
	}
	if *poll <= 0 {
		return fmt.Errorf("--poll %v: want a positive duration", *poll)
	}
	p, err := startProcess(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer p.close()
	log, bucket, reg := p.log, p.bucket, p.reg

	// An indexer never writes the WAL, so it takes no write lease.
	srv, err := fabric.New(fabric.Config{Bucket: bucket, Logger: log, Registerer: reg, Index: c.index, WriteLease: -1, UnloadIdle: *unloadIdle})
	if err != nil {
		return err
	}
	defer srv.Close()
	ictx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() { defer close(done); srv.IndexBucket(ictx, *poll) }()
	defer func() { stop(); <-done }()
	return serveHTTP(ctx, "weft indexer", c.listen, opsMux(reg, srv.Ready, nil, log), nil, c.timeouts, c.shutdownTimeout, log, "bucket", p.where)
}
