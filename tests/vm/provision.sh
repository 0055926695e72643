#!/bin/bash
# Factory provisioning from a USB stick in QEMU (TCG, a hard timeout on every run),
# docs/provisioning.md. The rescue system boots (-kernel/-initrd, as the other VM
# tests) with a blank virtio disk and a FAT32 USB stick holding a bundle from
# `lifeboat-master export`; no network (the guest's only link is a dead loopback
# forward), but for the last case.
#
#   good       blank disk + stick: partitioned, OS image and packages written from the
#              stick, log written onto the stick, the main OS boots with its packages;
#              the next boot with the stick still in leaves the device alone
#   badkey     a stick signed with another key: refused, the disk untouched
#   group      a stick for another group (lifeboat.group=other): refused, untouched
#   powercut   QEMU killed while the OS image is written; the next boot with the
#              stick finishes the job
#   pulled     the same cut, then a boot without the stick: the rescue system
#              rebuilds from the master the bundle names (nginx on loopback)
#
#   tests/vm/provision.sh [CASE...]     (default: all)
#
# KEEP=1 keeps the work directory; NO_MAKE=1 uses $BUILD's binaries as they are.
# Last line: "vm-provision: N passed, N failed".
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

W=$(mktemp -d /tmp/lifeboat-vmprov.XXXXXX)
cleanup() {
	vm_cleanup
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# what vm_build does, for the one OS image these cases need
pv_build() {
	mkdir -p "$VMB"
	if [ "${NO_MAKE:-0}" != 1 ]; then
		make -s BUILD="$BUILD" "$BUILD/lifeboat" "$BUILD/lifeboat-master" >"$VMB/make.log" 2>&1 ||
			{ tail -20 "$VMB/make.log"; vm_die "make failed"; }
	fi
	[ -f "$SYSROOT/KVER" ] || scripts/fetch-debs.sh >"$VMB/fetch.log" 2>&1 ||
		{ tail -20 "$VMB/fetch.log"; vm_die "scripts/fetch-debs.sh failed"; }
	[ -f "$KEY" ] || "$BUILD/lifeboat-master" keygen "$KEY" >/dev/null 2>&1 || vm_die "keygen failed"
	local i=$BUILD/initramfs.cpio.xz
	if [ ! -f "$i" ] || [ "$BUILD/lifeboat" -nt "$i" ] || [ initramfs/init -nt "$i" ] ||
		[ initramfs/provision.sh -nt "$i" ] ||
		! cmp -s "$KEY.pub" "$BUILD/initramfs/etc/lifeboat/master.pub"; then
		SYSROOT=$SYSROOT BUILD=$BUILD PUBKEY=$KEY.pub scripts/build-initramfs.sh \
			>"$VMB/initramfs.log" 2>&1 ||
			{ tail -20 "$VMB/initramfs.log"; vm_die "build-initramfs failed"; }
	fi
	OS=$VMB/rootfs-1.0-good.ext4
	if [ ! -f "$OS" ] || [ scripts/build-os.sh -nt "$OS" ] || [ "$KEY.pub" -nt "$OS" ]; then
		BUILD=$BUILD scripts/build-os.sh --version 1.0 --flavor good --out "$OS" --pubkey "$KEY.pub" \
			>"$VMB/os.log" 2>&1 || { tail -20 "$VMB/os.log"; vm_die "build-os failed"; }
	fi
}

# stick IMG BUNDLE-DIR: a FAT32 stick image (no partition table) holding the bundle
stick() {
	rm -f "$1"
	mkfs.vfat -F 32 -n LIFEBOAT -C "$1" $((96 * 1024)) >/dev/null || vm_die "mkfs.vfat failed"
	mcopy -s -i "$1" "$2"/* ::/ || vm_die "mcopy failed"
}

# pv_start NAME DISK STICK TIMEOUT [KERNEL ARGS]: boot the rescue system with the
# blank disk and the stick (QEMU's DMI serial number: vm1)
pv_start() {
	local name=$1 disk=$2 st=$3 t=$4 args=${5:-}
	# shellcheck disable=SC2054 # QEMU's options have commas
	VM_EXTRA=(-smbios type=1,serial=vm1 -device qemu-xhci
		-drive "if=none,id=stick,format=raw,file=$st" -device usb-storage,drive=stick)
	vm_start "$name" "$disk" "$t" "lifeboat.usbwait=10 lifeboat.wait=0 $args"
}

blank_disk() { rm -f "$1" && truncate -s 160M "$1"; }
disk_hash() { sha256sum <"$1" | cut -c1-64; }

pkgs_listed() { # the last package list the main OS printed has exactly these
	local want got
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	got=$(tr -d '\r' <"$W/$CUR.log" | sed -n 's/^lifeboat main: pkg \([^ ]*\) .*/\1/p' | sort -u | tr '\n' ' ')
	[ "$want" = "$got" ] || { echo "packages: want '$want', got '$got'"; return 1; }
}
stick_has_log() { mtype -i "$1" "::/lifeboat-log/$2.log" >"$W/stick-log.txt" 2>/dev/null && grep -q "$3" "$W/stick-log.txt"; }

pv_build
vm_pool "$W/pool"
MASTER_PORT=9 # nothing listens: the device needs no network
vm_publish product-v1 1.0 "$OS" >"$W/publish.log" 2>&1 || { cat "$W/publish.log"; vm_die "publish failed"; }
printf 'Boot-Max-Attempts: 4\n' >"$W/extra.conf"
"$BUILD/lifeboat-master" export --tree "$W/tree" --group vm --key "$KEY" --out "$W/bundle" \
	--device vm1 --master http://10.0.2.100 --conf "$W/extra.conf" >"$W/export.log" 2>&1 ||
	{ cat "$W/export.log"; vm_die "export failed"; }
stick "$W/stick.img" "$W/bundle"

# 1. blank disk + stick -> provisioned, boots its main OS -------------------------------
case_good() {
	CUR=good
	blank_disk "$W/good.img"
	cp "$W/stick.img" "$W/good-stick.img"
	pv_start good "$W/good.img" "$W/good-stick.img" 600 "lifeboat.main.poweroff"
	vm_end
	check "the stick's bundle was found and verified" seen "lifeboat provision: provisioning /dev/vda for group vm, device vm1"
	check "the blank disk was partitioned" seen "lifeboat provision: /dev/vda: blank, now partitioned"
	check "the OS image was written from the stick" seen "lifeboat provision: writing the OS image"
	check "'done, remove the stick' on the console" seen "lifeboat provision: done, remove the stick"
	check "the main OS booted on slot a" seen "lifeboat main: up \(version 1.0, slot a\)"
	check "its packages are the group's" pkgs_listed legacy-ui product-v1 sensor-daemon
	check "the log is on the stick (lifeboat-log/vm1.log)" stick_has_log "$W/good-stick.img" vm1 "provisioned: group vm, device vm1"
	sfdisk -d "$W/good.img" >"$W/good.sfdisk" 2>&1
	check "the disk has the bundle's GPT layout" \
		grep -q 'name="rootfs-a"' "$W/good.sfdisk"
	# the stick left in: the next boot leaves the device as it is
	CUR=good-2
	pv_start good-2 "$W/good.img" "$W/good-stick.img" 300 "lifeboat.main.poweroff"
	vm_end
	check "a second boot with the stick does not provision again" \
		seen "provisioned from this bundle already: remove the stick"
	check "and boots the main OS" seen "lifeboat main: up \(version 1.0, slot a\)"
}

# refused NAME STICK [ARGS] MESSAGE: a blank disk that must stay as it was
refused() {
	local name=$1 st=$2 args=$3 msg=$4
	CUR=$name
	blank_disk "$W/$name.img"
	local before
	before=$(disk_hash "$W/$name.img")
	pv_start "$name" "$W/$name.img" "$st" 300 "$args"
	if vm_wait "$name" "lifeboat provision: refused" 240; then
		sleep 12 # what /init does next (no state partition: a shell)
	fi
	vm_kill "$W/$name.img"
	check "refused with a clear message" seen "lifeboat provision: refused: .*$msg"
	check "the disk is untouched (same sha256)" test "$(disk_hash "$W/$name.img")" = "$before"
	check "nothing was written" not_seen "now partitioned|writing the OS image"
}

# 2. a stick signed with another key ---------------------------------------------------
case_badkey() {
	"$BUILD/lifeboat-master" keygen "$W/other.key" >/dev/null 2>&1
	"$BUILD/lifeboat-master" publish --pool "$W/pool" --desired "$W/master.conf" --key "$W/other.key" \
		--out "$W/tree-other" >/dev/null 2>&1 || vm_die "publish with another key failed"
	"$BUILD/lifeboat-master" export --tree "$W/tree-other" --group vm --key "$W/other.key" \
		--out "$W/bundle-other" --device vm1 >/dev/null 2>&1 || vm_die "export with another key failed"
	stick "$W/stick-badkey.img" "$W/bundle-other"
	refused badkey "$W/stick-badkey.img" "" "signature"
}

# 3. a stick for another group -----------------------------------------------------------
case_group() {
	cp "$W/stick.img" "$W/stick-group.img"
	refused group "$W/stick-group.img" "lifeboat.group=other" "for group 'vm', this device is in 'other'"
}

# 4. a power cut while the image is written, then the stick again ------------------------
case_powercut() {
	CUR=powercut
	blank_disk "$W/powercut.img"
	cp "$W/stick.img" "$W/powercut-stick.img"
	pv_start powercut "$W/powercut.img" "$W/powercut-stick.img" 600 "lifeboat.main.poweroff"
	if vm_wait powercut "lifeboat provision: writing the OS image" 300; then
		sleep 4
		ok "$CUR: the OS write started"
	else
		nok "$CUR: the OS write never started"
	fi
	vm_kill "$W/powercut.img"
	check "cut before the end" not_seen "done, remove the stick"
	CUR=powercut-2
	pv_start powercut-2 "$W/powercut.img" "$W/powercut-stick.img" 600 "lifeboat.main.poweroff"
	vm_end
	check "the partitions were kept" seen "partitioned as the layout says"
	check "the provisioning resumed" seen "resuming the provisioning this stick started"
	check "'done, remove the stick'" seen "lifeboat provision: done, remove the stick"
	check "the main OS booted with its packages" pkgs_listed legacy-ui product-v1 sensor-daemon
}

# 5. the stick pulled mid-way: the rescue system rebuilds from the network --------------
case_pulled() {
	CUR=pulled
	blank_disk "$W/pulled.img"
	cp "$W/stick.img" "$W/pulled-stick.img"
	pv_start pulled "$W/pulled.img" "$W/pulled-stick.img" 600
	vm_wait pulled "lifeboat provision: writing the OS image" 300 && sleep 4
	vm_kill "$W/pulled.img"
	check "cut before the end" not_seen "done, remove the stick"
	# no stick now; the master the bundle names is up
	CUR=pulled-2
	MASTER_PORT=""
	vm_master_start
	# shellcheck disable=SC2054 # QEMU's options have commas
	VM_EXTRA=(-smbios type=1,serial=vm1)
	vm_start pulled-2 "$W/pulled.img" 900 "lifeboat.wait=0 lifeboat.main.poweroff"
	vm_end
	vm_master_stop
	check "the interrupted provisioning is noticed" seen "provisioning from a USB stick was interrupted"
	check "the slot is rebuilt from the master" seen "lifeboat rescue: slot a rebuilt"
	check "the main OS booted with its packages" pkgs_listed legacy-ui product-v1 sensor-daemon
}

ALL="good badkey group powercut pulled"
# shellcheck disable=SC2068 # the default list is split on purpose
for c in ${@:-$ALL}; do
	case " $ALL " in *" $c "*) "case_$c" ;; *) nok "unknown case $c" ;; esac
done
echo "vm-provision: $pass passed, $fail failed"
[ "$fail" = 0 ]
