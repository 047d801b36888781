#!/usr/bin/env bash
# Builds the example functions' images the kvm tests use, natively (inside the emulated KVM
# host, reading a Python stdlib over 9p is slow), into BUILD_DIR/test-images/, and the layers
# they take into BUILD_DIR/test-layers/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=$build/test-images
mkdir -p "$out"
img() {
  local name=$1 runtime=$2; shift 2
  "$build/thaw" --log-level warn image build --runtime "$runtime" --code "examples/functions/$name" \
    --out "$out/$name" "$@" >/dev/null
}
img python-hello python3.11 --init-timeout 60
img provided-shell provided --init-timeout 60
img python-handler-error python3.11 --init-timeout 60
img python-init-error python3.11 --init-timeout 60
img python-timeout python3.11 --init-timeout 60 --timeout 1
img python-crash python3.11 --init-timeout 60
img python-large-response python3.11 --init-timeout 60 --timeout 60
img python-uniqueness python3.11 --init-timeout 60
img python-snapstart-hooks python3.11 --init-timeout 60
img python-restore-hook-error python3.11 --init-timeout 60
img python-heavy-init python3.11 --init-timeout 120 --memory 512
# The AWS python3.11 conformance functions (tests/kvm/engine/aws_conformance_test.cpp); boto3 at INIT.
"$build/thaw" --log-level warn image build --runtime python3.11 --code tests/conformance/python3.11 \
  --name python-aws-compat --handler aws-compat.handler --env AWS_LAMBDA_EXEC_WRAPPER=/var/task/wrapper.sh \
  --init-timeout 120 --out "$out/python-aws-compat" >/dev/null
# Layers of Debian's database clients for the python-db function (tests/kvm/engine/database_test.cpp).
scripts/debian-python-layer.sh "$build/test-layers/redis" python3-redis >/dev/null
scripts/debian-python-layer.sh "$build/test-layers/psycopg2" python3-psycopg2 >/dev/null
echo "test images in $out: $(ls "$out" | tr '\n' ' ')"
