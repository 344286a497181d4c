#!/usr/bin/env bash
# Makes BIND 9 (named, named-checkconf) available for the DNS peer tier
# (test/peers/dns, build tag dns). Installs Debian's bind9 and bind9-utils when
# named is missing; only the binaries are used (the tests run their own
# `named -g -c CONF` on 127.0.0.1), so the packaged service is stopped and
# disabled if the package starts one. Exits 2 with a message when it cannot.
set -euo pipefail

log() { echo "hack/install-bind.sh: $*" >&2; }

# Debian installs named in /usr/sbin, which is not on every PATH.
have() { command -v "$1" >/dev/null || [[ -x /usr/sbin/$1 ]]; }

if have named && have named-checkconf; then
  exit 0
fi
command -v apt-get >/dev/null || { log "BIND 9 is missing and apt-get is not available: install bind9 and bind9-utils"; exit 2; }
[[ $(id -u) -eq 0 ]] || { log "BIND 9 is missing and this is not root: apt-get install -y bind9 bind9-utils"; exit 2; }
pkgs=(bind9 bind9-utils)
log "installing ${pkgs[*]}"
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >&2; }
if ! install; then
  apt-get update >&2 || true
  install || { log "cannot install ${pkgs[*]}"; exit 2; }
fi
# No init system runs in containers; where one does, keep the packaged daemon off.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl disable --now named.service >/dev/null 2>&1 || true
fi
have named && have named-checkconf || { log "bind9 installed but named/named-checkconf not found"; exit 2; }
