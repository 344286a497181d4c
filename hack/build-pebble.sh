#!/usr/bin/env bash
# Builds pebble, the letsencrypt test ACME server, from its Go module into
# _output/bin/pebble (no prebuilt downloads), for the ACME test (test/peers,
# build tag dns) and `make up`.
#
# Usage: hack/build-pebble.sh
# Prints two lines on stdout:
#   1. the pebble binary's path;
#   2. the directory of pebble's test certificates, holding
#      localhost/cert.pem, localhost/key.pem (its HTTPS serving pair) and
#      pebble.minica.pem (the CA that signed them, to trust as the ACME
#      server's root).
# Cached: builds only when the binary or its version stamp
# (_output/bin/.pebble-version) is missing or names another version.
# PEBBLE_VERSION overrides the version (default v2.10.1).
set -euo pipefail

PEBBLE_VERSION="${PEBBLE_VERSION:-v2.10.1}"
module="github.com/letsencrypt/pebble/v2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${root}/_output/bin"
stamp="${bin}/.pebble-version"

log() { echo "hack/build-pebble.sh: $*" >&2; }

# Outside the project's module, so its go.mod and go.sum are never touched.
scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
cd "${scratch}"
export GOFLAGS=-mod=mod

if [[ ! -x "${bin}/pebble" || "$(cat "${stamp}" 2>/dev/null)" != "${PEBBLE_VERSION}" ]]; then
  log "building pebble ${PEBBLE_VERSION} from source"
  mkdir -p "${bin}"
  GOBIN="${bin}" CGO_ENABLED=0 go install "${module}/cmd/pebble@${PEBBLE_VERSION}" >&2
  echo "${PEBBLE_VERSION}" >"${stamp}"
fi

dir="$(go mod download -json "${module}@${PEBBLE_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
certs="${dir}/test/certs"
for f in localhost/cert.pem localhost/key.pem pebble.minica.pem; do
  [[ -f "${certs}/${f}" ]] || { log "pebble's test certificate ${certs}/${f} is missing"; exit 2; }
done
echo "${bin}/pebble"
echo "${certs}"
