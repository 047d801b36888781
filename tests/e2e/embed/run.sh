#!/usr/bin/env bash
# The embedding example against the installed package: `cmake --install` of this build into a
# temporary prefix, the example configured with find_package(thaw) and built (and compiled once
# more through thaw.pc), then run: it creates a function from the installed examples, publishes
# it with SnapStart and invokes the restored version. The engine must find its guest files in
# the prefix (nothing from the build tree). KVM: /dev/kvm, or the emulated KVM host.
# usage: run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1"); src=$(realpath "$2")
tmp=$(mktemp -d /tmp/thaw-embed.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" --strip >"$tmp/install.log"
for f in bin/thaw include/thaw/engine.h lib/libthaw.so libexec/thaw/thaw-agent libexec/thaw/thaw-vmm share/thaw/runtimes/python3.11/bootstrap \
         share/thaw/examples/python-hello/lambda_function.py lib/cmake/thaw/thawConfig.cmake lib/pkgconfig/thaw.pc; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
if grep -rl -- "$build/" "$prefix/include" "$prefix/lib/cmake" "$prefix/lib/pkgconfig" >/dev/null; then
  echo "installed package files refer to the build tree:"; grep -rl -- "$build/" "$prefix/include" "$prefix/lib/cmake" "$prefix/lib/pkgconfig"; exit 1
fi

cmake -S "$src/examples/embed" -B "$tmp/example" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/configure.log"
cmake --build "$tmp/example" >"$tmp/build.log"
PKG_CONFIG_PATH=$prefix/lib/pkgconfig c++ -o "$tmp/example-pc" "$src/examples/embed/main.cpp" \
  $(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs thaw) -Wl,-rpath,"$prefix/lib"

# The installed libthaw.so finds its guest files under the prefix (it is outside the build tree).
run=("$tmp/example/thaw-embed-example" "$tmp/data" "$prefix/share/thaw/examples/python-hello")
"$src/tools/kvmhost/kvmhost" --if-needed --rw "$tmp" --mem 3072 --timeout 900 -- "${run[@]}" >"$tmp/out.txt" 2>"$tmp/err.txt" || {
  echo "the example failed:"; cat "$tmp/err.txt" "$tmp/out.txt"; exit 1; }
cat "$tmp/out.txt"
grep -q '"from": "embed"' "$tmp/out.txt" || { echo "no echo of the event in the response"; cat "$tmp/err.txt"; exit 1; }
grep -q '^version 1, restored in ' "$tmp/out.txt" || { echo "the published version did not start restored"; exit 1; }
grep -q 'Restore Duration: ' "$tmp/err.txt" || { echo "no REPORT with Restore Duration"; cat "$tmp/err.txt"; exit 1; }
echo "embed example: ok"
