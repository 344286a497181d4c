#!/usr/bin/env bash
# Builds kubefed's controller-manager from the sigs.k8s.io/kubefed module this repository
# requires (go.mod), into _output/kubefed/<version>/controller-manager. kubefed cannot be
# built inside this module (its controller-runtime and client-go are years older than
# ours), so the module's source is copied to _output/kubefed/<version>/src and built there
# as its own module, with its own go.sum (the copy is removed afterwards). Cached: does
# nothing when the binary is there. Prints the binary's path.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
KUBEFED_VERSION="${KUBEFED_VERSION:-$(go list -m -f '{{.Version}}' sigs.k8s.io/kubefed)}"
out="${root}/_output/kubefed/${KUBEFED_VERSION}"
bin="${out}/controller-manager"

if [[ -x "${bin}" ]]; then
  echo "${bin}"
  exit 0
fi

moddir="$(go mod download -json "sigs.k8s.io/kubefed@${KUBEFED_VERSION}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
if [[ -z "${moddir}" || ! -f "${moddir}/go.mod" ]]; then
  echo "sigs.k8s.io/kubefed@${KUBEFED_VERSION}: not in the module cache after go mod download" >&2
  exit 1
fi

# A fresh copy each time: the module cache is read-only, and a half-finished copy from
# an interrupted run must not be reused.
src="${out}/src"
rm -rf "${src}"
mkdir -p "${out}"
cp -r "${moddir}" "${src}"
chmod -R u+w "${src}"

echo "building kubefed controller-manager ${KUBEFED_VERSION} from source (several minutes, cached afterwards)" >&2
cd "${src}"
# GOFLAGS from the caller would apply to kubefed's module, not ours: build it exactly as
# its go.mod and go.sum pin it.
GOFLAGS= CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X sigs.k8s.io/kubefed/pkg/version.version=${KUBEFED_VERSION}" \
  -o "${bin}.tmp" ./cmd/controller-manager
mv "${bin}.tmp" "${bin}"
cd "${root}"
rm -rf "${src}"
echo "${bin}"
