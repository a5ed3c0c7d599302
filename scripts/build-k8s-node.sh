#!/usr/bin/env bash
# Build a REAL Kubernetes 1.20.2 node for the `realnode` test tier (tests/realnode/):
# kubelet (with its built-in dockershim), kube-proxy and pause, from Debian's `kubernetes`
# source package (the recipe of scripts/build-k8s-control-plane.sh), a Debian base image
# standing in for python:3.11-slim (no registry needed), and the product image built from
# operator/Dockerfile unchanged.
#
#   build-k8s-node.sh          apt packages (docker.io, iptables, ...); kubelet, kube-proxy,
#                              pause; the base root filesystem. Cached: the last stdout line
#                              is the bin dir ${KINETIC_K8S_CACHE:-~/.cache/kinetic/k8s}/
#                              node-<hash of the recipe>/bin (base.tar is in it too).
#   build-k8s-node.sh images   with a dockerd running (the tests start one): import the pause
#                              image, busybox:local and the base image, then
#                              `docker build -f operator/Dockerfile -t kinetic:dev .`
#                              (Docker's layer cache: seconds when nothing changed).
#
# Needs root, Debian bookworm, the Debian archive and PyPI (the image's pip install).
# Findings behind the recipe: ../shared/real-node.md. On 2 cores, cold: ~7 min for the
# binaries (after the control plane: Go's build cache is shared), ~2 min for the base
# root filesystem, ~1.5 min for the image.
#
# Two patches beyond the control plane's recipe, both for the kubelet:
#  - oom_score_adj: where root lacks CAP_SYS_RESOURCE (sandboxed VMs, some CI runners) no
#    process may set a negative oom_score_adj, and the pod sandbox's -998 and Guaranteed
#    containers' -997 make runc fail ("can't get final child's PID from pipe: EOF"). On a
#    test node that priority does not matter: both become 0 (the kubelet runs with
#    --oom-score-adj=0). BestEffort (1000) and Burstable (2..999) are unchanged.
#  - GOFLAGS=-tags=providerless: no in-tree cloud providers (half the build time and size).
set -euo pipefail
exec 3>&1 1>&2

HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
REPO=$(dirname "$HERE")
CACHE_ROOT=${KINETIC_K8S_CACHE:-$HOME/.cache/kinetic/k8s}
NODE_BINARIES=(kubelet kube-proxy pause)
# conntrack: kube-proxy; socat: the kubelet's dockershim port-forward (it runs socat in the
# pod's network namespace through nsenter); acl: the file store's documented setup.
APT_PACKAGES=(docker.io containerd runc iptables conntrack socat mmdebstrap busybox-static
    gcc libc6-dev acl)
DOCKER=${DOCKER:-/usr/bin/docker} # Debian's client, matching its dockerd
PYTHON_VERSION=3.11               # operator/Dockerfile's default; bookworm's python3 too
PAUSE_IMAGE=k8s.gcr.io/pause:3.2  # the tag kubelet 1.20's dockershim asks for
IMAGE=${KINETIC_REALNODE_IMAGE:-kinetic:dev}

log() { printf '[build-k8s-node] %s\n' "$*"; }
die() {
    log "ERROR: $*"
    exit 1
}
[[ $(id -u) -eq 0 ]] || die "needs root (apt, dockerd, the kubelet)"

apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    log "apt-get install ${missing[*]}"
    apt-get update -q
    # No systemd in CI containers/VMs we rely on: the packages' services are not started
    # here either way; the tests start dockerd themselves.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${missing[@]}"
}

# --- the base root filesystem: Debian bookworm + python3 + a venv first on PATH ----------
# So that operator/Dockerfile's `FROM python:3.11-slim` builds unchanged without Docker
# Hub: `python` and `pip` exist, and pip is not refused by PEP 668 (the venv). The hook
# copies the host's extra CAs (TLS-intercepting egress proxies) so pip and apt in
# `docker build` trust them; it is part of the cache key, like those CAs.
BASE_HOOK='set -e
root="$1"
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
fi
chroot "$root" python3 -m venv /opt/venv'
base_hash() {
    { echo "$BASE_HOOK"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; } \
        | sha256sum | cut -c1-16
}
base_tar() { echo "$CACHE_ROOT/node-base/bookworm-python-$(base_hash).tar"; }

