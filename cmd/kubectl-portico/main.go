// Command kubectl-portico is the kubectl plugin of Portico: `kubectl portico
// join NAME --zone ZONE` registers a member cluster with the hub and prints the
// member-agent's install manifest; `kubectl portico describe fap NAME` shows an
// access point and its parts as a tree; `kubectl portico status` prints one
// line per access point; `kubectl portico rollout status|approve|pause|resume|
// undo|history fap/NAME` follows and steers the staged rollout of an access
// point's revisions. See `kubectl portico --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/portico-dev/portico/cmd/kubectl-portico/plugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := plugin.Main(ctx, plugin.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}
