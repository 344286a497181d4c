#!/usr/bin/env bash
# Makes BIRD 2 (bird, birdc) available for the lb-agent peer tier (test/peers).
# Installs Debian's bird2 package when missing; only the binaries are used (the
# tests run their own `bird -c CONF -s SOCK`), so the system service is stopped and
# disabled if the package starts one. Exits 2 with a message when it cannot.
set -euo pipefail

log() { echo "hack/install-bird.sh: $*" >&2; }

if command -v bird >/dev/null && command -v birdc >/dev/null && command -v ip >/dev/null; then
  exit 0
fi
command -v apt-get >/dev/null || { log "BIRD 2 is missing and apt-get is not available: install bird2"; exit 2; }
[[ $(id -u) -eq 0 ]] || { log "BIRD 2 is missing and this is not root: apt-get install -y bird2 iproute2"; exit 2; }
pkgs=(bird2 iproute2)
log "installing ${pkgs[*]}"
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >&2; }
if ! install; then
  apt-get update >&2 || true
  install || { log "cannot install ${pkgs[*]}"; exit 2; }
fi
# No init system runs in containers; where one does, keep the packaged daemon off.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl disable --now bird.service >/dev/null 2>&1 || true
fi
command -v bird >/dev/null && command -v birdc >/dev/null || { log "bird2 installed but bird/birdc not found"; exit 2; }
