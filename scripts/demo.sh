#!/bin/bash
# The main job (`make demo`, the README's first command): a device in QEMU kept
# on what its master says, broken, and rescued -- narrated on the terminal.
#
#   1. a master (lifeboat-master publish + nginx on the host's loopback) and a
#      device disk: GPT with state and rootfs-a (OS 1.0), booted in QEMU (TCG) the
#      way a bootloader would: the rescue kernel + initramfs first, always
#   2. the rescue stage counts the boot and kexecs the main OS, which syncs: it
#      installs product-v1 and its dependencies
#   3. the master replaces the meta-package product-v1 by product-v2: the device
#      converges, and legacy-ui, which nothing needs any more, is removed
#   4. the master publishes OS 2.1, which is broken (its kernel panics at boot):
#      the device writes it, fails, counts, and its rescue system takes over; it
#      will not write 2.1 again and waits for something newer
#   5. the master publishes OS 2.0 (fixed): the rescue system rebuilds the slot
#      from it, installs the package state, and the device is healthy again
#
# Everything is cleaned up at the end, also on Ctrl-C. DEMO_KEEP=1 keeps the work
# directory (console log, master tree). Takes ~10 minutes under TCG.
set -u
cd "$(dirname "$0")/.." || exit 1
scripts/install-deps.sh || exit 1
source tests/vm/vmlib.sh

W=$(mktemp -d /tmp/lifeboat-demo.XXXXXX)
TAILPID=""
cleanup() {
	[ -n "$TAILPID" ] && kill "$TAILPID" 2>/dev/null
	vm_cleanup
	if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

B=$(printf '\033[1m') N=$(printf '\033[0m') D=$(printf '\033[2m')
say() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
note() { printf '    %s\n' "$*"; }
# console: the device's serial console lines that tell the story, as they come
console() {
	tail -n +1 -F "$W/device.log" 2>/dev/null | tr -d '\r' | grep --line-buffered -E \
		'lifeboat (rescue|main)|^lifeboat:|^os:|Kernel panic|^sync:|reboot' |
		sed -u "s/^/    ${D}device|${N} /" &
	TAILPID=$!
}
until_seen() { # PATTERN SECONDS
	vm_wait device "$1" "$2" || { echo "demo: timed out waiting for: $1" >&2; exit 1; }
}
count_seen() { tr -d '\r' <"$W/device.log" | grep -cE "$1"; }
publish() {
	vm_publish "$@" 2>&1 | sed "s/^/    ${D}master|${N} /"
}

say "Building lifeboat, the rescue initramfs and the OS images (first run: a few minutes)"
vm_build
ls -l "$BUILD/initramfs.cpio.xz" "$VMB"/rootfs-*.ext4 | awk '{printf "    %-40s %6.1f MiB\n", $9, $5/1048576}'

say "The master: a pool of packages and OS 1.0, published as a signed static tree"
vm_pool "$W/pool"
ls "$W/pool" | sed 's/^/    pool: /'
publish product-v1 1.0 "$VMB/rootfs-1.0-good.ext4"
vm_master_start
note "served by nginx on 127.0.0.1:$MASTER_PORT; the device reaches it as http://10.0.2.100"

say "The device: a disk with a state partition and OS 1.0 in slot a (no packages yet)"
vm_conf "$W/lifeboat.conf" "Boot-Max-Attempts: 3" "Boot-Max-Failures: 2" "Watchdog-Timeout: 30"
sed 's/^/    lifeboat.conf: /' "$W/lifeboat.conf"
vm_disk "$W/disk.img" "$VMB/rootfs-1.0-good.ext4" "$W/lifeboat.conf"
sfdisk -l "$W/disk.img" | sed -n '/^Device/,$p' | sed 's/^/    /'

say "Power on: the bootloader starts the rescue system, which boots the main OS"
vm_start device "$W/disk.img" 1800 "lifeboat.main.sync-loop=10 lifeboat.wait=1"
console
until_seen "lifeboat main: up" 300
until_seen "lifeboat main: pkg product-v1" 120
sleep 1
note "the device runs OS 1.0 with product-v1 and what it depends on"

say "The master replaces product-v1 by product-v2"
sleep 1.1 # nginx's ETag has one-second granularity
publish product-v2 1.0 "$VMB/rootfs-1.0-good.ext4"
until_seen "lifeboat main: pkg product-v2" 120
sleep 2
note "legacy-ui is gone with product-v1: nothing else needed it"

say "The master publishes OS 2.1 -- broken: its kernel panics at every boot"
sleep 1.1
publish product-v2 2.1 "$VMB/rootfs-2.1-panic.ext4"
until_seen "lifeboat rescue: rescue mode: rebuild" 300
note "the main OS saw the new image and handed over to the rescue system, which writes it"
until_seen "lifeboat rescue: rescue mode: (failures|attempts)" 900
sleep 3
note "2.1 failed its boots (the panics were found in pstore); the rescue system will not write it again"

say "The master publishes OS 2.0, fixed"
sleep 1.1
publish product-v2 2.0 "$VMB/rootfs-2.0-good.ext4"
until_seen "lifeboat main: up \(version 2.0" 900
until_seen "lifeboat main: pkg product-v2" 120
sleep 2

say "Healthy again"
note "OS 2.0 with product-v2, rebuilt by the rescue system from the master, without a person."
note "kernel panics seen: $(count_seen 'Kernel panic'); rescue rebuilds: $(count_seen 'slot a rebuilt')"
vm_type device "$(printf 'poweroff -f\r')"
sleep 3
