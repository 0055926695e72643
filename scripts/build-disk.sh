#!/bin/sh
# Build a device's disk image: a GPT (sfdisk on the regular file, no loop
# devices) with the partitions of SPEC.md's device layout, each filesystem made as
# a file of its own and copied in at its partition's offset. In a QEMU guest with
# -drive file=DISK,if=virtio the partitions are /dev/vda1..4.
#
#   scripts/build-disk.sh [--out FILE] [--rootfs FILE] [--conf FILE] [--slots 1|2]
#                         [--rootfs-b FILE] [--slot-size MiB]
#
#   --out        the disk image                                  [$BUILD/os/disk.img]
#   --rootfs     an OS image (scripts/build-os.sh) for slot A; without it the slot is
#                blank (zeros)
#   --conf       lifeboat.conf for the state partition (device-specific config)
#   --slots      1: rescue, state, rootfs-a; 2: and rootfs-b                     [1]
#   --rootfs-b   an OS image for slot B (implies --slots 2; default: blank)
#   --slot-size  size of each rootfs slot in MiB [the larger image rounded up, >= 64]
#
#   part  GPT name   size             holds
#   1     rescue     16 MiB (or more) ext2 "rescue": vmlinuz + initramfs.cpio.xz, the
#                                     rescue system a bootloader would start
#   2     state      32 MiB           ext4 "lbstate": lifeboat.conf (with --conf), slot-a/os
#                                     (the record of slot a's image, with --rootfs); the
#                                     rest (boot state, journal, database) comes at run time
#   3     rootfs-a   slot size        the --rootfs image, or zeros
#   4     rootfs-b   slot size        with --slots 2
#
# Environment: BUILD [build], SYSROOT [build/sysroot], RESCUE_KERNEL
# [$SYSROOT/boot/vmlinuz-KVER], RESCUE_INITRD [$BUILD/initramfs.cpio.xz] (each copied
# into the rescue partition when it exists).
set -eu

BUILD=${BUILD:-build}
SYSROOT=${SYSROOT:-$BUILD/sysroot}
OUT=$BUILD/os/disk.img
ROOTFS=""
ROOTFS_B=""
CONF=""
SLOTS=1
SLOT_MIB=""
RESCUE_MIB=16
STATE_MIB=32
MIN_SLOT_MIB=64
# GPT type "Linux filesystem data"
LINUX_FS=0FC63DAF-8483-4772-8E79-3D69D8477DE4

die() {
	echo "build-disk: $*" >&2
	exit 1
}
usage() {
	sed -n '7,16s/^# \{0,1\}//p' "$0" >&2
	exit 2
}
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
	case $1 in
	--out) need_arg "$@"; OUT=$2; shift 2 ;;
	--rootfs) need_arg "$@"; ROOTFS=$2; shift 2 ;;
	--rootfs-b) need_arg "$@"; ROOTFS_B=$2; SLOTS=2; shift 2 ;;
	--conf) need_arg "$@"; CONF=$2; shift 2 ;;
	--slots) need_arg "$@"; SLOTS=$2; shift 2 ;;
	--slot-size) need_arg "$@"; SLOT_MIB=$2; shift 2 ;;
	-h | --help) usage ;;
	*) echo "build-disk: unknown argument '$1'" >&2; usage ;;
	esac
done
case $SLOTS in 1 | 2) ;; *) die "--slots '$SLOTS': 1 or 2" ;; esac
[ -z "$ROOTFS_B" ] || [ "$SLOTS" = 2 ] || die "--rootfs-b needs --slots 2"
case $SLOT_MIB in '') ;; *[!0-9]* | 0*) die "--slot-size '$SLOT_MIB': not a number of MiB" ;; esac
for f in "$ROOTFS" "$ROOTFS_B" "$CONF"; do
	[ -z "$f" ] || [ -f "$f" ] || die "$f: no such file"
done

if ! command -v sfdisk >/dev/null 2>&1; then
	echo "build-disk: installing fdisk (sfdisk)" >&2
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		fdisk >/dev/null || die "sfdisk missing and cannot install fdisk"
fi
for t in sfdisk mkfs.ext2 mkfs.ext4 dd truncate sha256sum; do
	command -v $t >/dev/null 2>&1 || die "$t not found"
done

# is_ext4 FILE: an ext2/3/4 superblock (magic 0xEF53 at byte 1080)
is_extfs() { [ "$(od -An -tx1 -j1080 -N2 "$1" | tr -d ' ')" = 53ef ]; }
mib_up() { echo $((($(stat -c %s "$1") + 1048575) / 1048576)); }
# uuid_of TEXT: a fixed UUID derived from TEXT (reproducible images)
uuid_of() {
	printf '%s' "$1" | sha256sum |
		sed 's/^\(.\{8\}\)\(.\{4\}\).\(.\{3\}\).\(.\{3\}\)\(.\{12\}\).*/\1-\2-4\3-8\4-\5/'
}

