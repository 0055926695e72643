#!/bin/bash
# The rescue system's boot flow in QEMU (TCG, never KVM; a hard timeout on every
# run): a device whose bootloader always starts the rescue kernel + initramfs,
# disks as virtio, an i6300esb watchdog that resets the board, user networking
# with restrict=on and a guestfwd to the master (nginx on the host's loopback).
#
#   tests/vm/boot.sh [CASE...]     cases: healthy panic hang corrupt masterdown
#                                  powercycle shell ubi   (default: all)
#
# Each case ends with the main OS up and lifeboat listing the expected packages
# (or, for the shell, the shell's answers). KEEP=1 keeps the work directory with
# every console log. Last line: "vm-boot: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/vm/vmlib.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
nok() {
	fail=$((fail + 1))
	echo "FAIL $*"
	[ -n "${CUR:-}" ] && [ -f "$W/$CUR.log" ] && { echo "---- console ($CUR, last 30 lines)"; tr -d '\r' <"$W/$CUR.log" | tail -n 30; }
}
check() { # DESCRIPTION COMMAND...: one test line
	local d=$1
	shift
	if "$@"; then ok "$CUR: $d"; else nok "$CUR: $d"; fi
}
seen() { tr -d '\r' <"$W/$CUR.log" | grep -qE "$1"; }
not_seen() { ! seen "$1"; }

