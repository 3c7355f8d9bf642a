package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/weftdb/weft/bench/annbench"
)

const usage = `usage: weft <command> [flags]

commands:
  serve       everything in one process: the API over a folder or a bucket
  fabric      the API front end of a cluster: writes, and queries fanned out to workers
  worker      shard search for fabrics, over the bucket with a cache
  indexer     only the indexer, for servers run with --index.disabled on the same bucket
  keys        create, list and revoke API keys (an admin key in $WEFT_API_KEY)
  bench ann   in-process ANN index benchmark on a dataset folder (JSON lines)
  bench query load and recall of a running weft serve through its API (JSON lines)
  bench cold  first queries of new weft serve processes on a loaded bucket (JSON lines)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "weft:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	switch {
	case len(args) >= 1 && args[0] == "serve":
		return runServe(ctx, roleServe, args[1:], os.Stderr)
	case len(args) >= 1 && args[0] == "fabric":
		return runServe(ctx, roleFabric, args[1:], os.Stderr)
	case len(args) >= 1 && args[0] == "worker":
		return runServe(ctx, roleWorker, args[1:], os.Stderr)
	case len(args) >= 1 && args[0] == "indexer":
		return runIndexer(ctx, args[1:], os.Stderr)
	case len(args) >= 1 && args[0] == "keys":
		return runKeys(ctx, args[1:], os.Stdout, os.Stderr)
	case len(args) >= 1 && args[0] == "import":
		return runImport(ctx, args[1:], os.Stdout, os.Stderr)
	case len(args) >= 1 && args[0] == "query":
		return runQuery(ctx, args[1:], os.Stdout, os.Stderr)
	case len(args) >= 2 && args[0] == "bench" && args[1] == "ann":
		return annbench.Run(ctx, args[2:], os.Stdout, os.Stderr)
	case len(args) >= 2 && args[0] == "bench" && args[1] == "cold":
		return annbench.RunCold(ctx, args[2:], os.Stdout, os.Stderr)
	case len(args) >= 2 && args[0] == "bench" && args[1] == "query":
		return annbench.RunQuery(ctx, args[2:], os.Stdout, os.Stderr)
	case len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Print(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q \n%s", args[0], usage)
}
