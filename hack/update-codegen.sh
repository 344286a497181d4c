#!/usr/bin/env bash
# Regenerates every generated file: deepcopy, conversion, defaulters, OpenAPI,
# clientset, listers, informers, apply configurations (k8s.io/code-generator, the
# version pinned in go.mod) and the spec schemas taken from the CRDs of istio.io/api
# and sigs.k8s.io/gateway-api.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
module="github.com/portico-dev/portico"
boilerplate="${root}/hack/boilerplate.go.txt"

# The generators are installed from the module versions go.mod pins, into _output.
export GOBIN="${root}/_output/tools"
mkdir -p "${GOBIN}"
# A fresh module cache has no copy of code-generator yet (nothing imports it).
go mod download k8s.io/code-generator
CODEGEN_PKG="$(go list -m -f '{{.Dir}}' k8s.io/code-generator)"
# shellcheck source=/dev/null
source "${CODEGEN_PKG}/kube_codegen.sh"

kube::codegen::gen_helpers --boilerplate "${boilerplate}" "${root}/apis"

report="${root}/hack/api-rules-violations.list"
kube::codegen::gen_openapi \
  --output-dir "${root}/apis/generated/openapi" \
  --output-pkg "${module}/apis/generated/openapi" \
  --report-filename "${report}" \
  --output-model-name-file zz_generated.model_name.go \
  --update-report \
  --boilerplate "${boilerplate}" \
  "${root}/apis"

# The apply configurations embed the API's OpenAPI schema, so that server-side
# apply works in clients and in the fake clientsets unit tests use.
schema="$(mktemp)"
trap 'rm -f "${schema}"' EXIT
go run ./hack/models-schema > "${schema}"

kube::codegen::gen_client \
  --with-watch \
  --with-applyconfig \
  --applyconfig-openapi-schema "${schema}" \
  --output-dir "${root}/apis/generated" \
  --output-pkg "${module}/apis/generated" \
  --boilerplate "${boilerplate}" \
  --plural-exceptions "VIPPool:VIPPools,DNSProvider:DNSProviders" \
  "${root}/apis"

# The spec schemas of the embedded kinds, from the CRDs of the modules go.mod pins.
go run ./hack/gen-crd-schemas -source istio -out registry/traffic/istioschema/zz_generated.schemas.go
go run ./hack/gen-crd-schemas -source gateway-api -out registry/traffic/gatewayapischema/zz_generated.schemas.go