for f in "$ROOTFS" "$ROOTFS_B"; do
	[ -z "$f" ] || is_extfs "$f" || die "$f is not an ext2/3/4 filesystem image"
done
if [ -z "$SLOT_MIB" ]; then
	SLOT_MIB=$MIN_SLOT_MIB
	for f in "$ROOTFS" "$ROOTFS_B"; do
		[ -z "$f" ] || [ "$(mib_up "$f")" -le "$SLOT_MIB" ] || SLOT_MIB=$(mib_up "$f")
	done
else
	for f in "$ROOTFS" "$ROOTFS_B"; do
		[ -z "$f" ] || [ "$(mib_up "$f")" -le "$SLOT_MIB" ] ||
			die "$f ($(mib_up "$f") MiB) does not fit a $SLOT_MIB MiB slot"
	done
fi

mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
WORK=$OUT.d
rm -rf "$WORK"
mkdir -p "$WORK/rescue" "$WORK/state"

# 1. rescue: the rescue kernel and initramfs, as a bootloader would find them
KVER=$(cat "$SYSROOT/KVER" 2>/dev/null || true)
RESCUE_KERNEL=${RESCUE_KERNEL:-$SYSROOT/boot/vmlinuz-$KVER}
RESCUE_INITRD=${RESCUE_INITRD:-$BUILD/initramfs.cpio.xz}
rescue_what=""
if [ -f "$RESCUE_KERNEL" ]; then
	cp "$RESCUE_KERNEL" "$WORK/rescue/vmlinuz"
	rescue_what="vmlinuz"
else
	echo "build-disk: warning: no rescue kernel ($RESCUE_KERNEL)" >&2
fi
if [ -f "$RESCUE_INITRD" ]; then
	cp "$RESCUE_INITRD" "$WORK/rescue/initramfs.cpio.xz"
	rescue_what="$rescue_what initramfs.cpio.xz"
else
	echo "build-disk: warning: no rescue initramfs ($RESCUE_INITRD): run scripts/build-initramfs.sh" >&2
fi
# 16 MiB, or what the two files need (+ 2 MiB for ext2's own structures), in 8 MiB steps
need=$((($(du -sb --apparent-size "$WORK/rescue" | cut -f1) + 1048575) / 1048576 + 2))
need=$(((need + 7) / 8 * 8))
if [ "$need" -gt "$RESCUE_MIB" ]; then
	echo "build-disk: rescue partition grown from $RESCUE_MIB to $need MiB to hold kernel + initramfs" >&2
	RESCUE_MIB=$need
fi
mkfs.ext2 -q -F -b 4096 -m 0 -L rescue -U "$(uuid_of lifeboat-rescue)" \
	-E "root_owner=0:0,hash_seed=$(uuid_of lifeboat-rescue)" \
	-d "$WORK/rescue" "$WORK/rescue.fs" "${RESCUE_MIB}M" >"$WORK/mkfs.log" 2>&1 ||
	{ cat "$WORK/mkfs.log" >&2; die "mkfs.ext2 of the rescue partition failed"; }

# 2. state: the device's lifeboat.conf; lifeboat makes the rest
state_what="empty"
if [ -n "$CONF" ]; then
	cp "$CONF" "$WORK/state/lifeboat.conf"
	chmod 0644 "$WORK/state/lifeboat.conf"
	state_what="lifeboat.conf"
