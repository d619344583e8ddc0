#!/bin/sh
# The main job on the embedded default: installs what is missing, builds, simulates the default
# Perturb-seq dataset (with its context graph and causal truth) and summarises it.
# Output goes to ${CW_DEMO_OUT:-demo-out}/.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
make -j"$(nproc)" all >/dev/null
out="${CW_DEMO_OUT:-demo-out}"
mkdir -p "$out"
./build/causeway simulate --out "$out/sim.h5ad" --seed 1
./build/causeway info "$out/sim.h5ad"
