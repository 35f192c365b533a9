// Command local is the local development server of `make run`: every route
// of the product behind an emulated API Gateway, /dev/token for admin
// tokens, and the admin console at /. It is never deployed.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kudurrustone/apikeys/functions/internal/localserver"
)

func main() {
	cfg, err := localserver.ParseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, localserver.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// Ctrl-C or SIGTERM ends the context: the server finishes the requests
	// in flight and closes the store before Run returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := localserver.Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
