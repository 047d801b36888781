#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test tier:
#   unit + native (this machine), kvm (through the emulated KVM host when /dev/kvm is missing),
#   unit again under ASan+UBSan, and a short libFuzzer run of every fuzz target (one clang build).
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

note "kvm tests"
# Runs first: its tests are discovered inside the emulated host, and the list it leaves in
# build/ saves the other ctest runs from booting it just to list them.
#
# A run in the emulated KVM host has been seen to stop giving output for good (when its output
# went over serial ports; tools/kvmhost now uses virtio ones), so that not even ctest's
# per-test timeout inside it reaches us. A stall (no output for KVM_STALL_SECONDS) ends that boot;
# the tests it had not finished, the stalled one included, run again in a fresh boot (at most
# twice), and the stall is reported with the kernel stacks the host's watchdog last printed.
KVM_STALL_SECONDS=${THAW_KVM_STALL_SECONDS:-180}
kvm_in_emulated_host() {  # $1: log file; $2: ctest -R regex or ""
  local log=$1 regex=$2 pid last size now
  local filter=(); [ -n "$regex" ] && filter=(-R "$regex")
  # --see: a checkout under /tmp (the emulated host has a /tmp of its own) is exported whole.
  tools/kvmhost/kvmhost --rw "$root/build" --see "$root" --mem 6144 --timeout 1800 -- \
    ctest --test-dir "$root/build" -L kvm --output-on-failure "${filter[@]}" >"$log" 2>&1 &
  pid=$!
  tail -n +1 -f "$log" --pid "$pid" &
  last=$SECONDS; size=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    now=$(stat -c %s "$log" 2>/dev/null || echo 0)
    if [ "$now" != "$size" ]; then size=$now; last=$SECONDS; fi
    if [ $((SECONDS - last)) -ge "$KVM_STALL_SECONDS" ]; then
      echo "kvm: the emulated host stalled (no output for ${KVM_STALL_SECONDS}s); stopping it"
      kill "$pid" 2>/dev/null  # kvmhost prints the end of the emulated host's console and stops QEMU
      wait "$pid" 2>/dev/null
      return 2
    fi
  done
  wait "$pid"
}
if compgen -G "build/tests/thaw_*_kvm_tests" >/dev/null; then
  if [ -c /dev/kvm ]; then
    ctest --test-dir build -L kvm --output-on-failure 2>&1 | tee build/ctest-kvm.log
    count build/ctest-kvm.log
  else
    echo "no /dev/kvm here: running the kvm tests inside the emulated KVM host (one boot)"
    regex=""; finished=""  # tests finished in any boot so far
    for attempt in 1 2 3; do
      log=build/ctest-kvm-$attempt.log
      kvm_in_emulated_host "$log" "$regex"
      rc=$?
      if [ "$rc" != 2 ]; then count "$log"; break; fi
      # Stalled: count what finished, run the rest again.
      finished="$finished "$(grep -Eo 'Test +#[0-9]+: [A-Za-z0-9_.]+ [.]* *(Passed|\*\*\*|Failed)' "$log" |
                 sed -E 's/Test +#[0-9]+: ([A-Za-z0-9_.]+) .*/\1/')
      stalled=$(grep -Eo 'Start +[0-9]+: [A-Za-z0-9_.]+' "$log" | tail -n 1 | sed -E 's/Start +[0-9]+: //')
      echo "kvm: stalled in ${stalled:-?} (the emulated host's console, with its watchdog's task list, is above)"
      passed=$((passed + $(grep -cE 'Test +#[0-9]+: .* Passed' "$log")))
      while read -r name; do failures+=("$name"); failed=$((failed + 1)); done < <(
        grep -E 'Test +#[0-9]+: .* (\*\*\*|Failed)' "$log" | sed -E 's/.*Test +#[0-9]+: ([^ ]+) .*/\1/')
      remaining=$(ctest --test-dir build -N -L kvm | sed -nE 's/^ *Test +#[0-9]+: ([A-Za-z0-9_.]+)$/\1/p' |
                  grep -vxF -f <(printf '%s\n' $finished) || true)
      if [ -z "$remaining" ]; then break; fi
      if [ "$attempt" = 3 ]; then
        echo "kvm: the emulated host stalled three times; not finished: $(echo $remaining)"
        failed=$((failed + $(echo "$remaining" | wc -l)))
        for name in $remaining; do failures+=("$name (emulated host stalled)"); done
        break
      fi
      echo "kvm: running the $(echo "$remaining" | wc -l) unfinished tests in a fresh emulated host"
      regex="^($(echo "$remaining" | paste -sd'|'))\$"
    done
  fi
else
  echo "no kvm tests"
fi

note "unit and native tests"
ctest --test-dir build -LE kvm --output-on-failure -j "$(nproc)" 2>&1 | tee build/ctest-native.log
count build/ctest-native.log

# One clang build with ASan+UBSan serves both sanitizer phases: the unit tests and the
# libFuzzer targets (their libraries are compiled once).
note "sanitizer build: unit tests and fuzz targets under ASan+UBSan, clang (build-san/)"
if CC=clang CXX=clang++ scripts/build.sh build-san --target unit_tests --target fuzz_targets \
     -DTHAW_FUZZ=ON -DTHAW_SANITIZE=ON -DTHAW_BUILD_BENCH=OFF; then
  note "unit tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-san -L unit --output-on-failure -j "$(nproc)" 2>&1 |
    tee build-san/ctest.log
  count build-san/ctest.log

  note "fuzz targets, ${FUZZ_SECONDS}s each"
  for f in build-san/tests/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus=build-san/corpus/$name; mkdir -p "$corpus"
    seeds=tests/fuzz/seeds/${name#fuzz_}
    [ -d "$seeds" ] || seeds=""
    if "$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 "$corpus" $seeds >build-san/$name.log 2>&1; then
      echo "fuzz $name: ok ($(grep -Eo '#[0-9]+' build-san/$name.log | tail -n 1 | tr -d '#') runs)"
      passed=$((passed + 1))
    else
      echo "fuzz $name: FAILED"; tail -n 40 build-san/$name.log; failed=$((failed + 1)); failures+=("$name")
    fi
  done
else
  failed=$((failed + 1)); failures+=("sanitizer build")
fi

note "done"
for name in "${failures[@]}"; do echo "failed: $name"; done
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
