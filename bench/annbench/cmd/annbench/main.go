// Command annbench runs `weft bench ann` on its own, for scripts/bench-ann.sh
// until (and besides) cmd/weft wires the subcommand. Arguments are those of
// `weft bench ann`, plus an optional leading `--cpuprofile FILE`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"

	"github.com/weftdb/weft/bench/annbench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	args := os.Args[1:]
	if len(args) >= 2 && args[0] == "--cpuprofile" {
		f, err := os.Create(args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "annbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "annbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
		args = args[2:]
	}
	if err := annbench.Run(ctx, args, os.Stdout, os.Stderr); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "weft bench ann:", err)
		os.Exit(1)
	}
}
