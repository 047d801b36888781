#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test tier:
#   unit + native (this machine), kvm (through the emulated KVM host when /dev/kvm is missing or
#   cannot run thaw's guests: tools/kvmhost/kvmhost --host-kvm),
#   unit again under ASan+UBSan, and a short libFuzzer run of every fuzz target (one clang build),
#   in two lanes, one per core (see "kvm tests" below).
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
# Line tables only (-g1): backtraces and sanitizer reports keep their files and lines, and the
# compile skips the full debug info it spends a good part of its time on.
scripts/build.sh build -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" || exit 1
scripts/build-test-images.sh build 2>build/test-images.log || { cat build/test-images.log; exit 1; }

# Finished before the kvm tests start: a compile at full priority beside the emulated host's
# software CPU slows every restore in it, and restores have Lambda's 10 s budget (a restore that
# ran past it under such load was seen while this was written).
note "aws-lambda-ric client"
wait "$ric_pid" && tail -n 1 build/ric-setup.log || { echo "aws-lambda-ric setup failed:"; tail -n 30 build/ric-setup.log; failed=$((failed + 1)); failures+=("aws-lambda-ric setup"); }

# The kvm tests run in two groups, each in one boot of the emulated KVM host (or directly on
# /dev/kvm): the kvm gtests, and the end-to-end tests (a server with boto3, the AWS CLI, kill -9).
# The emulated host has one CPU, so the two cores carry two lanes at once:
#   this shell:        the kvm gtests, then the unit and native tests;
#   a background job:  the sanitizer build (clang, ASan+UBSan, Debug: the unit tests and the
#                      libFuzzer targets, their libraries compiled once), those unit tests and a
#                      short run of each fuzz target, at the lowest priority and one compile at a
#                      time; then the e2e group in a boot of its own.
# The gtests are discovered inside their boot when their ctest starts; the lists they leave in
# build/ are current by the time the e2e group's ctest reads them, so it does not discover them
# again (nor boot to list them). Each boot has a limit past which kvmhost stops it and prints
# the end of its console, and ctest's per-test timeout bounds each test inside a boot. (Runs
# used to stall for good when the command's output went over serial ports; since kvmhost moved
# it to virtio ports no run has stalled, so nothing here retries.)
kvm_here=$(tools/kvmhost/kvmhost --host-kvm) && kvm_ok=1 || kvm_ok=0
kvm_tests=0
compgen -G "build/tests/thaw_*_kvm_tests" >/dev/null && kvm_tests=1
# kvm_group NAME: runs that group's tests, its output to stdout.
kvm_group() {
  local select
  if [ "$1" = gtests ]; then select=(-L kvm -LE e2e); else select=(-L e2e); fi
  if [ $kvm_ok = 1 ]; then
    ctest --test-dir build "${select[@]}" --output-on-failure 2>&1
  else
    echo "running the kvm tests ($1) inside the emulated KVM host (one boot)"
    # --see: a checkout under /tmp (the emulated host has a /tmp of its own) is exported whole.
    tools/kvmhost/kvmhost --rw "$root/build" --see "$root" --mem 6144 --timeout "${THAW_KVM_TIMEOUT:-1800}" -- \
      ctest --test-dir "$root/build" "${select[@]}" --output-on-failure 2>&1
  fi
}
sanitizer_build() {
  CC=clang CXX=clang++ THAW_BUILD_JOBS=1 nice -n 19 scripts/build.sh build-san --target unit_tests \
    --target fuzz_targets -DTHAW_FUZZ=ON -DTHAW_SANITIZE=ON -DTHAW_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG=-gline-tables-only -DCMAKE_C_FLAGS_DEBUG=-gline-tables-only
}
# Writes "ok NAME RUNS" or "FAILED NAME" per fuzz target to build-san/results.
fuzz_runs() {
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
background_lane() {
  local t0=$SECONDS
  mkdir -p build-san
  : >build-san/results
  if sanitizer_build >build-san/build.log 2>&1; then
    ASAN_OPTIONS=detect_leaks=1 nice -n 19 ctest --test-dir build-san -L unit --output-on-failure >build-san/ctest.log 2>&1
    fuzz_runs
  else
    echo "FAILED sanitizer build" >>build-san/results
  fi
  echo "sanitizer build, its unit tests and fuzz runs: $((SECONDS - t0))s" >build-san/lane.log
  t0=$SECONDS
  if [ $kvm_tests = 1 ]; then
    kvm_group e2e >build/ctest-kvm-e2e.log
    echo "kvm e2e group: $((SECONDS - t0))s" >>build-san/lane.log
  fi
}
note "background lane started: sanitizer build, its unit tests and fuzz runs, then the kvm e2e tests"
background_lane &
lane_pid=$!

note "kvm tests: gtests"
echo "$kvm_here"
if [ $kvm_tests = 1 ]; then
  kvm_group gtests | tee build/ctest-kvm-gtests.log
  count build/ctest-kvm-gtests.log
else
  echo "no kvm tests"
fi

# Beside the e2e group when it is still running: at the lowest priority, one test at a time.
note "unit and native tests"
nice -n 19 ctest --test-dir build -LE kvm --output-on-failure 2>&1 | tee build/ctest-native.log
count build/ctest-native.log

note "background lane: sanitizer build, unit tests under ASan+UBSan, fuzz targets ${FUZZ_SECONDS}s each, kvm e2e tests"
wait "$lane_pid"
cat build-san/lane.log 2>/dev/null
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
if [ $kvm_tests = 1 ]; then
  cat build/ctest-kvm-e2e.log
  count build/ctest-kvm-e2e.log
fi

note "done"
for name in "${failures[@]}"; do echo "failed: $name"; done
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
