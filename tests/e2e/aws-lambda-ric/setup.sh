#!/usr/bin/env bash
# Prepares the official Node.js runtime interface client, aws-lambda-ric 3.3.0 from npm, for the
# native conformance test (tests/native/runtime_api/aws_lambda_ric_test.cpp). Idempotent: a
# finished build is cached and reused.
#
# npm does not run the package's install scripts by default, and the prebuilt addon it ships
# crashes here, so this runs them itself: scripts/preinstall.sh builds the bundled curl and
# aws-lambda-cpp (autotools, cmake), scripts/postinstall.sh the native addon against the system
# node headers (npm_config_nodedir=/usr). Offline apart from the npm registry.
# Measured on the 2-core dev machine (idle): npm install 6.5 min with a cold npm cache (22 s
# warm), preinstall 4 min, postinstall 20 s; under a load of 12 the whole took 33 min.
#
# Cache: $THAW_RIC_DIR, else ${XDG_CACHE_HOME:-~/.cache}/thaw/aws-lambda-ric-3.3.0
set -euo pipefail
version=3.3.0
dir=${THAW_RIC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/thaw/aws-lambda-ric-$version}
pkg=$dir/node_modules/aws-lambda-ric

if [ -f "$dir/.built" ] && [ -f "$pkg/dist/rapid-client.node" ]; then
  echo "aws-lambda-ric $version: ready in $pkg"
  exit 0
fi

missing=()
for tool in node npm cmake make g++ autoconf automake libtoolize; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "aws-lambda-ric setup: missing ${missing[*]} (run scripts/install-deps.sh)" >&2
  exit 1
fi

start=$(date +%s)
mkdir -p "$dir"
cd "$dir"
rm -f .built
if [ ! -f addon.built ]; then
  # Always from a fresh copy: postinstall.sh deletes the sources it built from.
  rm -rf "$pkg"
  [ -f package.json ] || echo '{"name":"thaw-aws-lambda-ric","private":true}' >package.json
  echo "aws-lambda-ric setup: npm install aws-lambda-ric@$version"
  npm install --ignore-scripts --no-audit --no-fund "aws-lambda-ric@$version"
  t_npm=$(date +%s)

  cd "$pkg"
  nodedir=/usr
  [ -f /usr/include/node/node.h ] || nodedir=$(dirname "$(dirname "$(command -v node)")")
  export npm_config_nodedir=$nodedir
  echo "aws-lambda-ric setup: building curl and aws-lambda-cpp (scripts/preinstall.sh)"
  sh scripts/preinstall.sh >"$dir/preinstall.log" 2>&1 || { tail -n 40 "$dir/preinstall.log" >&2; exit 1; }
  t_pre=$(date +%s)
  echo "aws-lambda-ric setup: building the native addon (scripts/postinstall.sh)"
  sh scripts/postinstall.sh >"$dir/postinstall.log" 2>&1 || { tail -n 40 "$dir/postinstall.log" >&2; exit 1; }
  t_post=$(date +%s)
  echo "aws-lambda-ric setup: npm $((t_npm - start)) s, preinstall $((t_pre - t_npm)) s, postinstall $((t_post - t_pre)) s"
  touch "$dir/addon.built"
fi

# The addon reads AWS_LAMBDA_RUNTIME_API when it loads.
AWS_LAMBDA_RUNTIME_API=127.0.0.1:9 node -e "require('$pkg/dist/rapid-client.node')"
touch "$dir/.built"
echo "aws-lambda-ric $version: ready in $pkg"
