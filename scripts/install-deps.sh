#!/usr/bin/env bash
# Installs what thaw needs to build, test and run, from Debian's packages; only what is missing.
# Safe to run twice. Needs root (or sudo) when something is missing.
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config git
  liburing-dev liblz4-dev libzstd-dev libzip-dev libxxhash-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libnftables-dev nftables  # each sandbox's firewall (engine/net/sandbox_firewall.h)
  libboost-dev  # Boost.Asio/Beast: thaw serve's HTTP server (header-only)
  python3-boto3 awscli  # real clients of thaw serve in the e2e tests (tests/e2e/lambda-api)
  python3-simplejson ca-certificates zlib1g-dev  # python3.11 images ship boto3, simplejson, the CA bundle; zlib gzips botocore's models
  redis-server postgresql  # real servers sandboxes connect to (tests/kvm/engine/database_test.cpp)
  python3-redis python3-psycopg2  # their clients, made layers by scripts/debian-python-layer.sh
  clang libclang-rt-14-dev
  linux-image-amd64 qemu-system-x86 busybox-static cpio
  python3
  gnuplot-nox  # thaw bench coldstart --plot
  autoconf automake libtool  # build aws-lambda-ric's curl and addon (tests/e2e/aws-lambda-ric/setup.sh)
)
# Node.js (for the aws-lambda-ric conformance test): any node on PATH will do.
command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