build_base() {
    local tar tmp start
    tar=$(base_tar)
    [[ -f $tar ]] && return 0
    mkdir -p "$(dirname "$tar")"
    tmp=$(mktemp -d)
    printf '%s\n' "$BASE_HOOK" >"$tmp/hook.sh"
    start=$(date +%s)
    log "mmdebstrap bookworm + python3 (~2 min)"
    rm -f "$tar.tmp"
    mmdebstrap --variant=minbase --format=tar --include=python3,python3-venv,ca-certificates \
        --customize-hook="sh $tmp/hook.sh \"\$1\"" \
        bookworm "$tar.tmp" http://deb.debian.org/debian
    mv "$tar.tmp" "$tar"
    rm -rf "$tmp"
    log "base root filesystem in $(($(date +%s) - start)) s: $tar"
}

# --- kubelet, kube-proxy, pause ---------------------------------------------------------
binaries_present() {
    local b
    for b in "${NODE_BINARIES[@]}"; do [[ -x $BIN_DIR/$b ]] || return 1; done
}

build_binaries() {
    # The control plane first: it adds the deb-src entry and the Go toolchain, and builds
    # the packages the kubelet shares into Go's build cache.
    bash "$HERE/build-k8s-control-plane.sh" >/dev/null
    mkdir -p "$CACHE_DIR"
    # The control-plane script's lock and source tree: the tree's path is part of Go's
    # cache keys (-trimpath), so the same path is what lets the kubelet reuse its packages.
    exec 9>"$CACHE_ROOT/.lock"
    flock 9
    binaries_present && return 0
    local work=$CACHE_ROOT/work src=$CACHE_ROOT/work/kubernetes start f p
    rm -rf "$work"
    mkdir -p "$work/dl" "$src"
    log "downloading the kubernetes source package"
    (cd "$work/dl" && apt-get source --download-only -q kubernetes)
    tar -xf "$work"/dl/kubernetes_*.orig.tar.* -C "$src" --strip-components=1
    tar -xf "$work"/dl/kubernetes_*.debian.tar.* -C "$src"
    while read -r p _; do
        [[ -z $p || $p == \#* ]] && continue
        patch -d "$src" -p1 --forward --batch -s <"$src/debian/patches/$p"
    done <"$src/debian/patches/series"
    # As the control-plane script: reflect2 1.0.1 crashes under Go >= 1.18 ...
    rm -rf "$src/vendor/github.com/modern-go/reflect2"
    cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$src/vendor/github.com/modern-go/"
    rm -f "$src"/vendor/github.com/modern-go/reflect2/go.{mod,sum}
    # ... and kube-openapi's "" is null (kubernetes#99804): identical sources, shared cache.
    for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go \
        vendor/github.com/go-openapi/validate/type.go; do
        [[ -f $src/$f ]] || continue
        sed -i 's/if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {/if data == nil || reflect.ValueOf(data).Kind() == reflect.Invalid {/' "$src/$f"
    done
    # The node's own patch: oom_score_adj (see the header).
    sed -i 's/defaultSandboxOOMAdj int = -998/defaultSandboxOOMAdj int = 0/' \
        "$src/pkg/kubelet/dockershim/docker_sandbox.go"
    sed -i 's/guaranteedOOMScoreAdj int = -997/guaranteedOOMScoreAdj int = 0/' \
        "$src/pkg/kubelet/qos/policy.go"
    grep -q 'defaultSandboxOOMAdj int = 0' "$src/pkg/kubelet/dockershim/docker_sandbox.go" \
        && grep -q 'guaranteedOOMScoreAdj int = 0' "$src/pkg/kubelet/qos/policy.go" \
        || die "could not patch the kubelet's oom_score_adj constants"
    # Not the control plane's tree any more: its script must extract afresh.
    echo "node-$RECIPE_HASH" >"$work/.source-ready"
    mkdir -p "$src/.go/src/k8s.io" "$CACHE_ROOT/go-build-cache" "$src/_output/local/go"
    ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes"
    ln -sfn "$CACHE_ROOT/go-build-cache" "$src/_output/local/go/cache"
    log "building cmd/kubelet cmd/kube-proxy (~7 min on 2 cores after the control plane)"
    start=$(date +%s)
    (
        cd "$src/.go/src/k8s.io/kubernetes"
        export PATH=/usr/lib/go-1.19/bin:$PATH GOPATH=$src/.go GO111MODULE=off \
            GOFLAGS=-tags=providerless CGO_ENABLED=0 GOTOOLCHAIN=local
        make WHAT="cmd/kubelet cmd/kube-proxy"
    )
    log "build took $(($(date +%s) - start)) s"
    local tmp_bin=$CACHE_DIR/bin.tmp
    rm -rf "$tmp_bin"
    mkdir -p "$tmp_bin"
    cp "$src/_output/bin/kubelet" "$src/_output/bin/kube-proxy" "$tmp_bin/"
    # build/pause/linux/pause.c, static, as build/pause/Makefile does
    gcc -Os -Wall -Werror -static -DVERSION=v3.2-debian -o "$tmp_bin/pause" \
        "$src/build/pause/linux/pause.c"
    rm -rf "$BIN_DIR"
    mv "$tmp_bin" "$BIN_DIR"
    [[ ${KINETIC_K8S_KEEP_WORK:-0} == 1 ]] || rm -rf "$work"
}

cmd_build() {
    apt_install "${APT_PACKAGES[@]}"
    # The base first: it needs no lock, so it overlaps a control-plane build in progress.
    build_base
    if ! binaries_present; then build_binaries; fi
    ln -sfn "$(base_tar)" "$BIN_DIR/base.tar"
    echo "$BIN_DIR" >&3
}

# --- images (no registry) ----------------------------------------------------------------
image_label() { "$DOCKER" image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }

cmd_images() {
    "$DOCKER" info >/dev/null 2>&1 || die "no dockerd reachable (the tests start one)"
    binaries_present && [[ -f $BIN_DIR/base.tar ]] || die "run $0 (without arguments) first"
    local tmp start hash base=python:$PYTHON_VERSION-slim
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    if [[ $(image_label "$PAUSE_IMAGE" kinetic.realnode.pause) != "$RECIPE_HASH" ]]; then
        mkdir "$tmp/pause" && cp "$BIN_DIR/pause" "$tmp/pause/pause"
        tar -C "$tmp/pause" -c . | "$DOCKER" import --change 'ENTRYPOINT ["/pause"]' \
            --change "LABEL kinetic.realnode.pause=$RECIPE_HASH" - "$PAUSE_IMAGE" >/dev/null
        log "imported $PAUSE_IMAGE"
    fi
    # busybox:local: Debian's static busybox, for plain pods (clients of a Service...)
    if ! "$DOCKER" image inspect busybox:local >/dev/null 2>&1; then
        mkdir -p "$tmp/bb/bin" && cp /bin/busybox "$tmp/bb/bin/"
        local a
        for a in sh echo sleep cat ls env wget nc id hostname; do ln -s busybox "$tmp/bb/bin/$a"; done
        tar -C "$tmp/bb" -c . | "$DOCKER" import --change 'ENV PATH=/bin' --change 'CMD ["sh"]' \
            - busybox:local >/dev/null
        log "imported busybox:local"
    fi
    # The python:3.11-slim stand-in; a real one (no label: pulled from Docker Hub) is kept.
    hash=$(base_hash)
    if ! "$DOCKER" image inspect "$base" >/dev/null 2>&1 \
        || { [[ -n $(image_label "$base" kinetic.realnode.base) ]] \
            && [[ $(image_label "$base" kinetic.realnode.base) != "$hash" ]]; }; then
        "$DOCKER" import \
            --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' --change "LABEL kinetic.realnode.base=$hash" \
            --change 'CMD ["python3"]' "$BIN_DIR/base.tar" "$base" >/dev/null
        log "imported $base (Debian bookworm)"
    fi
    # DOCKER_BUILDKIT=0: the classic builder needs no buildx plugin.
    start=$(date +%s)
    log "docker build -f operator/Dockerfile -t $IMAGE ."
    DOCKER_BUILDKIT=0 "$DOCKER" build -q -f "$REPO/operator/Dockerfile" -t "$IMAGE" "$REPO" >/dev/null
    log "$IMAGE built in $(($(date +%s) - start)) s"
    "$DOCKER" run --rm "$IMAGE" python -c "import kinetic, kopf, kubernetes" \
        || die "$IMAGE cannot import kinetic, kopf, kubernetes"
    echo "$IMAGE" >&3
}

# The binaries' cache is keyed by their recipe: the text of build_binaries as bash prints
# it (comments dropped), so editing the image steps or a comment rebuilds nothing.
RECIPE_HASH=$(declare -f build_binaries | sha256sum | cut -c1-16)
CACHE_DIR=$CACHE_ROOT/node-$RECIPE_HASH
BIN_DIR=$CACHE_DIR/bin

case ${1:-build} in
build) cmd_build ;;
images) cmd_images ;;
*)
    sed -n '2,30p' "$0"
    exit 2
    ;;
esac
