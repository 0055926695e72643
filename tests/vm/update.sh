#!/bin/bash
# OS updates in QEMU (TCG, a hard timeout on every run), docs/os-update.md.
# A/B: the main OS on slot a syncs, writes the new image into slot b while it runs
# (only the chunks slot a lacks are fetched), installs the packages there, and asks
# for one trial boot of b; the rescue stage kexecs b; mark-good commits it. An image
# that does not come up is abandoned by the rescue stage at the next boot: back to a.
# Single slot: the main OS fetches ahead into the state partition's cache what the
# rescue system needs, which then rewrites the slot in place from the cache and the
# slot itself, installs the packages and kexecs the new OS.
#
#   tests/vm/update.sh [CASE...]   cases: ab fallback single   (default: all)
#
# KEEP=1 keeps the work directory. Last line: "vm-update: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/vm/vmlib.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
nok() {
	fail=$((fail + 1))
	echo "FAIL $*"
	[ -n "${CUR:-}" ] && [ -f "$W/$CUR.log" ] && { echo "---- console ($CUR, last 40 lines)"; tr -d '\r' <"$W/$CUR.log" | tail -n 40; }
}
check() { # DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@"; then ok "$CUR: $d"; else nok "$CUR: $d"; fi
}
seen() { tr -d '\r' <"$W/$CUR.log" | grep -qE "$1"; }
not_seen() { ! seen "$1"; }
count_seen() { tr -d '\r' <"$W/$CUR.log" | grep -cE "$1"; }