W=$(mktemp -d /tmp/lifeboat-vmboot.XXXXXX)
cleanup() {
	vm_cleanup
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the master and the device, once ------------------------------------------
vm_build
vm_pool "$W/pool"
vm_publish product-v1 1.0 "$VMB/rootfs-1.0-good.ext4" >"$W/publish.log" 2>&1 ||
	{ cat "$W/publish.log"; vm_die "publish failed"; }
vm_master_start
# tight limits so that the failure cases take minutes, not quarters of an hour
vm_conf "$W/lifeboat.conf" "Boot-Max-Attempts: 4" "Boot-Max-Failures: 2" "Watchdog-Timeout: 30"
vm_disk "$W/blank.img" "$VMB/rootfs-1.0-good.ext4" "$W/lifeboat.conf"

# part_offset DISK NAME: byte offset and size of a GPT partition
part_offset() {
	sfdisk -J "$1" | python3 -c '
import json, sys
t = json.load(sys.stdin)["partitiontable"]
for p in t["partitions"]:
    if p.get("name") == sys.argv[1]:
        print(p["start"] * 512, p["size"] * 512)' "$2"
}
# put_slot DISK IMAGE: write IMAGE into rootfs-a (what a bad update would leave)
put_slot() {
	local off size
	read -r off size < <(part_offset "$1" rootfs-a)
	dd if="$2" of="$1" bs=1M seek=$((off / 1048576)) conv=notrunc,sparse status=none
}
# state_field DISK FILE FIELD: a field of a file on the state partition (debugfs,
# no mount)
state_field() {
	local off size
	read -r off size < <(part_offset "$1" state)
	dd if="$1" of="$W/state.part" bs=1M skip=$((off / 1048576)) count=$((size / 1048576)) status=none
	debugfs -R "cat /$2" "$W/state.part" 2>/dev/null | sed -n "s/^$3: *//p"
}
pkgs_listed() { # the main OS printed lifeboat list with exactly these packages
	local want got
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	got=$(tr -d '\r' <"$W/$CUR.log" | sed -n 's/^lifeboat main: pkg \([^ ]*\) .*/\1/p' | sort -u | tr '\n' ' ')
	[ "$want" = "$got" ] || { echo "packages: want '$want', got '$got'"; return 1; }
}
PRODUCT1="legacy-ui product-v1 sensor-daemon"


# 1. healthy boot: rescue stage -> kexec -> main OS -> sync -> mark-good ----------
case_healthy() {
	cp --sparse=always "$W/blank.img" "$W/healthy.img"
	vm_start healthy "$W/healthy.img" 300 "lifeboat.main.sync lifeboat.main.poweroff"
	vm_end
	local rc=$?
	check "guest powered off by itself (qemu exit $rc)" test "$rc" = 0
	check "rescue stage counted and kexec'd slot a" seen "lifeboat rescue: kexec slot a"
	check "main OS 1.0 up on slot a" seen "lifeboat main: up \(version 1.0, slot a\)"
	check "no rescue mode" not_seen "rescue mode"
	check "main OS synced with the master" seen "lifeboat main: synced"
	check "packages: $PRODUCT1" pkgs_listed $PRODUCT1
	check "mark-good reset the counter (Attempts: 0)" \
		test "$(state_field "$W/healthy.img" boot Attempts)" = 0
	cp --sparse=always "$W/healthy.img" "$W/provisioned.img"
}

# rebuilt_ok: the end of every rescue case
rebuilt_ok() {
	local rc=$1
	check "guest powered off by itself (qemu exit $rc)" test "$rc" = 0
	check "rescue rebuilt slot a from the master" seen "lifeboat rescue: slot a rebuilt"
	check "main OS 1.0 up again" seen "lifeboat main: up \(version 1.0, slot a\)"
	check "packages: $PRODUCT1" pkgs_listed $PRODUCT1
}

# 2. the main OS panics on every boot -> pstore shows it -> rebuilt ---------------
case_panic() {
	# a slot that verifies (no packages in the database) and does not come up
	cp --sparse=always "$W/blank.img" "$W/panic.img"
	put_slot "$W/panic.img" "$VMB/rootfs-2.1-panic.ext4"
	vm_start panic "$W/panic.img" 900 "lifeboat.main.poweroff"
	vm_end
	local rc=$?
	check "the main OS panicked" seen "Kernel panic"
	check "the panic was found in pstore (ramoops) and counted as a failure" \
		seen "previous boot failed \(kernel panic"
	check "rescue mode after the failures" seen "lifeboat rescue: rescue mode: failures"
	rebuilt_ok $rc
}

# 3. the main OS hangs -> the watchdog resets the board -> rebuilt ------------------
case_hang() {
	# a slot that verifies (no packages in the database) and does not come up
	cp --sparse=always "$W/blank.img" "$W/hang.img"
	put_slot "$W/hang.img" "$VMB/rootfs-2.2-hang.ext4"
	vm_start hang "$W/hang.img" 900 "lifeboat.main.poweroff"
	vm_end
	local rc=$?
	check "the main OS hung" seen "lifeboat main: hanging"
	check "the watchdog reset was counted as a failure" seen "previous boot failed \(watchdog reset"
	check "rescue mode after the failures" seen "lifeboat rescue: rescue mode: failures"
	rebuilt_ok $rc
}

# 4. the root filesystem is corrupted -> detected before kexec -> rebuilt -----------
case_corrupt() {
	cp --sparse=always "$W/provisioned.img" "$W/corrupt.img"
	local off size
	read -r off size < <(part_offset "$W/corrupt.img" rootfs-a)
	# 64 KiB of noise over the superblock and the group descriptors
	head -c 65536 /dev/urandom |
		dd of="$W/corrupt.img" bs=4096 seek=$((off / 4096)) conv=notrunc status=none
	vm_start corrupt "$W/corrupt.img" 600 "lifeboat.main.poweroff"
	vm_end
	local rc=$?
	check "the damage was detected before kexec" seen "slot a .*filesystem damaged"
	check "rescue mode: unverifiable" seen "lifeboat rescue: rescue mode: unverifiable"
	check "no kernel was kexec'd from the damaged slot" not_seen "Kernel panic"
	rebuilt_ok $rc
}

# 5. the master is down when rescue starts, up later -> rescue waits, succeeds -----
case_masterdown() {
	cp --sparse=always "$W/provisioned.img" "$W/masterdown.img"
	vm_master_stop
	vm_start masterdown "$W/masterdown.img" 600 "lifeboat.rescue lifeboat.main.poweroff"
	if vm_wait masterdown "rebuild failed; next try" 240; then
		ok "$CUR: rescue retries while the master is down"
	else
		nok "$CUR: no retry message"
	fi
	sleep 3
	vm_master_start
	vm_end
	rebuilt_ok $?
}

# 6. plain power cycles during healthy boots -> no rebuild ---------------------------
case_powercycle() {
	cp --sparse=always "$W/provisioned.img" "$W/powercycle.img"
	local i
	for i in 1 2 3; do
		CUR=powercycle-$i
		vm_start "$CUR" "$W/powercycle.img" 240 ""
		if vm_wait "$CUR" "lifeboat rescue: kexec slot a" 200; then
			sleep 2 # the main kernel is starting
			vm_kill "$W/powercycle.img"
			ok "$CUR: power cut during a healthy boot"
		else
			vm_kill "$W/powercycle.img"
			nok "$CUR: did not reach kexec"
		fi
	done
	CUR=powercycle
	vm_start powercycle "$W/powercycle.img" 300 "lifeboat.main.poweroff"
	vm_end
	local rc=$?
	check "guest powered off by itself (qemu exit $rc)" test "$rc" = 0
	check "no rescue mode after 3 power cuts" not_seen "rescue mode"
	check "main OS up" seen "lifeboat main: up \(version 1.0, slot a\)"
	check "packages kept: $PRODUCT1" pkgs_listed $PRODUCT1
	check "the boot counter saw 3 unblessed boots" seen "boot 4 "
	check "mark-good reset the counter" \
		test "$(state_field "$W/powercycle.img" boot Attempts)" = 0
}

# 7. the serial console: a key press gives a shell; lifeboat.rescue=shell too --------
case_shell() {
	cp --sparse=always "$W/provisioned.img" "$W/shell.img"
	vm_start shell "$W/shell.img" 300 "lifeboat.main.poweroff lifeboat.wait=5"
	local i=0
	vm_wait shell "press a key within" 120
	while [ $i -lt 50 ] && ! seen "key pressed"; do
		vm_type shell "x"
		sleep 0.2
		i=$((i + 1))
	done
	check "a key press in the window gives a shell" seen "key pressed"
	sleep 1
	vm_type shell "$(printf 'echo SHELL-$((6*7)); lifeboat --state /state boot status\r')"
	check "the shell answers" vm_wait shell "SHELL-42" 60
	check "lifeboat status runs in it" vm_wait shell "[Aa]ttempts" 60
	vm_type shell "$(printf 'exit\r')"
	vm_end
	local rc=$?
	check "leaving the shell continues the boot (qemu exit $rc)" seen "lifeboat main: up"
	CUR=shell2
	vm_start shell2 "$W/shell.img" 200 "lifeboat.rescue=shell"
	vm_wait shell2 "shell on the console" 120
	sleep 1
	vm_type shell2 "$(printf 'lifeboat --state /state status; echo STATUS-RC=$?\r')"
	check "lifeboat.rescue=shell: lifeboat status runs" vm_wait shell2 "STATUS-RC=0" 60
	vm_type shell2 "$(printf 'poweroff -f\r')"
	vm_end
}

# 8. rescue onto raw NAND: UBI volume on nandsim, written by lifeboat os write -----
case_ubi() {
	cp --sparse=always "$W/provisioned.img" "$W/ubi.img"
	vm_start ubi "$W/ubi.img" 400 "lifeboat.rescue=shell"
	vm_wait ubi "shell on the console" 120
	sleep 1
	vm_type ubi "$(printf '%s\r' \
		'modprobe nandsim && ubiformat -y -q /dev/mtd0 && ubiattach -m 0 && ubimkvol /dev/ubi0 -N rootfs-a -s 96MiB && echo UBI-READY' \
		'udhcpc -i eth0 -q -n -s /etc/lifeboat/udhcpc.script >/dev/null 2>&1; lifeboat --state /state os write --slot /dev/ubi0_0 --config /state/lifeboat.conf --pubkey /etc/lifeboat/master.pub; echo WRITE-RC=$?' \
		'ubiblock -c /dev/ubi0_0 && mkdir -p /mnt/u && mount -o ro /dev/ubiblock0_0 /mnt/u && cat /mnt/u/etc/os-release && echo MOUNT-RC=$?' \
		'poweroff -f')"
	vm_end
	check "UBI on nandsim attached, volume made" seen "UBI-READY"
	check "lifeboat os write wrote the image to the UBI volume" seen "WRITE-RC=0"
	check "the written volume holds the image (mounted through ubiblock)" seen "MOUNT-RC=0"
	check "it is the published OS 1.0" seen "VERSION_ID=\"?1.0"
}

ALL="healthy panic hang corrupt masterdown powercycle shell ubi"
SEL=${*:-$ALL}
case " $SEL " in *" healthy "*) ;; *) SEL="healthy $SEL" ;; esac # the others start from its disk
for c in $SEL; do
	CUR=$c
	t0=$(date +%s)
	"case_$c"
	echo "     ($c: $(($(date +%s) - t0)) s)"
done
echo "vm-boot: $pass passed, $fail failed"
[ "$fail" = 0 ]
