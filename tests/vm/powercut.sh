#!/bin/bash
# Power cuts while `lifeboat os write` writes an OS image onto a slot, in QEMU (TCG,
# never KVM; a hard timeout on every run). The rescue shell (lifeboat.rescue=shell)
# runs the write; the host watches the slot fill up on the disk image and kills QEMU
# (SIGKILL: the guest's page cache is lost, what reached the disk stays) once a given
# share of the image is on the medium: three cuts, early, middle and late, each in a
# new boot that starts the write again. Then a write that is not cut must finish,
# verify (os write reads the slot back), record STATE/os as complete, and write fewer
# blocks than the image has: at most those that were not yet right on the medium at
# the last cut (it resumes, it never starts over).
#
#   tests/vm/powercut.sh [CASE...]   cases: block ubi   (default: both)
#
#   block  rootfs-a, a partition of the virtio disk, every block different from the
#          image at first; afterwards the device boots normally: the main OS comes up
#   ubi    a dynamic UBI volume on block2mtd over a second virtio disk (NAND that
#          keeps its contents across a power cut, unlike nandsim's RAM); afterwards
#          the volume is read through ubiblock and mounted
#
# Environment: BUILD [build], SYSROOT [build/sysroot]. KEEP=1 keeps the work
# directory with every console log. Last line: "vm-powercut: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/vm/vmlib.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
nok() {
	fail=$((fail + 1))
	echo "FAIL $*"
	[ -n "${CUR:-}" ] && [ -f "$W/$CUR.log" ] && { echo "---- console ($CUR, last 30 lines)"; tr -d '\r' <"$W/$CUR.log" | tail -n 30; echo; }
}
check() { # DESCRIPTION COMMAND...: one test line
	local d=$1
	shift
	if "$@"; then ok "$CUR: $d"; else nok "$CUR: $d"; fi
}
seen() { tr -d '\r' <"$W/$CUR.log" | grep -qE "$1"; }

