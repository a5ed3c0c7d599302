#!/usr/bin/env bash
# Build a real Kubernetes 1.20.2 control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) from Debian's `kubernetes` source package, for the test suite.
#
# Recipe: ../shared/k8s-control-plane.md (Debian bookworm: golang-1.19-go, etcd-server).
# The binaries are cached in
#     ${KINETIC_K8S_CACHE:-$HOME/.cache/kinetic/k8s}/<hash of this script>/bin/
# so editing the recipe rebuilds, and running it again with the binaries present does
# nothing but print that directory. The last line on stdout is always the bin directory;
# everything else (apt, make) goes to stderr.
#
# Needs: Debian/apt, root (or passwordless sudo) for the apt steps, network access to the
# Debian archive. About 5 minutes on 2 cores from scratch; Go's build cache is kept under
# the cache root (shared across recipe hashes), so a rebuild after a recipe change takes
# about a minute and a half.
set -euo pipefail

# Everything but the final path goes to stderr: callers read the bin dir from stdout.
exec 3>&1 1>&2

K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
APT_PACKAGES=(golang-1.19-go etcd-server golang-github-modern-go-reflect2-dev rsync openssl patch)
GO_ROOT=/usr/lib/go-1.19
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2

script_path="$(readlink -f "${BASH_SOURCE[0]}")"
recipe_hash="$(sha256sum "$script_path" | cut -c1-16)"
cache_root="${KINETIC_K8S_CACHE:-$HOME/.cache/kinetic/k8s}"
cache_dir="$cache_root/$recipe_hash"
bin_dir="$cache_dir/bin"

log() { printf '[build-k8s] %s\n' "$*"; }

binaries_present() {
    local b
    for b in "${K8S_BINARIES[@]}"; do
        [[ -x "$bin_dir/$b" ]] || return 1
    done
}

# etcd is Debian's etcd-server, linked into the bin dir so callers find one directory.
etcd_linked() { [[ -x "$bin_dir/etcd" ]]; }

done_print() {
    echo "$bin_dir" >&3
    exit 0
}

# Fast path: nothing to do (no lock, no apt, no network).
if binaries_present && etcd_linked; then
    done_print
fi

mkdir -p "$cache_dir"
# Two test sessions starting at once must not build into the same tree (one tree for all
# recipe versions, see below).
exec 9>"$cache_root/.lock"
flock 9

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    SUDO=(__no_root__)
fi

as_root() {
    if [[ ${SUDO[0]:-} == __no_root__ ]]; then
        log "need root (or passwordless sudo) for: $*"
        exit 2
    fi
    "${SUDO[@]}" "$@"
}

command -v apt-get >/dev/null || { log "apt-get not found: needs a Debian-based system"; exit 2; }

link_etcd() {
    ln -sfn "$(command -v etcd || echo /usr/bin/etcd)" "$1/etcd"
}
if binaries_present; then
    # Only etcd is missing (e.g. a restored cache on a fresh machine): no build needed.
    if ! command -v etcd >/dev/null; then
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server
    fi
    link_etcd "$bin_dir"
    done_print
fi

# --- 1. deb-src entry --------------------------------------------------------------------
# Checked by result, not by grepping sources files: a deb-src line for another repository
# or an index never fetched does not help.
kubernetes_source_known() {
    apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes$'
}
apt_updated=0
if ! kubernetes_source_known; then
    src_list=/etc/apt/sources.list.d/debian-src.sources
    if [[ ! -f $src_list ]]; then
        # shellcheck source=/dev/null
        codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
        log "adding a deb-src entry for $codename ($src_list)"
        as_root tee "$src_list" >/dev/null <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    fi
    as_root apt-get update -q
    apt_updated=1
    kubernetes_source_known || { log "no kubernetes source package in apt"; exit 2; }
fi

# --- 2. build dependencies ---------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    ((apt_updated)) || as_root apt-get update -q
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
fi

