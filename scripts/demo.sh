#!/bin/sh
# The main job on the embedded default: installs what is missing, builds, simulates the default
# Perturb-seq dataset (with its context graph and causal truth), summarises it, trains CMVAE on
# it (100 epochs, random split, seed 1), evaluates it beside the baselines and writes the
# learned DAG.
# Output goes to ${CW_DEMO_OUT:-demo-out}/.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
make -j"$(nproc)" all >/dev/null
out="${CW_DEMO_OUT:-demo-out}"
mkdir -p "$out"
cw=./build/causeway
$cw simulate --out "$out/sim.h5ad" --seed 1
$cw info "$out/sim.h5ad"
rm -rf "$out/run"
$cw train "$out/sim.h5ad" --model cmvae --out "$out/run" --epochs 100 --split random --seed 1
$cw evaluate "$out/run"
$cw dag "$out/run"
