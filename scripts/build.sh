#!/usr/bin/env bash
# Configures and builds thaw into build/ (or $1), Release with debug info, Ninja; as many
# compiles at once as there are CPUs, or $THAW_BUILD_JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
# usage: build.sh [DIR [--target T]... [CMAKE_ARGS...]]
dir=${1:-build}; shift || true
targets=(); args=()
while [ $# -gt 0 ]; do
  case "$1" in --target) targets+=(--target "$2"); shift 2;; *) args+=("$1"); shift;; esac
done
cmake -S . -B "$dir" -G Ninja -DTHAW_WERROR=ON "${args[@]}" >/dev/null
cmake --build "$dir" --parallel "${THAW_BUILD_JOBS:-$(nproc)}" "${targets[@]}"
