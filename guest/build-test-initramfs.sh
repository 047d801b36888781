#!/usr/bin/env bash
# Builds thaw's test initramfs (gzip'd newc cpio): static busybox, the kernel modules the
# host<->guest channel needs (virtio_ring, virtio, virtio_mmio, virtio_console from Debian's
# kernel package, which has them as modules), virtio_net with its dependencies, and
# guest/test-initramfs/init.
# usage: build-test-initramfs.sh OUTPUT [KERNEL_VERSION]   (default version: that of the newest /boot/vmlinuz-*)
# The init's mode comes from the kernel command line: thaw.test=poweroff|reboot|panic|hang|echo:N|pingpong|net:GUEST_IP:HOST_IP|ticks|shell.
set -euo pipefail
out=${1:?usage: build-test-initramfs.sh OUTPUT [KERNEL_VERSION]}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kver=${2:-$(ls -1 /boot/vmlinuz-* | sort -V | tail -n 1 | sed 's|.*/vmlinuz-||')}
moddir=/lib/modules/$kver/kernel
[ -x /bin/busybox ] || { echo "build-test-initramfs: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
[ -d "$moddir" ] || { echo "build-test-initramfs: no modules for kernel $kver" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,lib/modules}
cp /bin/busybox "$stage/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$stage/bin/$a"; done
ln -s bin "$stage/sbin"
mknod -m 600 "$stage/dev/console" c 5 1
mknod -m 666 "$stage/dev/null" c 1 3
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio drivers/char/virtio_console \
         net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
  f=$(ls "$moddir/$m".ko* 2>/dev/null | head -n 1) || true
  [ -n "$f" ] || { echo "build-test-initramfs: module $m missing in $moddir" >&2; exit 1; }
  case "$f" in
    *.ko.xz) xz -dc "$f" > "$stage/lib/modules/$(basename "$m").ko";;
    *.ko.zst) zstd -qdc "$f" > "$stage/lib/modules/$(basename "$m").ko";;
    *) cp "$f" "$stage/lib/modules/$(basename "$m").ko";;
  esac
done
install -m 755 "$here/test-initramfs/init" "$stage/init"
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) > "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
