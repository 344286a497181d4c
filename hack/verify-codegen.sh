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

# Compare only generated files, in both trees (so added or removed ones count too).
generated() {
  (cd "$1" && { find apis registry -name 'zz_generated*' -type f; find apis/generated -type f; echo hack/api-rules-violations.list; } 2>/dev/null | sort -u)
}
status=0
for f in $( { generated "${root}"; generated "${tmp}"; } | sort -u); do
  if ! diff -Nu "${root}/${f}" "${tmp}/${f}" >"${tmp}/diff.txt" 2>&1; then
    echo "generated file ${f} is stale; run 'make generate':" >&2
    head -20 "${tmp}/diff.txt" >&2
    status=1
  fi
done
exit "${status}"
