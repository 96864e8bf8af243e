// Command simulator runs the SignalWire simulator as its own process, so that
// a benchmark of the faxbridge binary measures faxbridge alone: the simulator
// fetches every document into its memory, which must not count against the
// daemon's peak memory or share its CPU accounting.
//
//	simulator -addr 127.0.0.1:9999 -project P -token T -key PSK_K
//
// It prints its base URL on one line once it listens and serves until SIGINT
// or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	project := flag.String("project", "bench-project", "project ID the client must use")
	token := flag.String("token", "", "API token the client must use (required)")
	key := flag.String("key", "", "signing key for status callbacks (required)")
	step := flag.Duration("step", 20*time.Millisecond, "delay between fax status transitions")
	verbose := flag.Bool("v", false, "log every simulator event to stderr")
	flag.Parse()
	if *token == "" || *key == "" {
		fmt.Fprintln(os.Stderr, "simulator: -token and -key are required")
		os.Exit(2)
	}
	cfg := signalwiretest.Config{
		ProjectID:  *project,
		APIToken:   *token,
		SigningKey: *key,
		Addr:       *addr,
		StepDelay:  *step,
	}
	if *verbose {
		cfg.Logf = log.Printf
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sim, err := signalwiretest.Start(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
	fmt.Println(sim.URL())
	<-ctx.Done()
	if err := sim.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "simulator: close:", err)
		os.Exit(1)
	}
}