fi
# the record of what the factory wrote into slot a (lifeboat --slot a os status,
# beside slot a's package state): a later
# desired state naming another image makes the device rewrite the slot
if [ -n "$ROOTFS" ]; then
	mkdir -p "$WORK/state/slot-a"
	ver=$(debugfs -R "cat /etc/os-release" "$ROOTFS" 2>/dev/null | sed -n 's/^VERSION_ID="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p')
	{
		echo "Slot-Device: /dev/disk/by-partlabel/rootfs-a"
		echo "Status: complete"
		echo "Image-Version: ${ver:-unknown}"
		echo "Image-SHA256: $(sha256sum "$ROOTFS" | cut -d' ' -f1)"
		echo "Image-Size: $(stat -c %s "$ROOTFS")"
		echo "Serial: 0"
		echo "Written: $(date -u -d "@${SOURCE_DATE_EPOCH:-0}" +%Y-%m-%dT%H:%M:%SZ)"
	} >"$WORK/state/slot-a/os"
	state_what="$state_what${state_what:+, }os (the factory's image)"
	state_what=${state_what#empty, }
fi
mkfs.ext4 -q -F -b 4096 -m 0 -L lbstate -U "$(uuid_of lifeboat-state)" \
	-E "root_owner=0:0,hash_seed=$(uuid_of lifeboat-state)" \
	-d "$WORK/state" "$WORK/state.fs" "${STATE_MIB}M" >"$WORK/mkfs.log" 2>&1 ||
	{ cat "$WORK/mkfs.log" >&2; die "mkfs.ext4 of the state partition failed"; }

# The partition table -------------------------------------------------------------
# 1 MiB for the protective MBR, the GPT and alignment; 1 MiB at the end for the
# backup GPT. Partitions start on MiB boundaries.
start1=1
start2=$((start1 + RESCUE_MIB))
start3=$((start2 + STATE_MIB))
start4=$((start3 + SLOT_MIB))
end=$((start3 + SLOT_MIB * SLOTS))
total=$((end + 1))
tmp=$OUT.tmp
rm -f "$tmp"
truncate -s "${total}M" "$tmp"
part() { # START-MiB SIZE-MiB NAME
	echo "start=$(($1 * 2048)), size=$(($2 * 2048)), type=$LINUX_FS, name=\"$3\", uuid=$(uuid_of "lifeboat-part-$3")"
}
{
	echo "label: gpt"
	echo "label-id: $(uuid_of lifeboat-disk)"
	echo "unit: sectors"
	echo "first-lba: 2048"
	part $start1 "$RESCUE_MIB" rescue
	part $start2 "$STATE_MIB" state
	part $start3 "$SLOT_MIB" rootfs-a
	[ "$SLOTS" = 1 ] || part $start4 "$SLOT_MIB" rootfs-b
} >"$WORK/sfdisk.in"
sfdisk -q --no-reread --no-tell-kernel "$tmp" <"$WORK/sfdisk.in" >"$WORK/sfdisk.log" 2>&1 ||
	{ cat "$WORK/sfdisk.log" >&2; rm -f "$tmp"; die "sfdisk failed on $tmp"; }

# put FILE START-MiB: copy a filesystem in at its partition's offset (holes stay holes)
put() { dd if="$1" of="$tmp" bs=1M seek="$2" conv=notrunc,sparse status=none || die "dd $1 into $tmp failed"; }
put "$WORK/rescue.fs" $start1
put "$WORK/state.fs" $start2
[ -z "$ROOTFS" ] || put "$ROOTFS" $start3
[ -z "$ROOTFS_B" ] || [ "$SLOTS" = 1 ] || put "$ROOTFS_B" $start4
mv "$tmp" "$OUT"
rm -f "$WORK/rescue.fs" "$WORK/state.fs"

# The layout ----------------------------------------------------------------------
label() { # FILE: "ext4 'rootfs' VERSION (FLAVOR)" from its os-release when debugfs can read it
	l=$(dumpe2fs -h "$1" 2>/dev/null | sed -n "s/^Filesystem volume name: *//p")
	v=$(debugfs -R "cat /etc/os-release" "$1" 2>/dev/null | sed -n 's/^VERSION=//p' | tr -d '"')
	echo "ext4 '$l'${v:+ OS $v}"
}
echo "build-disk: $OUT: $total MiB, GPT, $SLOTS slot(s):"
printf '  %-4s %-9s %-10s %9s %8s  %s\n' part name device "start MiB" "MiB" contents
printf '  %-4s %-9s %-10s %9s %8s  %s\n' 1 rescue /dev/vda1 $start1 "$RESCUE_MIB" "ext2 'rescue': ${rescue_what:-nothing}"
printf '  %-4s %-9s %-10s %9s %8s  %s\n' 2 state /dev/vda2 $start2 "$STATE_MIB" "ext4 'lbstate': $state_what"
printf '  %-4s %-9s %-10s %9s %8s  %s\n' 3 rootfs-a /dev/vda3 $start3 "$SLOT_MIB" \
	"$([ -n "$ROOTFS" ] && echo "$(label "$ROOTFS") from $ROOTFS" || echo "blank (zeros)")"
if [ "$SLOTS" = 2 ]; then
	printf '  %-4s %-9s %-10s %9s %8s  %s\n' 4 rootfs-b /dev/vda4 $start4 "$SLOT_MIB" \
		"$([ -n "$ROOTFS_B" ] && echo "$(label "$ROOTFS_B") from $ROOTFS_B" || echo "blank (zeros)")"
fi
echo "build-disk: $(du -k "$OUT" | cut -f1) KiB allocated (sparse)"
