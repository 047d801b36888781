#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs thaw on real work.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
echo "main job: not wired yet"
