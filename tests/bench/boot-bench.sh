#!/bin/bash
# Boot benchmark (issue 4), run at the end of tests/bench/run.sh (`make bench`):
#   1. the rescue initramfs's compressed size, by component (goal <= 8 MiB without
#      the kernel, aiming at 4)
#   2. power-on to the main OS's userspace ("lifeboat main: up"), with the rescue
#      stage in front (rescue kernel -> count -> verify -> kexec) and without it
#      (the main kernel + its initrd booted directly), QEMU TCG, same run
#   3. a failed boot to a healthy main OS: the slot corrupted, QEMU started, until
#      the rebuilt main OS is up; the image size beside it
# Times are QEMU wall clock (software emulation: a real board is faster).
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/vm/vmlib.sh
W=$(mktemp -d /tmp/lifeboat-bootbench.XXXXXX)
trap 'vm_cleanup; rm -rf "$W"' EXIT
trap 'exit 130' INT TERM

vm_build
echo "== rescue initramfs ($BUILD/initramfs.cpio.xz)"
sed -n '/^initramfs contents/,$p' "$VMB/initramfs.log"
size=$(stat -c %s "$BUILD/initramfs.cpio.xz")
echo "initramfs: $size bytes = $(awk "BEGIN{printf \"%.2f\", $size/1048576}") MiB xz (goal <= 8 MiB, aim 4)"

vm_pool "$W/pool"
vm_publish product-v1 1.0 "$VMB/rootfs-1.0-good.ext4" >"$W/publish.log" 2>&1 ||
	{ cat "$W/publish.log"; exit 1; }
vm_master_start
vm_conf "$W/lifeboat.conf"
vm_disk "$W/disk.img" "$VMB/rootfs-1.0-good.ext4" "$W/lifeboat.conf"

# ms_until NAME PATTERN: milliseconds from the VM's start to the first console line
# matching PATTERN (polled every 50 ms)
ms_until() {
	local t0=$1 name=$2 pat=$3
	while kill -0 "$VM_PID" 2>/dev/null; do
		tr -d '\r' 2>/dev/null <"$W/$name.log" | grep -qE "$pat" && break
		sleep 0.05
	done
	tr -d '\r' <"$W/$name.log" | grep -qE "$pat" || { echo "never"; return; }
	echo $((($(date +%s%N) - t0) / 1000000))
}

echo "== power-on to the main OS's userspace (QEMU TCG)"
# with the rescue stage: the bootloader's kernel + initramfs, kexec into slot a
t0=$(date +%s%N)
vm_start rescued "$W/disk.img" 300 "lifeboat.main.poweroff lifeboat.wait=0"
with=$(ms_until "$t0" rescued "lifeboat main: up")
kexec_at=$(tr -d '\r' <"$W/rescued.log" | grep -c "kexec slot a")
vm_end
# without: the slot's own kernel and initrd booted directly
debugfs -R "dump /boot/vmlinuz $W/vmlinuz" "$VMB/rootfs-1.0-good.ext4" >/dev/null 2>&1
debugfs -R "dump /boot/initrd.img $W/initrd.img" "$VMB/rootfs-1.0-good.ext4" >/dev/null 2>&1
cmdline=$(debugfs -R "cat /boot/cmdline" "$VMB/rootfs-1.0-good.ext4" 2>/dev/null)
t0=$(date +%s%N)
KERNEL=$W/vmlinuz INITRD=$W/initrd.img vm_start direct "$W/disk.img" 300 \
	"root=/dev/vda3 rw lifeboat.slot=a lifeboat.main.poweroff $cmdline"
without=$(ms_until "$t0" direct "lifeboat main: up")
vm_end
echo "with the rescue stage:    $with ms (kexec'd: $kexec_at)"
echo "without (direct boot):    $without ms"
[ "$with" != never ] && [ "$without" != never ] &&
	echo "rescue stage costs:       $((with - without)) ms"

echo "== failed boot to a healthy main OS (slot corrupted, rebuilt from the master)"
read -r off _ < <(sfdisk -J "$W/disk.img" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == "rootfs-a": print(p["start"] * 512, p["size"] * 512)')
head -c 65536 /dev/urandom | dd of="$W/disk.img" bs=4096 seek=$((off / 4096)) conv=notrunc status=none
t0=$(date +%s%N)
vm_start rebuild "$W/disk.img" 600 "lifeboat.main.poweroff lifeboat.wait=0"
rescue_at=$(ms_until "$t0" rebuild "rescue mode")
up_at=$(ms_until "$t0" rebuild "lifeboat main: up")
vm_end
img=$(stat -c %s "$VMB/rootfs-1.0-good.ext4")
zimg=$(find "$W/tree/images" -name '*.zst' -exec stat -c %s {} + 2>/dev/null | head -n 1)
echo "image: $((img / 1048576)) MiB ext4, ${zimg:-?} bytes zstd on the wire"
echo "power-on -> rescue mode:  $rescue_at ms"
echo "power-on -> healthy:      $up_at ms (rebuild + package install + kexec included)"
