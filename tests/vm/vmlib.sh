# Shared by the QEMU tests (tests/vm/*.sh) and the demo (scripts/demo.sh): build
# what a device and its master need, run the master (nginx on loopback), boot the
# device in QEMU (TCG, hard timeout), watch its console.
#
# Sourced from bash with the repository as the working directory. Sets and uses:
#   BUILD [build]   VMB=$BUILD/vm (keys, OS images, pool, disk)   W (work dir)
#   SYSROOT [build/sysroot: where scripts/fetch-debs.sh puts it, whatever BUILD is]
#   INITRD [$BUILD/initramfs.cpio.xz]   VM_EXTRA (array): more QEMU arguments for vm_start
# Every QEMU and nginx started here is stopped by vm_cleanup (call it from a trap).

BUILD=${BUILD:-build}
SYSROOT=${SYSROOT:-build/sysroot}
export SYSROOT # build-os.sh, build-disk.sh and run-vm.sh read it
INITRD=${INITRD:-$BUILD/initramfs.cpio.xz}
VM_EXTRA=()
VMB=$BUILD/vm
KEY=$VMB/master.key
VM_PIDS=""
NGINX_PID=""

vm_die() { echo "vm: $*" >&2; exit 1; }

# vm_build: binaries, sysroot, a master key pinned in the initramfs, OS images
# (good 1.0 and 2.0, and two broken flavors), a disk with an empty state.
# Quiet unless something fails; rebuilds only what is missing or older.
vm_build() {
	mkdir -p "$VMB"
	make -s BUILD="$BUILD" "$BUILD/lifeboat" "$BUILD/lifeboat-master" >"$VMB/make.log" 2>&1 ||
		{ tail -20 "$VMB/make.log"; vm_die "make failed"; }
	[ -f "$SYSROOT/KVER" ] || scripts/fetch-debs.sh >"$VMB/fetch.log" 2>&1 ||
		{ tail -20 "$VMB/fetch.log"; vm_die "scripts/fetch-debs.sh failed"; }
	[ -f "$KEY" ] || "$BUILD/lifeboat-master" keygen "$KEY" >/dev/null 2>&1 ||
		vm_die "keygen failed"
	if [ ! -f "$BUILD/initramfs.cpio.xz" ] || [ "$BUILD/lifeboat" -nt "$BUILD/initramfs.cpio.xz" ] ||
		[ initramfs/init -nt "$BUILD/initramfs.cpio.xz" ] ||
		[ initramfs/provision.sh -nt "$BUILD/initramfs.cpio.xz" ] ||
		! cmp -s "$KEY.pub" "$BUILD/initramfs/etc/lifeboat/master.pub"; then
		SYSROOT=$SYSROOT BUILD=$BUILD PUBKEY=$KEY.pub scripts/build-initramfs.sh \
			>"$VMB/initramfs.log" 2>&1 ||
			{ tail -20 "$VMB/initramfs.log"; vm_die "build-initramfs failed"; }
	fi
	local v f
	for v in 1.0:good 2.0:good 2.1:panic 2.2:hang; do
		f=$VMB/rootfs-${v%%:*}-${v#*:}.ext4
		if [ ! -f "$f" ] || [ "$BUILD/lifeboat" -nt "$f" ] || [ scripts/build-os.sh -nt "$f" ] ||
			[ "$KEY.pub" -nt "$f" ]; then
			BUILD=$BUILD scripts/build-os.sh --version "${v%%:*}" --flavor "${v#*:}" --out "$f" --pubkey "$KEY.pub" \
				>"$VMB/os.log" 2>&1 || { tail -20 "$VMB/os.log"; vm_die "build-os $v failed"; }
		fi
	done
}

# vm_pool DIR: the packages the master offers (small, made with dpkg-deb)
vm_pool() {
	local pool=$1 d
	mkdir -p "$pool"
	# mkpkg-lite NAME VERSION DEPENDS FILE=CONTENT...
	mk() {
		local name=$1 ver=$2 dep=$3
		shift 3
		d=$W/src/$name-$ver
		rm -rf "$d"
		mkdir -p "$d/DEBIAN"
		printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: lifeboat <t@example.invalid>\nDescription: demo package\n' \
			"$name" "$ver" >"$d/DEBIAN/control"
		[ -n "$dep" ] && echo "Depends: $dep" >>"$d/DEBIAN/control"
		local kv
		for kv in "$@"; do
			mkdir -p "$d/$(dirname "${kv%%=*}")"
			printf '%s\n' "${kv#*=}" >"$d/${kv%%=*}"
		done
		dpkg-deb -Zgzip --root-owner-group --build "$d" "$pool/${name}_${ver}_all.deb" >/dev/null
	}
	mk sensor-daemon 2.0 "" usr/sbin/sensord="#!/bin/sh" etc/sensord.conf="interval=10"
	mk legacy-ui 1.0 "" usr/share/legacy-ui/index.html="old ui"
	mk web-ui 3.0 "" usr/share/web-ui/index.html="new ui"
	mk product-v1 1.0 "sensor-daemon, legacy-ui"
	mk product-v2 1.0 "sensor-daemon, web-ui"
}

# vm_publish SERIAL-NAME PRODUCT IMAGE-VERSION IMAGE-FILE: publish group "vm"
vm_publish() {
	local product=$1 iver=$2 img=$3
	cat >"$W/master.conf" <<CONF
Group: vm
Packages: $product
Image: $(realpath "$img")
Image-Version: $iver

Device: vm1
Group: vm
CONF
	"$BUILD/lifeboat-master" publish --pool "$W/pool" --desired "$W/master.conf" \
		--key "$KEY" --out "$W/tree"
}

# vm_master_start: nginx serving $W/tree on a free loopback port ($MASTER_PORT)
vm_master_start() {
	local n=$W/nginx
	mkdir -p "$n/tmp" "$W/tree"
	[ -n "${MASTER_PORT:-}" ] || MASTER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat >"$n/nginx.conf" <<NGINX
user root;
worker_processes 1;
pid $n/nginx.pid;
error_log $n/error.log;
events { worker_connections 64; }
http {
	log_format lbfmt '\$request_method \$uri \$status \$body_bytes_sent';
	access_log $n/access.log lbfmt;
	client_body_temp_path $n/tmp; proxy_temp_path $n/tmp; fastcgi_temp_path $n/tmp;
	uwsgi_temp_path $n/tmp; scgi_temp_path $n/tmp;
	default_type application/octet-stream;
	server { listen 127.0.0.1:$MASTER_PORT; root $W/tree; etag on; }
}
NGINX
	/usr/sbin/nginx -p "$n" -c "$n/nginx.conf" || vm_die "nginx did not start"
	sleep 0.2
	NGINX_PID=$(cat "$n/nginx.pid")
}

vm_master_stop() {
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
	NGINX_PID=""
	sleep 0.2
}

# vm_conf FILE [EXTRA LINES]: the device's lifeboat.conf (state partition)
vm_conf() {
	local f=$1
	shift
	{
		echo "Master: http://10.0.2.100"
		echo "Device-Id: vm1"
		echo "Group: vm"
		local l
		for l in "$@"; do echo "$l"; done
	} >"$f"
}

# vm_disk OUT ROOTFS CONF: a device disk (GPT: rescue, state, rootfs-a)
vm_disk() {
	BUILD=$BUILD scripts/build-disk.sh --out "$1" --rootfs "$2" --conf "$3" >"$W/disk.log" 2>&1 ||
		{ tail -20 "$W/disk.log"; vm_die "build-disk failed"; }
}

# What the board's bootloader puts on the rescue kernel's command line: 1 MiB at
# 496 MiB kept from Linux for ramoops, so that a panic's log survives the reset in
# pstore (RAM that QEMU's reset does not clear) and counts as a failed boot.
VM_BOARD_ARGS='memmap=1M$0x1f000000 ramoops.mem_address=0x1f000000 ramoops.mem_size=0x100000 ramoops.record_size=0x20000 ramoops.ecc=1'

# vm_start NAME DISK TIMEOUT [KERNEL ARGS]: boot in the background (reboots
# allowed, as a board would), console in $W/NAME.log, input from the fifo $W/NAME.in,
# QEMU's pid in $W/NAME.pid, the arguments in VM_EXTRA added; sets VM_PID. The guest
# reaches the master as http://10.0.2.100: QEMU runs one socat per guest connection
# to nginx on loopback (guestfwd's "cmd:" form; its "tcp:" form opens a single
# connection when QEMU starts, and fails when the master is down then)
vm_start() {
	local name=$1 disk=$2 t=$3 args=${4:-}
	rm -f "$W/$name.in"
	mkfifo "$W/$name.in"
	# keep the fifo open for writing, so QEMU sees no end of input
	eval "exec {VM_IN}<>\"$W/$name.in\""
	rm -f "$W/$name.pid"
	INITRD=$INITRD scripts/run-vm.sh -r -t "$t" -a "$VM_BOARD_ARGS $args" -l "$W/$name.log" -- \
		-pidfile "$W/$name.pid" -drive "file=$disk,format=raw,if=virtio" "${VM_EXTRA[@]}" \
		-device i6300esb -action watchdog=reset \
		-netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:socat STDIO TCP:127.0.0.1:$MASTER_PORT" \
		-device virtio-net-pci,netdev=n0 \
		<"$W/$name.in" >/dev/null 2>"$W/$name.err" &
	VM_PID=$!
	VM_PIDS="$VM_PIDS $VM_PID"
}

# vm_type NAME TEXT: type on the device's serial console
vm_type() { printf '%s' "$2" >"$W/$1.in"; }

# vm_wait NAME PATTERN SECONDS: wait until the console shows PATTERN (grep -E);
# fails if QEMU exits first or time runs out
vm_wait() {
	local i=0 lim=$(($3 * 5))
	while [ $i -lt $lim ]; do
		tr -d '\r' 2>/dev/null <"$W/$1.log" | grep -qE "$2" && return 0
		kill -0 "$VM_PID" 2>/dev/null || { tr -d '\r' 2>/dev/null <"$W/$1.log" | grep -qE "$2"; return; }
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# vm_end: wait for QEMU to exit (the guest powers off); returns its status
vm_end() {
	wait "$VM_PID"
}

# vm_kill DISK: a power cut: QEMU killed at once (the guest's page cache is lost,
# what it wrote to the disk image stays)
vm_kill() {
	pkill -9 -f "qemu-system-x86_64 .*file=$1," 2>/dev/null
	wait "$VM_PID" 2>/dev/null
	return 0
}

vm_cleanup() {
	local p
	for p in $VM_PIDS; do
		kill "$p" 2>/dev/null # run-vm.sh stops its QEMU
	done
	[ -n "${W:-}" ] && pkill -9 -f "qemu-system-x86_64 .*file=$W/" 2>/dev/null
	vm_master_stop
}
