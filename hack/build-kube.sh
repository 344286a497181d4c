#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from source (no prebuilt downloads) into
# _output/kube/<version>/bin. Cached: does nothing when the binaries are there.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.1}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${root}/_output/kube/${KUBE_VERSION}"
bin="${out}/bin"

if [[ -x "${bin}/kube-apiserver" && -x "${bin}/kube-controller-manager" && -x "${bin}/kubectl" && -x "${bin}/etcd" ]]; then
  echo "${bin}"
  exit 0
fi
mkdir -p "${bin}"

build_kube() {
  local mod="${out}/src/kubernetes"
  mkdir -p "${mod}"
  cd "${mod}"
  [[ -f go.mod ]] || go mod init portico.local/kube-build >/dev/null 2>&1
  # k8s.io/kubernetes replaces its staging modules with ./staging/...; mirror each
  # replace with the published module of the matching v0 version.
  local gomod staging_version
  gomod="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  staging_version="v0.${KUBE_VERSION#v1.}"
  go mod edit -require="k8s.io/kubernetes@${KUBE_VERSION}"
  grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "${gomod}" | awk '{print $1}' | while read -r m; do
    go mod edit -replace="${m}=${m}@${staging_version}"
  done
  go get "k8s.io/kubernetes/cmd/kube-apiserver@${KUBE_VERSION}" "k8s.io/kubernetes/cmd/kube-controller-manager@${KUBE_VERSION}" "k8s.io/kubernetes/cmd/kubectl@${KUBE_VERSION}" >&2
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "${KUBE_VERSION}" | cut -d. -f2) -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}"
  echo "building kube-apiserver ${KUBE_VERSION} from source (several minutes, cached afterwards)" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${bin}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  echo "building kube-controller-manager ${KUBE_VERSION} from source" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${bin}/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
  echo "building kubectl ${KUBE_VERSION} from source" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${bin}/kubectl" k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  local mod="${out}/src/etcd"
  mkdir -p "${mod}"
  cd "${mod}"
  [[ -f go.mod ]] || go mod init portico.local/etcd-build >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2
  echo "building etcd ${ETCD_VERSION} from source" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${bin}/etcd" go.etcd.io/etcd/server/v3
}

[[ -x "${bin}/etcd" ]] || (build_etcd)
[[ -x "${bin}/kube-apiserver" && -x "${bin}/kube-controller-manager" && -x "${bin}/kubectl" ]] || (build_kube)
echo "${bin}"
