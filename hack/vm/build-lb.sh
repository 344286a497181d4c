#!/usr/bin/env bash
# Builds, once, the overlay that turns the VM of hack/vm/build.sh into an L4 edge
# node of the local federation (make up, test/e2e): lb.cpio.gz adds the virtio
# network, PCI and RNG drivers to the modules the base initramfs loads, and the
# node's workload hack/vm/lb-node.sh as /vm/test.bin. A node boots
# base.cpio.gz + lb.cpio.gz + a small per-node archive holding /vm/lb-agent, its
# kubeconfig, /vm/args and /vm/env (hack/local-up writes it).
#
# Prints the directory holding vmlinuz, base.cpio.gz and lb.cpio.gz. Exits 2 with a
# message when the base VM cannot be built (see hack/vm/build.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EXTRA_MODULES=(virtio_pci virtio_net virtio_rng)

log() { echo "hack/vm/build-lb.sh: $*" >&2; }

OUT="$("$ROOT/hack/vm/build.sh")"
exec 9>"$OUT/.lock-lb"
flock 9

kver="$(cat "$OUT/kernel/.done")"
stamp="$(cat "$OUT/base.stamp") $(sha256sum "$ROOT/hack/vm/lb-node.sh" "$0" | sha256sum | cut -c1-16)"
if [[ -f $OUT/lb.cpio.gz && "$(cat "$OUT/lb.stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "$OUT"
  exit 0
fi

# The overlay replaces the base's module index, so it carries the base's modules
# too: the merged tree then has one consistent modules.dep.
[[ -d $OUT/initramfs/lib/modules/$kver ]] ||
  { log "$OUT/initramfs is incomplete: delete $OUT/base.stamp and run again"; exit 2; }
root="$OUT/lb-initramfs"
rm -rf "$root" && mkdir -p "$root/etc" "$root/vm"
cp -a "$OUT/initramfs/lib" "$root/"
for m in "${EXTRA_MODULES[@]}"; do
  modprobe -S "$kver" -d "$OUT/kernel" --show-depends "$m" | awk '$1 == "insmod" {print $2}' |
    while read -r ko; do
      mkdir -p "$root/$(dirname "${ko#"$OUT/kernel"}")"
      cp "$ko" "$root/${ko#"$OUT/kernel"}"
    done
done
depmod -b "$root" "$kver"
{ printf '%s\n' "${EXTRA_MODULES[@]}"; cat "$OUT/initramfs/etc/vm-modules"; } >"$root/etc/vm-modules"
cp "$ROOT/hack/vm/lb-node.sh" "$root/vm/test.bin"
chmod +x "$root/vm/test.bin"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/lb.cpio.gz.tmp"
mv "$OUT/lb.cpio.gz.tmp" "$OUT/lb.cpio.gz"
echo "$stamp" >"$OUT/lb.stamp"
log "built $OUT/lb.cpio.gz for kernel $kver"
echo "$OUT"
