#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test tier:
#   unit + native (this machine), kvm (through the emulated KVM host when /dev/kvm is missing or
#   cannot run thaw's guests: tools/kvmhost/kvmhost --host-kvm),
#   unit again under ASan+UBSan, and a short libFuzzer run of every fuzz target (one clang build,
#   made and run in the background beside the kvm tests).
# Ends with the names of what failed, then one line "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
FUZZ_SECONDS=${THAW_FUZZ_SECONDS:-20}
passed=0; failed=0
failures=()  # names of failed tests and phases, repeated at the end where a CI log's tail shows them
start=$SECONDS; phase_start=$SECONDS
# Prints a phase heading with the time the previous phase took, so a slow CI run says where.
note() {
  printf '\n==== %s ==== (previous phase %ds, %ds in all)\n' "$*" $((SECONDS - phase_start)) $((SECONDS - start))
  phase_start=$SECONDS
}

# Adds ctest's "N tests failed out of M" counts from a log to the totals, and the failed names.
count() {
  local line total bad name
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$1" | tail -n 1)
  if [ -z "$line" ]; then failed=$((failed + 1)); failures+=("$1 (ctest gave no summary)"); return; fi
  while read -r name; do failures+=("$name"); done < <(
    sed -n '/The following tests FAILED:/,$p' "$1" | sed -nE 's/^[[:space:]]+[0-9]+ - ([^ ]+) .*/\1/p')
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  bad=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$line")
  passed=$((passed + total - bad)); failed=$((failed + bad))
}

note "dependencies"
scripts/install-deps.sh || exit 1

# The official Node.js runtime client (aws-lambda-ric) builds its native addon once (~11 min on
# a fresh machine, mostly npm's download; cached afterwards): start it now, beside the build.
mkdir -p build
tests/e2e/aws-lambda-ric/setup.sh >build/ric-setup.log 2>&1 &
ric_pid=$!

note "build (build/)"
scripts/build.sh build || exit 1
scripts/build-test-images.sh build 2>build/test-images.log || { cat build/test-images.log; exit 1; }

# Finished before the kvm tests start: a compile beside the emulated host's software CPU slows
# every restore in it, and restores have Lambda's 10 s budget (a restore that ran past it under
# such load was seen while this was written).
note "aws-lambda-ric client"
wait "$ric_pid" && tail -n 1 build/ric-setup.log || { echo "aws-lambda-ric setup failed:"; tail -n 30 build/ric-setup.log; failed=$((failed + 1)); failures+=("aws-lambda-ric setup"); }

# The sanitizer build (clang, ASan+UBSan: unit tests and libFuzzer targets, their libraries
# compiled once), then those unit tests and a short run of each fuzz target: one background job
# on the core the kvm tests leave free (the emulated KVM host has one CPU), at the lowest
# priority and one compile at a time, so the kvm tests keep theirs. Its results are counted at
# the end, from build-san/.
sanitizer_phase() {
  mkdir -p build-san
  : >build-san/results
  if ! CC=clang CXX=clang++ THAW_BUILD_JOBS=1 nice -n 19 scripts/build.sh build-san --target unit_tests \
       --target fuzz_targets -DTHAW_FUZZ=ON -DTHAW_SANITIZE=ON -DTHAW_BUILD_BENCH=OFF >build-san/build.log 2>&1; then
    echo "FAILED sanitizer build" >>build-san/results
    return
  fi
  ASAN_OPTIONS=detect_leaks=1 nice -n 19 ctest --test-dir build-san -L unit --output-on-failure >build-san/ctest.log 2>&1
  local f name corpus seeds
  for f in build-san/tests/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus=build-san/corpus/$name; mkdir -p "$corpus"
    seeds=tests/fuzz/seeds/${name#fuzz_}
    [ -d "$seeds" ] || seeds=""
    if nice -n 19 "$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 "$corpus" $seeds >build-san/$name.log 2>&1; then
      echo "ok $name $(grep -Eo '#[0-9]+' build-san/$name.log | tail -n 1 | tr -d '#')" >>build-san/results
    else
      echo "FAILED $name" >>build-san/results
    fi
  done
}
note "sanitizer build, its unit tests and the fuzz targets: started in the background (build-san/)"
{ san_start=$SECONDS; sanitizer_phase; echo $((SECONDS - san_start)) >build-san/seconds; } &
san_pid=$!

note "kvm tests"
# Two groups, each one boot of the emulated KVM host (or run directly on /dev/kvm): the kvm
# gtests, then the end-to-end tests (a server with boto3, the AWS CLI, kill -9). Each boot has
# a limit past which kvmhost stops it and prints the end of its console; one boot for the whole
# label came to that limit as the suite grew (the last test was cut off), and a group's limit
# bounds a fixed, smaller set. The gtests run first: they are discovered inside the emulated
# host, and the list they leave in build/ saves the other ctest runs from booting it just to
# list them. ctest's per-test timeout bounds each test inside a boot. (Runs used to stall for
# good when the command's output went over serial ports; since kvmhost moved it to virtio
# ports no run has stalled, so nothing here retries.)
if compgen -G "build/tests/thaw_*_kvm_tests" >/dev/null; then
  kvm_here=$(tools/kvmhost/kvmhost --host-kvm) && kvm_ok=1 || kvm_ok=0
  echo "$kvm_here"
  for group in gtests e2e; do
    if [ $group = gtests ]; then select=(-L kvm -LE e2e); else select=(-L e2e); fi
    log=build/ctest-kvm-$group.log
    if [ $kvm_ok = 1 ]; then
      ctest --test-dir build "${select[@]}" --output-on-failure 2>&1 | tee "$log"
    else
      echo "running the kvm tests ($group) inside the emulated KVM host (one boot)"
      # --see: a checkout under /tmp (the emulated host has a /tmp of its own) is exported whole.
      tools/kvmhost/kvmhost --rw "$root/build" --see "$root" --mem 6144 --timeout "${THAW_KVM_TIMEOUT:-1800}" -- \
        ctest --test-dir "$root/build" "${select[@]}" --output-on-failure 2>&1 | tee "$log"
    fi
    count "$log"
  done
else
  echo "no kvm tests"
fi

note "unit and native tests"
ctest --test-dir build -LE kvm --output-on-failure -j "$(nproc)" 2>&1 | tee build/ctest-native.log
count build/ctest-native.log

note "sanitizer build, unit tests under ASan+UBSan, fuzz targets ${FUZZ_SECONDS}s each (waiting for the background job)"
wait "$san_pid"
echo "the background job took $(cat build-san/seconds 2>/dev/null || echo ?)s"
if grep -q "^FAILED sanitizer build" build-san/results; then
  tail -n 60 build-san/build.log
  failed=$((failed + 1)); failures+=("sanitizer build")
else
  cat build-san/ctest.log
  count build-san/ctest.log
  while read -r verdict name runs; do
    if [ "$verdict" = ok ]; then
      echo "fuzz $name: ok ($runs runs)"; passed=$((passed + 1))
    else
      echo "fuzz $name: FAILED"; tail -n 40 "build-san/$name.log"; failed=$((failed + 1)); failures+=("$name")
    fi
  done <build-san/results
fi

note "done"
for name in "${failures[@]}"; do echo "failed: $name"; done
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
