package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/daemon"
	"github.com/faxbridge/faxbridge/storage"
)

// cmdRotateMediaKey replaces the key that signs local document URLs. The
// old key keeps verifying the URLs it signed until they expire; restart the
// daemon to sign with the new one.
func cmdRotateMediaKey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rotate-media-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/faxbridge/faxbridge.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "faxbridge: %s: %v\n", *path, err)
		return 1
	}
	key := daemon.MediaKeyPath(cfg)
	if err := storage.RotateSecret(key); err != nil {
		fmt.Fprintf(stderr, "faxbridge: rotate %s: %v\n", key, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: new key; the old one verifies the URLs it signed for up to %v. Restart faxbridge to sign with the new key.\n", key, storage.MaxURLAge)
	return 0
}
