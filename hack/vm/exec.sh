#!/usr/bin/env bash
# A `go test -exec` wrapper that runs a test binary inside a qemu VM (software
# emulation) booting Debian's cloud kernel with IPVS, IPIP, dummy and veth:
#
#   CGO_ENABLED=0 go test -tags vm -exec "$PWD/hack/vm/exec.sh" ./test/vm/
#
# The binary must be static (CGO_ENABLED=0). Its arguments are passed through; its
# exit code is the VM's (qemu itself always exits 0, so /init prints a marker).
# When the VM cannot be built (no qemu and no way to install it) the binary runs on
# the host with PORTICO_VM_UNAVAILABLE set: its tests skip with that reason, or fail
# when CI=true.
#
# Environment: PORTICO_VM_CPUS (2), PORTICO_VM_MEMORY (2048, MiB), PORTICO_VM_TIMEOUT
# (seconds, 3600).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$1"
shift

if ! vmdir="$("$ROOT/hack/vm/build.sh")"; then
  export PORTICO_VM_UNAVAILABLE="the VM could not be built (see hack/vm/build.sh's message above)"
  exec "$bin" "$@"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/portico-vm.XXXXXX")"
qemu_pid=""
cleanup() {
  [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/vm"
cp "$bin" "$work/vm/test.bin"
: >"$work/vm/args"
for a in "$@"; do printf '%s\n' "$a" >>"$work/vm/args"; done
{
  echo "export PORTICO_IN_VM=1"
  [[ -n ${CI:-} ]] && printf 'export CI=%q\n' "$CI"
  [[ -n ${PORTICO_VM_TEST_ENV:-} ]] && echo "$PORTICO_VM_TEST_ENV"
} >"$work/vm/env"
(cd "$work" && find vm | cpio -o -H newc --quiet | gzip -1) >"$work/extra.cpio.gz"
cat "$vmdir/base.cpio.gz" "$work/extra.cpio.gz" >"$work/initrd"

timeout --foreground -k 10 "${PORTICO_VM_TIMEOUT:-3600}" \
  qemu-system-x86_64 -accel tcg -cpu max -smp "${PORTICO_VM_CPUS:-2}" -m "${PORTICO_VM_MEMORY:-2048}" \
  -nic none -display none -no-reboot -monitor none -serial stdio \
  -kernel "$vmdir/vmlinuz" -initrd "$work/initrd" \
  -append "console=ttyS0 quiet panic=-1 loglevel=3" </dev/null >"$work/console" 2>&1 &
qemu_pid=$!
tail -n +1 -f --pid="$qemu_pid" "$work/console" | tr -d '\r' | grep -Ev '^PORTICO_VM_EXIT=|^\[ *[0-9.]+\] reboot: Power down' || true
wait "$qemu_pid" || true
qemu_pid=""
code="$(tr -d '\r' <"$work/console" | sed -n 's/^PORTICO_VM_EXIT=\([0-9]*\)$/\1/p' | tail -1)"
if [[ -z $code ]]; then
  echo "hack/vm/exec.sh: the VM stopped without reporting an exit code (crash or timeout)" >&2
  exit 1
fi
exit "$code"
