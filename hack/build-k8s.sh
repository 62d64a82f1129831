#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl
# from their Go modules into a version-keyed cache outside the repository.
# A second run with the cache present only checks that the binaries exist.
# Prints the directory holding the binaries on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${HEADWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/headway}
bin_dir="$cache_root/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION/bin"
kube_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

have_all() {
  local b
  for b in etcd "${kube_cmds[@]}"; do [ -x "$bin_dir/$b" ] || return 1; done
}
if have_all; then echo "$bin_dir"; exit 0; fi

command -v go >/dev/null || { echo "build-k8s: Go is required to build the Kubernetes binaries" >&2; exit 1; }
mkdir -p "$bin_dir"
work=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
start=$(date +%s)

# etcd: a wrapper module whose main hands its arguments to etcdmain.
if [ ! -x "$bin_dir/etcd" ]; then
  mkdir -p "$work/etcd"
  cat > "$work/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work/etcd" && go mod init headway.dev/localcluster/etcd >/dev/null 2>&1 \
    && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null \
    && go mod tidy >/dev/null \
    && go build -trimpath -ldflags "-s -w" -o "$bin_dir/etcd.tmp" . \
    && mv "$bin_dir/etcd.tmp" "$bin_dir/etcd")
  echo "build-k8s: built etcd $ETCD_VERSION" >&2
fi

# Kubernetes: a wrapper module requiring k8s.io/kubernetes, with every staging
# module (replaced by ./staging/... upstream) pointed at its published v0.X.Y.
kube_gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
staging_version="v0.${KUBE_VERSION#v1.}"
mkdir -p "$work/kube"
{
  echo "module headway.dev/localcluster/kube"
  grep -E '^(go|godebug) ' "$kube_gomod"
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo "replace ("
  sed -nE 's#^[[:space:]]*(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\t\1 => \1 '"$staging_version"'#p' "$kube_gomod"
  echo ")"
} > "$work/kube/go.mod"
grep -q '=> k8s.io/api ' "$work/kube/go.mod" || { echo "build-k8s: no staging replaces found in $kube_gomod" >&2; exit 1; }

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
done
for b in "${kube_cmds[@]}"; do
  [ -x "$bin_dir/$b" ] && continue
  (cd "$work/kube" && go build -trimpath -ldflags "$ldflags" -o "$bin_dir/$b.tmp" "k8s.io/kubernetes/cmd/$b" \
    && mv "$bin_dir/$b.tmp" "$bin_dir/$b")
  echo "build-k8s: built $b $KUBE_VERSION" >&2
done
echo "build-k8s: done in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir"
