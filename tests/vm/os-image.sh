#!/bin/bash
# VM test of the main OS image (scripts/build-os.sh) and the device disk
# (scripts/build-disk.sh), booted directly, without the rescue system: the kernel,
# initramfs and /boot/cmdline are read out of the image with debugfs and given to
# QEMU (TCG) as a bootloader -- or the rescue system's kexec -- would.
#
#   1. builds: good, panic and hang images, the good one twice (same file list);
#      disks with the image in rootfs-a (and a blank rootfs-b for the good one)
#   2. good: "lifeboat main: up (version V, slot a)", state partition mounted,
#      watchdog fed, lifeboat.main.sync reported, powered off by itself
#   3. blank slot (root=/dev/vda4, zeros): the initramfs panics, no shell
#   4. panic flavor: the kernel panics ("Attempted to kill init"), QEMU exits
#   5. hang flavor: prints "lifeboat main: hanging (test flavor)" and never "up"
# Every boot has a hard timeout. Last line: "os-image: N passed, N failed".
#
# Environment: SYSROOT [build/sysroot] (scripts/fetch-debs.sh runs when it lacks
# KVER), BUILD [build], VM_TIMEOUT [90], XZ_OPTS [-1 --check=crc32],
# KEEP=1 keeps the work directory.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
SYSROOT=${SYSROOT:-$BUILD/sysroot}
VM_TIMEOUT=${VM_TIMEOUT:-90}
VERSION=9.1-test
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok - $*"; }
nok() { fail=$((fail + 1)); echo "not ok - $*"; }
finish() {
	echo "os-image: $pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit
}