W=$(mktemp -d /tmp/lifeboat-vmupd.XXXXXX)
cleanup() {
	vm_cleanup
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

vm_build
vm_pool "$W/pool"
vm_master_start
vm_conf "$W/lifeboat.conf" "Boot-Max-Attempts: 4" "Boot-Max-Failures: 2" "Watchdog-Timeout: 30"
# two slots: a holds 1.0 (the factory's), b is blank
BUILD=$BUILD scripts/build-disk.sh --out "$W/ab.img" --rootfs "$VMB/rootfs-1.0-good.ext4" \
	--slots 2 --conf "$W/lifeboat.conf" >"$W/disk.log" 2>&1 ||
	{ tail -20 "$W/disk.log"; vm_die "build-disk failed"; }

pkgs_listed() { # the last package list the main OS printed has exactly these
	local want got
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	got=$(tr -d '\r' <"$W/$CUR.log" | sed -n 's/^lifeboat main: pkg \([^ ]*\) .*/\1/p' | sort -u | tr '\n' ' ')
	[ "$want" = "$got" ] || { echo "packages: want '$want', got '$got'"; return 1; }
}
fetched_small() { # the image went into slot b with less than a fifth of the pack fetched
	local line mib
	line=$(tr -d '\r' <"$W/$CUR.log" | grep -E "lifeboat: os: image .* to fetch" | head -n 1)
	mib=$(sed -n 's/.*to fetch (\([0-9.]*\) MiB).*/\1/p' <<<"$line")
	echo "plan: $line"
	[ -n "$mib" ] && awk -v m="$mib" 'BEGIN { exit !(m < 3.5) }'
}

# 1. 1.0 on a -> 2.0 written into b while a runs -> tried -> committed -------------
case_ab() {
	CUR=ab
	vm_publish product-v1 2.0 "$VMB/rootfs-2.0-good.ext4" >"$W/publish.log" 2>&1 ||
		{ cat "$W/publish.log"; vm_die "publish failed"; }
	cp --sparse=always "$W/ab.img" "$W/ab-1.img"
	# sync once on every boot, power off once a main OS is up on slot b
	vm_start ab "$W/ab-1.img" 900 "lifeboat.main.sync"
	if vm_wait ab "lifeboat main: up \(version 2.0, slot b\)" 840; then
		ok "$CUR: main OS 2.0 up on slot b"
	else
		nok "$CUR: main OS 2.0 never came up on slot b"
	fi
	sleep 5 # mark-good, the package list
	vm_kill "$W/ab-1.img"
	check "1.0 on slot a wrote 2.0 into slot b" seen "OS 2.0 goes into slot b"
	check "only chunks slot a lacks were fetched" fetched_small
	check "the rescue stage tried slot b once" seen "lifeboat rescue: trying slot b"
	check "the packages were installed into slot b before its first boot" \
		seen "slot b holds OS 2.0 and serial"
	check "packages on slot b: product-v1 and its dependencies" \
		pkgs_listed legacy-ui product-v1 sensor-daemon
	check "no rescue mode" not_seen "rescue mode"
	# the next boot: b is committed, a normal boot of b
	CUR=ab-2
	vm_start ab-2 "$W/ab-1.img" 300 "lifeboat.main.poweroff"
	vm_end
	check "slot b committed: the next boot kexecs b" seen "lifeboat rescue: kexec slot b"
	check "main OS 2.0 on slot b again" seen "lifeboat main: up \(version 2.0, slot b\)"
	check "not a trial any more" not_seen "trying slot"
}

# 2. 1.0 on a -> 2.1 (panics) into b -> tried, fails -> back on a by itself --------
case_fallback() {
	CUR=fallback
	vm_publish product-v1 2.1 "$VMB/rootfs-2.1-panic.ext4" >"$W/publish.log" 2>&1 ||
		{ cat "$W/publish.log"; vm_die "publish failed"; }
	cp --sparse=always "$W/ab.img" "$W/fallback.img"
	vm_start fallback "$W/fallback.img" 900 "lifeboat.main.sync"
	if vm_wait fallback "failed its trial boot in slot b" 840; then
		ok "$CUR: the main OS on a saw the failed try and does not write 2.1 again"
	else
		nok "$CUR: no second sync on slot a after the failed try"
	fi
	sleep 3
	vm_kill "$W/fallback.img"
	check "2.1 went into slot b" seen "OS 2.1 goes into slot b"
	check "the rescue stage tried slot b" seen "lifeboat rescue: trying slot b"
	check "2.1 panicked" seen "Kernel panic"
	check "the rescue stage fell back to slot a" seen "the try of slot b failed"
	check "main OS 1.0 up on slot a after the failed try" \
		test "$(count_seen 'lifeboat main: up \(version 1.0, slot a\)')" -ge 2
	check "no rescue mode (a is good)" not_seen "rescue mode"
}

# 3. single slot: 1.0 -> 2.0 fetched ahead, written in place by the rescue system ---
case_single() {
	CUR=single
	vm_publish product-v1 2.0 "$VMB/rootfs-2.0-good.ext4" >"$W/publish.log" 2>&1 ||
		{ cat "$W/publish.log"; vm_die "publish failed"; }
	BUILD=$BUILD scripts/build-disk.sh --out "$W/single.img" \
		--rootfs "$VMB/rootfs-1.0-good.ext4" --conf "$W/lifeboat.conf" >"$W/disk.log" 2>&1 ||
		{ tail -20 "$W/disk.log"; vm_die "build-disk failed"; }
	vm_start single "$W/single.img" 900 "lifeboat.main.sync"
	if vm_wait single "lifeboat main: up \(version 2.0, slot a\)" 840; then
		ok "$CUR: main OS 2.0 up on slot a"
	else
		nok "$CUR: main OS 2.0 never came up"
	fi
	sleep 5
	vm_kill "$W/single.img"
	check "the main OS fetched ahead what the rescue system needs" \
		seen "lifeboat: os: image 2.0: everything the slot lacks is in"
	check "it asked the rescue system to rewrite the slot" seen "OS 2.0 replaces 1.0"
	check "the rescue system wrote the slot with nothing left to fetch" \
		seen "lifeboat: os: image 2.0: .* 0 to fetch \(0.0 MiB\)"
	check "slot a rebuilt" seen "lifeboat rescue: slot a rebuilt"
	check "packages installed into the new OS" pkgs_listed legacy-ui product-v1 sensor-daemon
}

ALL="ab fallback single"
for c in ${@:-$ALL}; do
	case " $ALL " in *" $c "*) "case_$c" ;; *) nok "unknown case $c" ;; esac
done
echo "vm-update: $pass passed, $fail failed"
[ "$fail" = 0 ]