# --- 3. source, Debian patches -----------------------------------------------------------
# The tree lives at the same path whatever the recipe hash: Go's build cache keys include
# the source directory, so a stable path is what lets a rebuild reuse compiled packages.
work="$cache_root/work"
src="$work/kubernetes"
if [[ "$(cat "$work/.source-ready" 2>/dev/null)" != "$recipe_hash" ]]; then
    rm -rf "$work"
    mkdir -p "$work/dl"
    log "downloading the kubernetes source package"
    # apt-get source downloads into the current directory; run it as the calling user
    # so the cache stays owned by them.
    (cd "$work/dl" && apt-get source --download-only -q kubernetes)
    origs=("$work"/dl/kubernetes_*.orig.tar.*)
    debian_tars=("$work"/dl/kubernetes_*.debian.tar.*)
    orig=${origs[0]} debian_tar=${debian_tars[0]}
    mkdir -p "$src"
    tar -xf "$orig" -C "$src" --strip-components=1
    tar -xf "$debian_tar" -C "$src"
    if [[ -f "$src/debian/patches/series" ]]; then
        while read -r patch_name _; do
            [[ -z "$patch_name" || "$patch_name" == \#* ]] && continue
            log "patch $patch_name"
            patch -d "$src" -p1 --forward --batch -s <"$src/debian/patches/$patch_name"
        done <"$src/debian/patches/series"
    fi
    # --- 4. reflect2 1.0.1 crashes under Go >= 1.18 (fatal error in mapiterinit) ---------
    rm -rf "$src/vendor/github.com/modern-go/reflect2"
    cp -r "$REFLECT2_SRC" "$src/vendor/github.com/modern-go/reflect2"
    rm -f "$src/vendor/github.com/modern-go/reflect2/go.mod" \
        "$src/vendor/github.com/modern-go/reflect2/go.sum"
    # --- 4b. 1.20 built with Go >= 1.16 rejects "" in custom resources ("must be of type
    # string: null", kubernetes#99804). Upstream's fix (kube-openapi#230): only nil is null.
    for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go \
        vendor/github.com/go-openapi/validate/type.go; do
        [[ -f "$src/$f" ]] || continue
        # Keep a use of "reflect" so the file's import stays valid; Invalid means nil.
        sed -i 's/if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {/if data == nil || reflect.ValueOf(data).Kind() == reflect.Invalid {/' "$src/$f"
        grep -q 'reflect.ValueOf(data).Kind() == reflect.Invalid' "$src/$f" \
            || { log "could not patch $f"; exit 1; }
    done
    echo "$recipe_hash" >"$work/.source-ready"
fi

# --- 5. GOPATH-mode build, as debian/rules does ------------------------------------------
mkdir -p "$src/.go/src/k8s.io"
ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes"
# hack/lib/golang.sh forces GOCACHE=_output/local/go/cache: point that at a cache that
# outlives this tree, so rebuilds reuse compiled packages.
mkdir -p "$cache_root/go-build-cache" "$src/_output/local/go"
ln -sfn "$cache_root/go-build-cache" "$src/_output/local/go/cache"
whats=()
for b in "${K8S_BINARIES[@]}"; do whats+=("cmd/$b"); done
log "building ${whats[*]} (~5 min from a cold Go cache, ~1 min warm)"
start=$(date +%s)
# The symlinked GOPATH path is where the build must run from, so that import paths
# resolve to k8s.io/kubernetes.
(
    cd "$src/.go/src/k8s.io/kubernetes"
    export PATH="$GO_ROOT/bin:$PATH"
    export GOPATH="$src/.go"
    export GO111MODULE=off
    export GOFLAGS=
    export CGO_ENABLED=0
    export GOTOOLCHAIN=local
    make WHAT="${whats[*]}"
)
log "build took $(($(date +%s) - start)) s"

# --- install into the cache's bin dir (atomically, so a half copy is never "present") ---
tmp_bin="$cache_dir/bin.tmp"
rm -rf "$tmp_bin"
mkdir -p "$tmp_bin"
for b in "${K8S_BINARIES[@]}"; do
    cp "$src/_output/bin/$b" "$tmp_bin/$b"
done
link_etcd "$tmp_bin"
rm -rf "$bin_dir"
mv "$tmp_bin" "$bin_dir"
# The source tree is big (~1 GB); the Go build cache (kept) is what makes a rebuild fast.
# KINETIC_K8S_KEEP_WORK=1 keeps the tree for debugging.
if [[ "${KINETIC_K8S_KEEP_WORK:-0}" != 1 ]]; then
    rm -rf "$work"
fi
done_print