TMP=$(mktemp -d /tmp/lifeboat-os-image.XXXXXX)
VMPID=""
BPIDS=""
# shellcheck disable=SC2317 # called from the trap
cleanup() {
	[ -n "$VMPID" ] && kill "$VMPID" 2>/dev/null # run-vm.sh stops its QEMU
	for p in $BPIDS; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$(date +%s%N)
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

# 1. build ---------------------------------------------------------------------
if ! make -s "$BUILD/lifeboat" >"$TMP/make.log" 2>&1; then
	tail -20 "$TMP/make.log"
	nok "build: make $BUILD/lifeboat"
	finish
fi
if [ ! -f "$SYSROOT/KVER" ]; then
	if ! scripts/fetch-debs.sh >"$TMP/fetch.log" 2>&1; then
		tail -20 "$TMP/fetch.log"
		nok "build: scripts/fetch-debs.sh"
		finish
	fi
fi
export SYSROOT BUILD
# the initramfs packed with xz -1 instead of -9: 1 s instead of 4 per build, the
# same contents (the kernel's decoder reads either)
export XZ_OPTS=${XZ_OPTS:--1 --check=crc32}

# the four image builds run side by side (each is mostly xz and mkfs)
declare -A img bpid
for f in good panic hang good2; do
	img[$f]=$TMP/rootfs-$f.ext4
	scripts/build-os.sh --version "$VERSION" --flavor "${f%2}" --out "${img[$f]}" \
		>"$TMP/build-$f.log" 2>&1 &
	bpid[$f]=$!
	BPIDS="$BPIDS $!"
done
bt=$(date +%s%N)
built=1
for f in good panic hang good2; do
	if ! wait "${bpid[$f]}"; then
		tail -20 "$TMP/build-$f.log"
		nok "build: scripts/build-os.sh --flavor ${f%2}"
		built=0
	fi
done
BPIDS=""
[ "$built" = 1 ] || finish
ok "build: good, panic and hang images in $(ms "$bt") ms (4 builds side by side)"
sed -n '/^main OS image/,$p' "$TMP/build-good.log"

if cmp -s "${img[good]}.files" "${img[good2]}.files"; then
	same="not byte-identical"
	cmp -s "${img[good]}" "${img[good2]}" && same="byte-identical"
	ok "build: two builds of $VERSION good give the same file list ($(wc -l <"${img[good]}.files") entries; images $same)"
else
	nok "build: two builds of $VERSION good differ:"
	diff "${img[good]}.files" "${img[good2]}.files" | head -10
fi

printf 'Master: file:///nonexistent/master\nDevice-Id: os-image-test\nGroup: test\n' >"$TMP/lifeboat.conf"
declare -A disk
for f in good panic hang; do
	disk[$f]=$TMP/disk-$f.img
	slots=1
	[ "$f" = good ] && slots=2
	if ! scripts/build-disk.sh --out "${disk[$f]}" --rootfs "${img[$f]}" \
		--conf "$TMP/lifeboat.conf" --slots $slots >"$TMP/disk-$f.log" 2>&1; then
		cat "$TMP/disk-$f.log"
		nok "build: scripts/build-disk.sh --rootfs rootfs-$f.ext4"
		finish
	fi
done
if sfdisk -d "${disk[good]}" 2>/dev/null | grep -q 'name="rootfs-b"' &&
	[ "$(sfdisk -d "${disk[good]}" | grep -c 'name="\(rescue\|state\|rootfs-a\|rootfs-b\)"')" = 4 ]; then
	ok "disk: GPT rescue, state, rootfs-a, rootfs-b"
else
	nok "disk: partition names"
	sfdisk -d "${disk[good]}"
fi
sed -n '/^build-disk: .*GPT/,$p' "$TMP/disk-good.log"

# extract F: the kernel, initramfs and extra arguments out of image F
extract() {
	debugfs -R "dump /boot/vmlinuz $TMP/vmlinuz-$1" "${img[$1]}" >/dev/null 2>&1 &&
		debugfs -R "dump /boot/initrd.img $TMP/initrd-$1.img" "${img[$1]}" >/dev/null 2>&1 &&
		debugfs -R "cat /boot/cmdline" "${img[$1]}" 2>/dev/null >"$TMP/cmdline-$1" &&
		[ -s "$TMP/vmlinuz-$1" ] && [ -s "$TMP/initrd-$1.img" ] && [ -s "$TMP/cmdline-$1" ]
}

# boot NAME FLAVOR ARGS [STOP-PATTERN]: boot FLAVOR's disk with its own kernel,
# initramfs and cmdline; console in $TMP/NAME.log. With STOP-PATTERN, the VM is
# stopped 3 s after the pattern shows (it would not end by itself). Sets RC (QEMU's
# exit status, 124 on timeout, "stopped") and SECS (wall time).
boot() {
	local name=$1 f=$2 args=$3 stop=${4:-} start seen=""
	LOG=$TMP/$name.log
	start=$(date +%s%N)
	KERNEL=$TMP/vmlinuz-$f INITRD=$TMP/initrd-$f.img scripts/run-vm.sh -t "$VM_TIMEOUT" \
		-a "$args $(cat "$TMP/cmdline-$f")" -l "$LOG" -- \
		-drive "file=${disk[$f]},format=raw,if=virtio" -device i6300esb \
		-action watchdog=reset -nic none </dev/null >/dev/null 2>"$TMP/$name.err" &
	VMPID=$!
	RC=""
	while kill -0 "$VMPID" 2>/dev/null; do
		if [ -n "$stop" ]; then
			if [ -z "$seen" ] && [ -f "$LOG" ] && tr -d '\r' 2>/dev/null <"$LOG" | grep -qE "$stop"; then
				seen=$(date +%s)
			elif [ -n "$seen" ] && [ $(($(date +%s) - seen)) -ge 3 ]; then
				kill "$VMPID" 2>/dev/null
				RC=stopped
			fi
		fi
		sleep 0.2
	done
	wait "$VMPID"
	local rc=$?
	VMPID=""
	[ -n "$RC" ] || RC=$rc
	SECS=$(awk -v n=$(($(date +%s%N) - start)) 'BEGIN { printf "%.1f", n / 1e9 }')
	tr -d '\r' <"$LOG" >"$LOG.txt"
}
has() { grep -qE "$1" "$LOG.txt"; }
count() { grep -cE "$1" "$LOG.txt"; }
show() {
	echo "---- console ($1)"
	tail -25 "$LOG.txt"
	cat "$TMP/$1.err" 2>/dev/null
}

for f in good panic hang; do
	extract "$f" || {
		nok "image $f: no /boot/vmlinuz, /boot/initrd.img or /boot/cmdline"
		finish
	}
done
ok "image: /boot/vmlinuz, /boot/initrd.img ($(stat -c %s "$TMP/initrd-good.img") bytes), /boot/cmdline '$(cat "$TMP/cmdline-good")'"

# 2. good ----------------------------------------------------------------------
boot good good "root=/dev/vda3 lifeboat.slot=a lifeboat.main.sync lifeboat.main.poweroff"
before=$fail
up="lifeboat main: up \(version $VERSION, slot a\)"
if [ "$(count "^$up\$")" = 1 ]; then
	ok "good: exactly one '$(grep -E "^$up" "$LOG.txt")'"
else
	nok "good: $(count "^$up\$") lines '$up'"
fi
if has '^lifeboat main: state: /dev/vda2 on /var/lib/lifeboat$'; then
	ok "good: state partition (LABEL=lbstate) /dev/vda2 mounted on /var/lib/lifeboat"
else
	nok "good: state partition not mounted"
fi
if has '^lifeboat main: watchdog: fed every'; then
	ok "good: watchdog feeder started on /dev/watchdog (i6300esb)"
else
	nok "good: no watchdog feeder"
fi
if has '^lifeboat main: (synced|sync failed \(exit [0-9]+\))$'; then
	ok "good: lifeboat.main.sync: '$(grep -E '^lifeboat main: (synced|sync failed)' "$LOG.txt")' (the master is file:///nonexistent)"
else
	nok "good: lifeboat.main.sync printed no result"
fi
if [ "$RC" = 0 ] && has '^lifeboat main: powering off'; then
	ok "good: powered off by itself (lifeboat.main.poweroff) after ${SECS} s"
else
	nok "good: QEMU exit status $RC after ${SECS} s (timeout ${VM_TIMEOUT} s), expected a power-off"
fi
[ "$fail" = "$before" ] || show good

# 3. a blank slot: no filesystem on the root device --------------------------
boot blank good "root=/dev/vda4 lifeboat.slot=b lifeboat.main.poweroff"
if has '^lifeboat initrd: PANIC: cannot mount /dev/vda4' && has 'Kernel panic' &&
	! has '^lifeboat main:' && [ "$RC" = 0 ]; then
	ok "blank slot: initramfs panics ('$(grep -m1 -o 'PANIC: .*' "$LOG.txt")'), no shell; QEMU exited (panic=5) after ${SECS} s"
else
	nok "blank slot: no initramfs panic and exit (QEMU status $RC after ${SECS} s)"
	show blank
fi

# 4. panic flavor ----------------------------------------------------------------
boot panic panic "root=/dev/vda3 lifeboat.slot=a lifeboat.main.poweroff"
if has 'Kernel panic - not syncing: Attempted to kill init' && ! has '^lifeboat main: up' &&
	[ "$RC" = 0 ]; then
	ok "panic: 'Kernel panic - not syncing: Attempted to kill init', QEMU exited (panic=5) after ${SECS} s"
else
	nok "panic: no 'Attempted to kill init' panic and exit (QEMU status $RC after ${SECS} s)"
	show panic
fi

# 5. hang flavor -------------------------------------------------------------------
boot hang hang "root=/dev/vda3 lifeboat.slot=a lifeboat.main.poweroff" '^lifeboat main: hanging \(test flavor\)'
if has '^lifeboat main: hanging \(test flavor\)$' && ! has '^lifeboat main: (up|watchdog)' &&
	[ "$RC" = stopped ]; then
	ok "hang: 'lifeboat main: hanging (test flavor)', no watchdog feeder, no 'up' 3 s later (stopped after ${SECS} s)"
else
	nok "hang: expected the hanging line and nothing after it (QEMU status $RC after ${SECS} s)"
	show hang
fi

echo "total: $(ms "$t0") ms"
finish
