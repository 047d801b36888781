#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs thaw on a real function:
#  1. the python-hello example is built into a function image;
#  2. it is invoked cold in a KVM microVM (boot, INIT, INVOKE);
#  3. SnapStart: its INIT runs once more and the microVM is snapshotted (thaw snapshot);
#  4. it is restored from the snapshot and invoked twice: the first restore records the
#     working set, the second prefetches it;
#  5. the snapshot is shown (thaw inspect), and cold vs restored times side by side.
# On a machine without /dev/kvm the microVMs run inside the emulated KVM host (--kvm emulated):
# slow in absolute terms (a software CPU), but the ratios hold.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build

# Under the repository, not /tmp: the emulated KVM host sees this tree (writable) but has a /tmp
# of its own.
out=build/main-job
rm -rf "$out"
mkdir -p "$out"

kvm=auto
kvm_here=$(tools/kvmhost/kvmhost --host-kvm) || { kvm=emulated; echo "main job: $kvm_here: the microVMs run inside the emulated KVM host"; }
echo "main job: building the python-hello image"
build/thaw --log-level warn image build --runtime python3.11 --code examples/functions/python-hello \
  --init-timeout 60 --out "$out/hello.img" 2>/dev/null

step() { echo; echo "==== main job: $* ===="; }
# thaw's own timing lines (measured inside the machine that runs the microVM) go to the log too.
run() { build/thaw --kvm "$kvm" "$@" 2> >(tee -a "$out/timings.log" >&2); }

step "cold invoke (boot + INIT + INVOKE)"
run invoke "$out/hello.img" --payload '{"name": "cold"}'
step "snapshot after INIT (SnapStart)"
run snapshot "$out/hello.img" --out "$out/hello.snap"
step "restore + invoke (records the working set)"
run invoke "$out/hello.snap" --payload '{"name": "restored"}'
step "restore + invoke (prefetches the working set), then a warm invoke"
run invoke "$out/hello.snap" --payload '{"name": "restored with prefetch"}' --count 2
step "the snapshot"
build/thaw inspect "$out/hello.snap"

step "cold vs restored (ms from start to the end of the first response)"
python3 - "$out/timings.log" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
firsts = [float(x) for x in re.findall(r"first response ([0-9.]+) ms after the (?:cold start|restore) began", text)]
warm = re.findall(r"invocation 2: ([0-9.]+) ms", text)
if len(firsts) < 3:
    sys.exit("main job: missing timing lines in " + sys.argv[1])
cold, restore, prefetch = firsts[0], firsts[1], firsts[2]
print(f"  cold start              {cold:10.1f} ms")
print(f"  restore                 {restore:10.1f} ms   {cold / restore:6.1f}x faster than cold")
print(f"  restore with prefetch   {prefetch:10.1f} ms   {cold / prefetch:6.1f}x faster than cold")
if warm:
    print(f"  warm invoke             {float(warm[0]):10.1f} ms")
PY
