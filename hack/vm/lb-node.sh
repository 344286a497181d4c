#!/bin/sh
# The workload of an lb VM (hack/vm/build-lb.sh puts it at /vm/test.bin, which the
# base /init of hack/vm/build.sh runs with the lines of /vm/args as arguments after
# sourcing /vm/env). It brings eth0 up with $LB_CIDR and a default route via
# $LB_GATEWAY, then runs /vm/lb-agent with its arguments until the agent exits or a
# line arrives on the second serial port (/dev/ttyS1): that stops the agent with
# SIGTERM, so it withdraws its routes, drains and exits, and the VM powers off.
set -u
ip link set eth0 up
ip addr add "$LB_CIDR" dev eth0
ip route add default via "$LB_GATEWAY"
echo "lb-node: eth0 $LB_CIDR, default via $LB_GATEWAY; starting lb-agent"
./lb-agent "$@" &
agent=$!
if [ -c /dev/ttyS1 ]; then
  (read -r _ </dev/ttyS1 && echo "lb-node: stop requested" && kill -TERM "$agent") &
fi
wait "$agent"
