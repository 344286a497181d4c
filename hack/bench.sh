#!/usr/bin/env bash
# Runs Portico's benchmarks and prints one table of their figures (figure, goal,
# measured, ratio to goal, min/median/max, samples); writes it as JSON to
# _output/bench/results.json. `make bench` calls it; `make bench BENCH=<name>`
# runs one benchmark (the table then also shows the other benchmarks' figures
# from their last run, read from _output/bench/<name>.log).
#
#   hub           portico-hub through the hub cluster: 10,000 access points and
#                 30,000 ClusterAccessPoints, create/update/get/list, RSS
#   member-agent  one member-agent with 1000 ClusterAccessPoints on a real member
#                 cluster: initial apply, idle RSS/CPU, change latency
#   federation    100 simulated member clusters (and 2 real ones): burst of 1000
#                 access points x 3 clusters, update latency, hub RSS/CPU
#   ipvs          the lb-agent's IPVS dataplane in the qemu VM: 5000 VIPs x 8
#                 backends next to ipvsadm -R, one change, restart
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
out="$ROOT/_output/bench"
all=(hub member-agent federation ipvs)

selected=("${all[@]}")
if [[ -n ${1:-} ]]; then
  if [[ ! " ${all[*]} " =~ " $1 " ]]; then
    echo "hack/bench.sh: unknown benchmark '$1'; one of: ${all[*]}" >&2
    exit 2
  fi
  selected=("$1")
fi

mkdir -p "$out"
failed=()
for name in "${selected[@]}"; do
  echo "== $name"
  case $name in
    hub) cmd=("$GO" test -tags integration -run '^$' -bench '^BenchmarkHub$' -benchtime 1x -timeout 90m -v ./test/integration/) ;;
    member-agent) cmd=("$GO" test -tags integration -run '^$' -bench '^BenchmarkMemberAgent$' -benchtime 1x -timeout 60m -v ./test/integration/) ;;
    federation) cmd=("$GO" test -tags integration -run '^$' -bench '^BenchmarkFederation$' -benchtime 1x -timeout 120m -v ./test/integration/) ;;
    ipvs) cmd=(env CGO_ENABLED=0 "$GO" test -tags vm -run '^$' -bench '^BenchmarkIPVS' -benchtime 1x -timeout 90m -v
      -exec "$ROOT/hack/vm/exec.sh" ./test/vm/) ;;
  esac
  if ! "${cmd[@]}" 2>&1 | tee "$out/$name.log.new"; then
    failed+=("$name")
  fi
  mv "$out/$name.log.new" "$out/$name.log"
done

echo
echo "== figures ($(uname -m), $(nproc) cores; logs in _output/bench)"
for log in "$out"/*.log; do
  echo "  $(basename "$log" .log): $(date -r "$log" '+%Y-%m-%d %H:%M')"
done
echo
"$GO" run ./hack/bench-report -o "$out/results.json" "$out"/*.log || failed+=(report)
echo "(written to _output/bench/results.json)"
if ((${#failed[@]})); then
  echo "hack/bench.sh: failed: ${failed[*]} (see _output/bench/<name>.log)" >&2
  exit 1
fi
