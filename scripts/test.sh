#!/bin/sh
# The whole test suite: installs missing Debian packages, builds, runs every test.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
make -j"$(nproc)" tests
make check