W=$(mktemp -d /tmp/lifeboat-vmpowercut.XXXXXX)
cleanup() {
	vm_cleanup
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T0=$(date +%s)
# ---- the master and the device, once ------------------------------------------
vm_build
vm_pool "$W/pool"
IMG=$VMB/rootfs-1.0-good.ext4
vm_publish product-v1 1.0 "$IMG" >"$W/publish.log" 2>&1 ||
	{ cat "$W/publish.log"; vm_die "publish failed"; }
vm_master_start
vm_conf "$W/lifeboat.conf"
vm_disk "$W/blank.img" "$IMG" "$W/lifeboat.conf"
# The same rescue system uncompressed: under TCG the kernel's xz decoder takes ~15 s
# of every boot, and this test boots nine times.
xz -dc "$INITRD" >"$W/initramfs.cpio" || vm_die "xz -dc $INITRD failed"
INITRD=$W/initramfs.cpio

CUTS="0.15 0.5 0.8"     # share of the image on the medium when the power goes
BWLIMIT=1500000         # bytes/s: the download never outruns what the test can watch
LB="lifeboat --state /state"
WRITE_ARGS="--config /state/lifeboat.conf --pubkey /etc/lifeboat/master.pub"
DHCP="udhcpc -i eth0 -q -n -s /etc/lifeboat/udhcpc.script >/dev/null 2>&1"

# progress.py MODE CONSOLE-LOG PIDFILE TARGET TIMEOUT ARGS...: wait until TARGET
# blocks of the image are right on the medium, print how many are. Exit 0: reached;
# 2: the write ended first (the console shows WRITE-RC=N); 3: QEMU is gone; 1: time out.
#   block IMAGE DISK OFFSET              blocks of 128 KiB of the image at OFFSET of DISK
#   ubi   IMAGE NAND PEB-SIZE VID-OFFSET LEBs of volume 0 on NAND (block2mtd: a raw
#                                        image of PEBs), the newest copy of each
cat >"$W/progress.py" <<'PY'
import os, re, struct, sys, time
mode, log, pidfile, target, timeout = sys.argv[1:6]
target, deadline = int(target), time.time() + float(timeout)
image = open(sys.argv[6], "rb").read()

# Blocks whose first `part` bytes are the image's (part None: all of them): a
# cheap look every quarter of a second, an exact count when it says enough.
def block_right(part, disk, off):
    bs, off, n = 128 << 10, int(off), 0
    with open(disk, "rb") as f:
        for o in range(0, len(image), bs):
            want = image[o:o + bs][:part]
            n += os.pread(f.fileno(), len(want), off + o) == want
    return n

def ubi_right(part, nand, peb, vid):
    peb, vid = int(peb), int(vid)
    leb_start = vid + 64
    leb = peb - leb_start           # block2mtd: min. I/O unit of 1 byte
    newest = {}                     # lnum -> (sqnum, PEB)
    with open(nand, "rb") as f:
        fd = f.fileno()
        for p in range(os.fstat(fd).st_size // peb):
            h = os.pread(fd, leb_start, p * peb)
            if h[0:4] != b"UBI#" or h[vid:vid + 4] != b"UBI!":
                continue
            vol_id, lnum = struct.unpack(">II", h[vid + 8:vid + 16])
            sqnum = struct.unpack(">Q", h[vid + 40:vid + 48])[0]
            if vol_id == 0 and (lnum not in newest or newest[lnum][0] < sqnum):
                newest[lnum] = (sqnum, p)
        n = 0
        for lnum, (_, p) in newest.items():
            want = image[lnum * leb:(lnum + 1) * leb][:part]
            n += bool(want) and os.pread(fd, len(want), p * peb + leb_start) == want
    return n

def right(part):
    try:
        if mode == "block":
            return block_right(part, *sys.argv[7:9])
        return ubi_right(part, *sys.argv[7:10])
    except (OSError, struct.error):
        return 0

while True:
    if right(4096) >= target:
        n = right(None)
        if n >= target:
            print(n); sys.exit(0)
    text = open(log, "rb").read().decode("latin-1")
    if re.search(r"WRITE-RC=[0-9]", text):
        print(right(None)); sys.exit(2)
    try:
        os.kill(int(open(pidfile).read()), 0)
    except (OSError, ValueError):
        print(right(None)); sys.exit(3)
    if time.time() > deadline:
        print(right(None)); sys.exit(1)
    time.sleep(0.25)
PY

# power_cut NAME: SIGKILL to QEMU (by the pid it wrote), as the plug is pulled
power_cut() {
	local pid
	pid=$(cat "$W/$1.pid" 2>/dev/null)
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	wait "$VM_PID" 2>/dev/null
	return 0
}

# boot_shell NAME DISK: boot the rescue system into its shell
boot_shell() {
	vm_start "$1" "$2" 300 "lifeboat.rescue=shell"
	if ! vm_wait "$1" "shell on the console" 150; then
		nok "$1: no rescue shell"
		return 1
	fi
	sleep 1
}

# json_field NAME FIELD: a number from the os-written JSON line on NAME's console
json_field() {
	tr -d '\r' <"$W/$1.log" | grep '"event":"os-written"' | tail -1 |
		sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

# cut_runs KIND DISK NBLOCKS SETUP-FIRST SETUP-AGAIN SLOT PROGRESS-ARGS...: the
# power cuts; sets LAST_RIGHT (blocks right on the medium at the last cut)
cut_runs() {
	local kind=$1 disk=$2 nblocks=$3 setup1=$4 setup=$5 slot=$6
	shift 6
	local k=0 f target right rc
	LAST_RIGHT=0
	for f in $CUTS; do
		k=$((k + 1))
		CUR=$kind-cut$k
		target=$(python3 -c "import math; print(max(1, math.ceil($f * $nblocks)))")
		boot_shell "$CUR" "$disk" || { power_cut "$CUR"; continue; }
		[ $k = 1 ] || setup1=$setup
		vm_type "$CUR" "$(printf '%s\r' "$setup1" \
			"$DHCP; $LB os write --slot $slot $WRITE_ARGS --bwlimit $BWLIMIT 2>/tmp/write.log; echo WRITE-RC=\$?; tail -n 3 /tmp/write.log")"
		right=$(python3 "$W/progress.py" "$kind" "$W/$CUR.log" "$W/$CUR.pid" "$target" 200 \
			"$IMG" "$@")
		rc=$?
		power_cut "$CUR"
		if [ $rc = 0 ]; then
			ok "$CUR: power cut with $right of $nblocks blocks on the medium (target $target)"
			LAST_RIGHT=$right
		else
			nok "$CUR: no power cut mid-write (progress.py exit $rc, $right of $nblocks blocks right)"
		fi
	done
}

# final_write KIND DISK NBLOCKS SETUP SLOT: the write that is not cut, and its checks
final_write() {
	local kind=$1 disk=$2 nblocks=$3 setup=$4 slot=$5
	CUR=$kind-final
	boot_shell "$CUR" "$disk" || return 1
	vm_type "$CUR" "$(printf '%s\r' "$setup" \
		"$LB os status >/dev/null 2>&1; echo PRE-RC=\$?" \
		"$DHCP; $LB --json os write --slot $slot $WRITE_ARGS 2>/tmp/write.log; echo WRITE-RC=\$?; tail -n 3 /tmp/write.log" \
		"$LB os status >/tmp/status 2>&1; echo POST-RC=\$?; cat /tmp/status" \
		"grep -q complete /tmp/status && ! grep -q incomplete /tmp/status && echo STATUS-COMP''LETE")"
	vm_wait "$CUR" "POST-RC=[0-9]" 300
	vm_wait "$CUR" "STATUS-COMPLETE" 10
	check "STATE/os said incomplete after the cuts (os status exit 1)" seen "PRE-RC=1"
	check "os write finished and read the image back (exit 0)" seen "WRITE-RC=0"
	check "STATE/os says complete (os status exit 0)" seen "POST-RC=0"
	check "os status: complete, not incomplete" seen "^STATUS-COMPLETE"
	local blocks written
	blocks=$(json_field "$CUR" blocks)
	written=$(json_field "$CUR" written)
	if [ -n "$blocks" ] && [ -n "$written" ] && [ "$blocks" = "$nblocks" ] &&
		[ "$written" -lt "$blocks" ] && [ "$written" -le $((blocks - LAST_RIGHT)) ]; then
		ok "$CUR: resumed: wrote $written of $blocks blocks (at most $((blocks - LAST_RIGHT)) were left)"
	else
		nok "$CUR: wrote ${written:-?} of ${blocks:-?} blocks (expected $nblocks blocks, at most $((nblocks - LAST_RIGHT)) written)"
	fi
}

# part_info DISK NAME: byte offset and number of a GPT partition
part_info() {
	sfdisk -J "$1" | python3 -c '
import json, re, sys
t = json.load(sys.stdin)["partitiontable"]
for p in t["partitions"]:
    if p.get("name") == sys.argv[1]:
        print(p["start"] * 512, re.search(r"([0-9]+)$", p["node"]).group(1))' "$2"
}

IMG_SIZE=$(stat -c %s "$IMG")
IMG_SHA=$(sha256sum "$IMG" | cut -d' ' -f1)

# 1. rootfs-a on the virtio disk ---------------------------------------------------
case_block() {
	local disk=$W/block.img off partno
	cp --sparse=always "$W/blank.img" "$disk"
	read -r off partno < <(part_info "$disk" rootfs-a)
	# a slot that holds none of the image: every block must be written
	head -c "$IMG_SIZE" /dev/zero | tr '\0' '\252' |
		dd of="$disk" bs=1M seek=$((off / 1048576)) conv=notrunc status=none
	local nblocks=$(((IMG_SIZE + 131071) / 131072)) slot=/dev/vda$partno
	VM_EXTRA=()
	cut_runs block "$disk" "$nblocks" ":" ":" "$slot" "$disk" "$off"
	final_write block "$disk" "$nblocks" ":" "$slot"
	vm_type "$CUR" "$(printf 'poweroff -f\r')"
	vm_end
	check "the slot holds the image (sha256 on the host)" test \
		"$(head -c $((off + IMG_SIZE)) "$disk" | tail -c "$IMG_SIZE" | sha256sum | cut -d' ' -f1)" = "$IMG_SHA"
	CUR=block-boot
	vm_start "$CUR" "$disk" 300 "lifeboat.main.poweroff"
	check "the device boots the written slot: main OS up" vm_wait "$CUR" "lifeboat main: up \(version 1.0, slot a\)" 240
	vm_end
}

# 2. a UBI volume on block2mtd ------------------------------------------------------
case_ubi() {
	local disk=$W/ubi.img nand=$W/nand.img
	cp --sparse=always "$W/blank.img" "$disk"
	truncate -s 64M "$nand"
	VM_EXTRA=(-drive "file=$nand,format=raw,if=virtio")
	# block2mtd: 128 KiB eraseblocks, 1-byte pages: UBI's headers at 0 and 64, LEBs of
	# 128 KiB - 128 bytes
	local mtd="echo /dev/vdb,131072 >/sys/module/block2mtd/parameters/block2mtd"
	local leb=$((131072 - 128))
	local nblocks=$(((IMG_SIZE + leb - 1) / leb))
	cut_runs ubi "$disk" "$nblocks" \
		"$mtd && ubiformat -y -q /dev/mtd0 && ubiattach -m 0 && ubimkvol /dev/ubi0 -N rootfs-a -s 56MiB && sync && echo UBI-READY" \
		"$mtd && ubiattach -m 0 && echo UBI-READY" /dev/ubi0_0 "$nand" 131072 64
	final_write ubi "$disk" "$nblocks" "$mtd && ubiattach -m 0 && echo UBI-READY" /dev/ubi0_0
	vm_type "$CUR" "$(printf '%s\r' \
		'ubiblock -c /dev/ubi0_0 && mkdir -p /mnt/u && mount -o ro /dev/ubiblock0_0 /mnt/u && cat /mnt/u/etc/os-release && echo MOUNT-RC=$?' \
		'poweroff -f')"
	vm_end
	check "the volume holds the image: mounted through ubiblock" seen "MOUNT-RC=0"
	check "it is the published OS 1.0" seen "VERSION_ID=\"?1.0"
	VM_EXTRA=()
}

ALL="block ubi"
SEL=${*:-$ALL}
for c in $SEL; do
	CUR=$c
	t0=$(date +%s)
	"case_$c"
	echo "     ($c: $(($(date +%s) - t0)) s)"
done
echo "     (total with the build: $(($(date +%s) - T0)) s)"
echo "vm-powercut: $pass passed, $fail failed"
[ "$fail" = 0 ]
