// Command fill adds finished jobs to a SQLite job database (creating it if
// needed), so that a benchmark can run faxbridge on an old database:
//
//	fill -db state/faxbridge.db -jobs 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/faxbridge/faxbridge/bench/internal/fill"
)

func main() {
	path := flag.String("db", "", "SQLite job database (required)")
	n := flag.Int("jobs", 1_000_000, "finished jobs to add")
	flag.Parse()
	if *path == "" || *n < 0 {
		fmt.Fprintln(os.Stderr, "fill: -db is required and -jobs must not be negative")
		os.Exit(2)
	}
	start := time.Now()
	if err := fill.SQLite(context.Background(), *path, *n, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
	fmt.Printf("added %d finished jobs in %.1f s\n", *n, time.Since(start).Seconds())
}
