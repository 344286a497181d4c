#!/usr/bin/env bash
# Builds, once, what the VM test tier boots: a stock Debian cloud kernel, the modules
# the lb-agent dataplane needs (IPVS with Maglev hashing, IPIP, dummy, veth) and a
# busybox initramfs with ipvsadm. Everything is cached under _output/vm; delete that
# directory to rebuild (it also picks up a newer kernel then).
#
# Host tools it needs (installed with apt-get when missing and running as root):
# qemu-system-x86_64 (to boot), cpio, kmod (depmod/modprobe), busybox-static and the
# kernel are only downloaded (apt-get download), never installed.
#
# Prints the directory holding vmlinuz and base.cpio.gz on success. Exits 2 with a
# message when a host tool is missing and cannot be installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${PORTICO_VM_DIR:-$ROOT/_output/vm}"
# Bump when the content of the initramfs changes, to rebuild it.
ASSETS_VERSION=3
MODULES=(ip_vs ip_vs_mh ip_vs_rr ip_vs_sh ipip dummy veth bridge)
IPVSADM_DEBS=(ipvsadm libnl-3-200 libnl-genl-3-200 libpopt0)

log() { echo "hack/vm/build.sh: $*" >&2; }

# ensure_host_tools installs qemu, cpio and kmod when missing.
ensure_host_tools() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  command -v cpio >/dev/null || missing+=(cpio)
  command -v depmod >/dev/null || missing+=(kmod)
  command -v apt-get >/dev/null || { log "apt-get not found: the VM tier needs a Debian-like host"; exit 2; }
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ $(id -u) -ne 0 ]]; then
    log "missing host packages ${missing[*]} and not root: install them (apt-get install -y ${missing[*]})"
    exit 2
  fi
  log "installing ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    apt-get update >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
      { log "cannot install ${missing[*]}"; exit 2; }
  fi
}

# download PKG... fetches .deb files into $OUT/debs (cached).
download() {
  mkdir -p "$OUT/debs"
  local pkg
  for pkg in "$@"; do
    compgen -G "$OUT/debs/${pkg}_*.deb" >/dev/null && continue
    log "downloading $pkg"
    (cd "$OUT/debs" && apt-get -o APT::Sandbox::User=root download "$pkg" >&2) ||
      { apt-get update >&2 || true; (cd "$OUT/debs" && apt-get -o APT::Sandbox::User=root download "$pkg" >&2); } ||
      { log "cannot download the Debian package $pkg"; exit 2; }
  done
}

kernel_package() {
  apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}'
}

# stage_kernel unpacks the kernel package into $OUT/kernel and runs depmod on it.
stage_kernel() {
  [[ -f $OUT/kernel/.done ]] && return 0
  local pkg
  pkg="$(kernel_package)"
  [[ -n $pkg ]] || { log "apt-cache knows no linux-image-cloud-amd64 (run apt-get update)"; exit 2; }
  download "$pkg"
  rm -rf "$OUT/kernel" && mkdir -p "$OUT/kernel"
  dpkg-deb -x "$OUT/debs/${pkg}"_*.deb "$OUT/kernel"
  local kver
  kver="$(ls "$OUT/kernel/lib/modules")"
  depmod -b "$OUT/kernel" "$kver"
  cp "$OUT/kernel/boot/vmlinuz-$kver" "$OUT/vmlinuz"
  echo "$kver" >"$OUT/kernel/.done"
}

# stage_modules copies MODULES and their dependencies into the initramfs tree.
stage_modules() {
  local root=$1 kver=$2 m ko
  for m in "${MODULES[@]}"; do
    modprobe -S "$kver" -d "$OUT/kernel" --show-depends "$m" | awk '$1 == "insmod" {print $2}' |
      while read -r ko; do
        mkdir -p "$root/$(dirname "${ko#"$OUT/kernel"}")"
        cp "$ko" "$root/${ko#"$OUT/kernel"}"
      done
  done
  cp "$OUT/kernel/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/"
  depmod -b "$root" "$kver"
  printf '%s\n' "${MODULES[@]}" >"$root/etc/vm-modules"
}

# stage_ipvsadm installs ipvsadm and the shared libraries it loads.
stage_ipvsadm() {
  local root=$1 tmp lib
  download "${IPVSADM_DEBS[@]}"
  tmp="$(mktemp -d)"
  for deb in "${IPVSADM_DEBS[@]}"; do dpkg-deb -x "$OUT/debs/${deb}"_*.deb "$tmp"; done
  mkdir -p "$root/sbin" "$root/lib/x86_64-linux-gnu" "$root/lib64"
  cp "$tmp/sbin/ipvsadm" "$tmp/sbin/ipvsadm-restore" "$tmp/sbin/ipvsadm-save" "$root/sbin/"
  LD_LIBRARY_PATH="$tmp/lib/x86_64-linux-gnu:$tmp/usr/lib/x86_64-linux-gnu" ldd "$tmp/sbin/ipvsadm" |
    awk '/=>/ {print $3} /^[ \t]*\/lib64/ {print $1}' | while read -r lib; do
      [[ $lib == /lib64/* ]] && { cp -L "$lib" "$root/lib64/"; continue; }
      cp -L "$lib" "$root/lib/x86_64-linux-gnu/"
    done
  rm -rf "$tmp"
}

write_init() {
  cat >"$1/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /run /var/run /root
mount -t tmpfs tmp /tmp
for m in $(cat /etc/vm-modules); do modprobe "$m" || echo "vm: modprobe $m failed"; done
ip link set lo up
[ -f /vm/env ] && . /vm/env
set --
while IFS= read -r a; do set -- "$@" "$a"; done </vm/args
cd /vm
./test.bin "$@"
echo "PORTICO_VM_EXIT=$?"
poweroff -f
EOF
  chmod +x "$1/init"
}

build_initramfs() {
  local stamp="$OUT/base.stamp" kver root
  kver="$(cat "$OUT/kernel/.done")"
  [[ -f $OUT/base.cpio.gz && "$(cat "$stamp" 2>/dev/null)" == "$ASSETS_VERSION $kver" ]] && return 0
  download busybox-static
  root="$OUT/initramfs"
  rm -rf "$root" && mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,vm,lib/modules/"$kver"}
  dpkg-deb -x "$OUT/debs/"busybox-static_*.deb "$OUT/busybox"
  cp "$OUT/busybox/bin/busybox" "$root/bin/busybox"
  ln -sf ../bin/busybox "$root/sbin/modprobe"
  stage_modules "$root" "$kver"
  stage_ipvsadm "$root"
  write_init "$root"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/base.cpio.gz.tmp"
  mv "$OUT/base.cpio.gz.tmp" "$OUT/base.cpio.gz"
  echo "$ASSETS_VERSION $kver" >"$stamp"
  log "built $OUT/base.cpio.gz for kernel $kver"
}

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
ensure_host_tools
stage_kernel
build_initramfs
echo "$OUT"
