// Command agent is the lb-agent with an in-memory dataplane, for the peer tier:
// the machines running that tier have no IPVS, and the tier tests BGP, health
// checks and the hub side. Everything else (flags, controller, speaker, health
// checks, status, signals) is the real lb-agent.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/portico-dev/portico/lb-agent/agent"
	"github.com/portico-dev/portico/lb-agent/dataplane"
	"github.com/portico-dev/portico/lb-agent/dataplane/fake"
)

func main() {
	o := agent.NewOptions()
	o.NewDataplane = func(*agent.Options) (dataplane.Dataplane, string, func(), error) {
		return &fake.Dataplane{}, "fake", func() {}, nil
	}
	fs := pflag.NewFlagSet("agent", pflag.ExitOnError)
	o.AddFlags(fs)
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	fs.AddGoFlagSet(klogFlags)
	_ = fs.Parse(os.Args[1:])
	if err := o.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := o.Run(ctx); err != nil {
		klog.ErrorS(err, "lb-agent failed")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}
