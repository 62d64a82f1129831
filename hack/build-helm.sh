#!/usr/bin/env bash
# Builds helm from its Go module into a version-keyed cache outside the repository.
# A second run with the cache present only checks that the binary exists.
# Prints the path of the helm binary on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${HEADWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/headway}
bin_dir="$cache_root/helm-$HELM_VERSION/bin"
if [ -x "$bin_dir/helm" ]; then echo "$bin_dir/helm"; exit 0; fi

command -v go >/dev/null || { echo "build-helm: Go is required to build helm" >&2; exit 1; }
mkdir -p "$bin_dir"
start=$(date +%s)
major=${HELM_VERSION%%.*}
CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$bin_dir" \
  go install -trimpath -ldflags "-s -w" "helm.sh/helm/$major/cmd/helm@$HELM_VERSION" >&2
echo "build-helm: built helm $HELM_VERSION in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir/helm"
