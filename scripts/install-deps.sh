#!/bin/sh
# Installs the Debian packages causeway needs (STYLE.md), only those missing. Idempotent and
# quick when nothing is missing. Optional packages (anndata, h5py, graphviz) serve tests that
# skip without them; CW_DEPS_MINIMAL=1 leaves them out.
set -eu
required="build-essential make pkg-config libhdf5-dev liblzf-dev libjansson-dev \
libopenblas-openmp-dev liblapacke-dev libcmocka-dev libopenmpi-dev openmpi-bin"
optional="python3 python3-numpy python3-h5py python3-scipy python3-anndata graphviz"
want="$required"
[ "${CW_DEPS_MINIMAL:-0}" = 1 ] || want="$want $optional"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
