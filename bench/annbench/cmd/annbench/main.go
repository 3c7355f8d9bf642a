// Command annbench runs `weft bench ann` on its own, for scripts/bench-ann.sh
// until (and besides) cmd/weft wires the subcommand. Arguments are those of
// `weft bench ann`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/weftdb/weft/bench/annbench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := annbench.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "weft bench ann:", err)
		os.Exit(1)
	}
}
