#!/usr/bin/env bash
# Fails when generated code is stale: regenerates into a copy of the tree and diffs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

# Copy the tracked and untracked-but-not-ignored files, then regenerate there.
cd "${root}"
git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents {} "${tmp}/" 2>/dev/null || \
  (git ls-files -co --exclude-standard | while read -r f; do [[ -e "$f" ]] && cp --parents "$f" "${tmp}/"; done)
mkdir -p "${tmp}/_output"
[[ -d "${root}/_output/tools" ]] && cp -r "${root}/_output/tools" "${tmp}/_output/"
(cd "${tmp}" && hack/update-codegen.sh >/dev/null)

status=0
for dir in apis registry/traffic/istioschema hack/api-rules-violations.list; do
  [[ -e "${root}/${dir}" ]] || continue
  if ! diff -Nru "${root}/${dir}" "${tmp}/${dir}" >"${tmp}/diff.txt"; then
    echo "generated files under ${dir} are stale; run 'make generate':" >&2
    head -50 "${tmp}/diff.txt" >&2
    status=1
  fi
done
exit "${status}"
