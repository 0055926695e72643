#!/bin/sh
# Build a main OS image: an ext4 filesystem (mkfs.ext4 -d, no mounts, no loop
# devices) holding a small BusyBox system with lifeboat, the kernel, a small
# initramfs that mounts the root and switch_roots into it, and BusyBox init.
# What is in it and how it boots: docs/os-image.md.
#
#   scripts/build-os.sh [--version V] [--flavor good|panic|hang] [--size MiB]
#                       [--out FILE] [--pubkey FILE]
#
#   --version  the OS version (/etc/os-release VERSION_ID; printed at boot)     [1.0]
#   --flavor   good: the real thing; panic: /sbin/init exits at once (the kernel
#              panics "Attempted to kill init"); hang: rcS hangs before the watchdog
#              feeder and mark-good (test images for the rescue system)          [good]
#   --size     filesystem size in MiB                 [48, or more if the tree needs it]
#   --out      the image                      [$BUILD/os/rootfs-VERSION-FLAVOR.ext4]
#   --pubkey   the master's minisign public key, pinned as /etc/lifeboat/master.pub
#              (lifeboat.conf's default Public-Key)                       [$PUBKEY]
#
# Beside the image: FILE.d/root (the staged tree), FILE.d/initrd (the initramfs's
# tree) and FILE.files (the image's file list: path, type, mode, size or link
# target; two builds of the same version and flavor give the same list).
#
# Environment: SYSROOT [build/sysroot] (scripts/fetch-debs.sh), BUILD [build],
# LIFEBOAT [$BUILD/lifeboat], CA_BUNDLE [/etc/ssl/certs/ca-certificates.crt],
# LIFEBOAT_DLOPEN [libcurl.so.4], XZ_OPTS (the initramfs's xz; the kernel's decoder
# wants --check=crc32) [-9 --check=crc32], SOURCE_DATE_EPOCH [last commit's time, else 0].
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
SYSROOT=${SYSROOT:-build/sysroot}
BUILD=${BUILD:-build}
LIFEBOAT=${LIFEBOAT:-$BUILD/lifeboat}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
LIFEBOAT_DLOPEN=${LIFEBOAT_DLOPEN-libcurl.so.4}
XZ_OPTS=${XZ_OPTS:--9 --check=crc32}
PUBKEY=${PUBKEY:-}
VERSION=1.0
FLAVOR=good
SIZE=""
OUT=""
DEFAULT_MIB=48
# modules the main OS loads itself (the initramfs loaded those of the root disk)
OS_MODULES="i6300esb virtio_net"
# modules the initramfs loads to reach the root filesystem
INITRD_MODULES="virtio_pci virtio_blk ext4 ramoops"

die() {
	echo "build-os: $*" >&2
	exit 1
}
usage() {
	sed -n '7,18s/^# \{0,1\}//p' "$0" >&2
	exit 2
}
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
	case $1 in
	--version) need_arg "$@"; VERSION=$2; shift 2 ;;
	--flavor) need_arg "$@"; FLAVOR=$2; shift 2 ;;
	--size) need_arg "$@"; SIZE=$2; shift 2 ;;
	--out) need_arg "$@"; OUT=$2; shift 2 ;;
	--pubkey) need_arg "$@"; PUBKEY=$2; shift 2 ;;
	-h | --help) usage ;;
	*) echo "build-os: unknown argument '$1'" >&2; usage ;;
	esac
done

case $VERSION in
'' | *[!A-Za-z0-9.+~_-]*) die "--version '$VERSION': use letters, digits and . + ~ _ - only" ;;
esac
case $FLAVOR in good | panic | hang) ;; *) die "--flavor '$FLAVOR': not good, panic or hang" ;; esac
case $SIZE in
'') ;;
*[!0-9]* | 0*) die "--size '$SIZE': not a number of MiB" ;;
esac
[ -n "$OUT" ] || OUT=$BUILD/os/rootfs-$VERSION-$FLAVOR.ext4

[ -f "$SYSROOT/KVER" ] || die "$SYSROOT/KVER missing: run scripts/fetch-debs.sh first"
KVER=$(cat "$SYSROOT/KVER")
[ -d "$SYSROOT/lib/modules/$KVER" ] || die "$SYSROOT/lib/modules/$KVER missing"
[ -f "$SYSROOT/boot/vmlinuz-$KVER" ] || die "$SYSROOT/boot/vmlinuz-$KVER missing"
[ -x "$SYSROOT/bin/busybox" ] || die "$SYSROOT/bin/busybox missing (busybox-static)"
[ -x "$LIFEBOAT" ] || die "$LIFEBOAT missing: run make $LIFEBOAT"
[ -f "$CA_BUNDLE" ] || die "$CA_BUNDLE missing (install ca-certificates)"
[ -z "$PUBKEY" ] || [ -f "$PUBKEY" ] || die "public key $PUBKEY missing"
for t in mkfs.ext4 debugfs dumpe2fs cpio xz readelf strip modprobe depmod sha256sum; do
	command -v $t >/dev/null 2>&1 || die "$t not found (scripts/install-deps.sh installs it)"
done

SYSROOT=$(cd "$SYSROOT" && pwd)
KMOD=$SYSROOT/lib/modules/$KVER
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
WORK=$OUT.d
ROOT=$WORK/root
IROOT=$WORK/initrd
LIST=$WORK/components # "COMPONENT PATH" per file, for the breakdown
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$SRC" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
export E2FSPROGS_FAKE_TIME="$SOURCE_DATE_EPOCH"

rm -rf "$WORK"
mkdir -p "$ROOT" "$IROOT"
: >"$LIST"

record() { echo "$1 $2" >>"$LIST"; }
# shellcheck source=scripts/lib-closure.sh
. "$SRC/scripts/lib-closure.sh"

# put COMPONENT SRC DEST [MODE]: copy one file into the root
put() {
	mkdir -p "$ROOT/$(dirname "$3")"
	rm -f "$ROOT/$3"
	cp -L "$2" "$ROOT/$3"
	chmod "${4:-0644}" "$ROOT/$3"
	record "$1" "$3"
}
# gen COMPONENT DEST MODE: write stdin to a file in the root
gen() {
	mkdir -p "$ROOT/$(dirname "$2")"
	cat >"$ROOT/$2"
	chmod "$3" "$ROOT/$2"
	record "$1" "$2"
}

# busybox_links DIR: one symbolic link per applet to /bin/busybox
busybox_links() {
	"$SYSROOT/bin/busybox" --list-full | grep -vx bin/busybox >"$WORK/applets"
	(cd "$1" && sed -n 's|/[^/]*$||p' "$WORK/applets" | sort -u | xargs mkdir -p &&
		while read -r a; do ln -sf /bin/busybox "$a"; done <"$WORK/applets")
}

# modules_for DIR LOADFILE MODULE...: copy the modules and their dependencies
# (modprobe --show-depends, deduplicated in order) under DIR/lib/modules/KVER and
# write their insmod order (absolute paths in the image) to DIR/LOADFILE
modules_for() {
	_dir=$1 _load=$2
	shift 2
	[ -f "$KMOD/modules.dep" ] || depmod -b "$SYSROOT" "$KVER"
	mkdir -p "$_dir/$(dirname "$_load")"
	: >"$_dir/$_load"
	for _m in "$@"; do
		_out=$(modprobe -d "$SYSROOT" -S "$KVER" --show-depends "$_m" 2>&1) ||
			die "module $_m: $_out"
		echo "$_out" | while read -r _verb _path _args; do
			[ "$_verb" = insmod ] || continue # "builtin NAME": nothing to load
			_rel=${_path#"$SYSROOT"/}
			if [ ! -e "$_dir/$_rel" ]; then
				mkdir -p "$_dir/$(dirname "$_rel")"
				cp "$_path" "$_dir/$_rel"
				chmod 0644 "$_dir/$_rel"
			fi
			grep -qx "/$_rel${_args:+ $_args}" "$_dir/$_load" ||
				echo "/$_rel${_args:+ $_args}" >>"$_dir/$_load"
		done
	done
	for _f in modules.order modules.builtin modules.builtin.modinfo; do
		[ -f "$KMOD/$_f" ] && cp "$KMOD/$_f" "$_dir/lib/modules/$KVER/$_f"
	done
	# a modules.dep of just what DIR holds, for BusyBox modprobe and request_module
	depmod -b "$_dir" "$KVER"
}

# The initramfs of the main kernel ------------------------------------------
# BusyBox, the modules that reach the root disk, /init. Nothing else: it lives
# for a second, and when the root cannot be mounted it panics (no shell).
mkdir -p "$IROOT/bin" "$IROOT/dev" "$IROOT/proc" "$IROOT/sys" "$IROOT/newroot" "$IROOT/etc"
cp "$SYSROOT/bin/busybox" "$IROOT/bin/busybox"
chmod 0755 "$IROOT/bin/busybox"
busybox_links "$IROOT"
# shellcheck disable=SC2086
modules_for "$IROOT" etc/modules.load $INITRD_MODULES
echo "$KVER" >"$IROOT/etc/kver"
mknod -m 600 "$IROOT/dev/console" c 5 1 2>/dev/null ||
	echo "build-os: not root, no /dev/console node in the initramfs (its /init copes)" >&2
cat >"$IROOT/init" <<'EOF'
#!/bin/sh
# /init of the lifeboat main OS's initramfs (BusyBox sh, PID 1): load the
# modules that reach the root disk, wait (bounded) for the device named by root=,
# mount it read-write and switch_root into its init.
#
# Never a shell: when the root cannot be mounted, PID 1 exits and the kernel
# panics (with panic=N it reboots), so that the rescue system takes over.
#
# Kernel command line:
#   root=/dev/vdaN | LABEL=L | UUID=U | PARTLABEL=P   the root filesystem (required)
#   rootfstype=T          its type                                        [ext4]
#   rootflags=OPTS        extra mount options (always mounted rw)
#   init=PATH             the root's init                            [/sbin/init]
#   lifeboat.rootwait=S   how long to wait for the root device               [10]
PATH=/sbin:/usr/sbin:/bin:/usr/bin
export PATH

log() { echo "lifeboat initrd: $*"; }
panic() {
	echo "lifeboat initrd: PANIC: $*"
	echo "lifeboat initrd: PID 1 exits: kernel panic (panic=N reboots into the rescue system)"
	sync
	exit 1
}

mount -t proc -o nosuid,nodev,noexec proc /proc || panic "cannot mount /proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys || panic "cannot mount /sys"
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev || panic "cannot mount devtmpfs on /dev"
# the image may lack a /dev/console node (built without root): take it now
exec 0<>/dev/console 1>&0 2>&0

root="" fstype=ext4 flags="" init=/sbin/init wait=10
read -r cmdline </proc/cmdline
for w in $cmdline; do
	case $w in
	root=*) root=${w#root=} ;;
	rootfstype=*) fstype=${w#rootfstype=} ;;
	rootflags=*) flags=${w#rootflags=} ;;
	init=*) init=${w#init=} ;;
	lifeboat.rootwait=*) wait=${w#lifeboat.rootwait=} ;;
	esac
done
case $wait in '' | *[!0-9]*) wait=10 ;; esac
[ -n "$root" ] || panic "no root= on the kernel command line"

# insmod in the order the build resolved (modprobe --show-depends); a module the
# CPU cannot use (crc32c-intel without SSE4.2) fails and the generic one serves.
# MODULE.PARAM=VALUE on the kernel command line is passed on, as modprobe does
# (ramoops.mem_address=...: where panics are kept across a reset, for the rescue
# system to read in pstore)
kver=$(cat /etc/kver)
[ "$kver" = "$(uname -r)" ] || log "warning: modules are for $kver, running $(uname -r)"
loaded=0 failed=""
while read -r path args; do
	[ -n "$path" ] || continue
	m=${path##*/}
	m=${m%.ko}
	for w in $(cat /proc/cmdline); do
		case $w in "$m".*=*) args="$args ${w#"$m".}" ;; esac
	done
	# shellcheck disable=SC2086
	if err=$(insmod "$path" $args 2>&1); then
		loaded=$((loaded + 1))
	else
		case $err in *"File exists"*) ;; *) failed="$failed ${path##*/}" ;; esac
	fi
done </etc/modules.load

# resolve: print the device node root= names, once it exists
resolve() {
	case $root in
	/dev/*) [ -b "$root" ] && echo "$root" ;;
	LABEL=* | UUID=*) findfs "$root" 2>/dev/null ;;
	PARTLABEL=*)
		for u in /sys/class/block/*/uevent; do
			if grep -qx "PARTNAME=${root#PARTLABEL=}" "$u" 2>/dev/null; then
				d=$(sed -n 's/^DEVNAME=//p' "$u")
				[ -b "/dev/$d" ] && echo "/dev/$d" && return 0
			fi
		done
		return 1
		;;
	*) return 1 ;;
	esac
}
i=0 dev=""
while [ $i -le $((wait * 10)) ]; do
	dev=$(resolve) && [ -n "$dev" ] && break
	dev=""
	sleep 0.1
	i=$((i + 1))
done
[ -n "$dev" ] || panic "root device $root did not appear within $wait s (modules: $loaded loaded${failed:+, not loaded:$failed})"
mount -t "$fstype" -o "rw${flags:+,$flags}" "$dev" /newroot ||
	panic "cannot mount $dev ($root) as $fstype on /newroot"
if [ ! -e "/newroot$init" ] && [ ! -L "/newroot$init" ]; then
	umount /newroot
	panic "$dev ($root) has no $init"
fi
read -r up _ </proc/uptime
log "root $dev ($fstype) mounted ${up} s after kernel start; switch_root to $init"
# keep the kernel's filesystems for the real system (its rcS mounts what is missing)
for m in /dev /proc /sys; do
	if [ -d "/newroot$m" ]; then mount --move "$m" "/newroot$m" || umount -l "$m"; else umount -l "$m"; fi
done
exec switch_root /newroot "$init"
EOF
chmod 0755 "$IROOT/init"

# The main OS's root ----------------------------------------------------------
for d in bin sbin usr/bin usr/sbin usr/share/udhcpc dev proc sys run tmp mnt root \
	var/lib/lifeboat var/log etc/init.d etc/lifeboat/health.d etc/ssl/certs boot \
	"$LC_LIBDIR" lib64; do
	mkdir -p "$ROOT/$d"
done
chmod 1777 "$ROOT/tmp"
chmod 0700 "$ROOT/root"

# lifeboat and its libraries (host libc), then what it dlopens (libcurl's closure)
install_elf lifeboat "$LIFEBOAT" usr/bin/lifeboat host
# shellcheck disable=SC2086
install_dlopen lifeboat-dl "$LIFEBOAT" host $LIFEBOAT_DLOPEN

# BusyBox: the whole userland, static, and a link per applet
put busybox "$SYSROOT/bin/busybox" bin/busybox 0755
busybox_links "$ROOT"

# the kernel and the initramfs the rescue system kexecs
put kernel "$SYSROOT/boot/vmlinuz-$KVER" boot/vmlinuz
find "$IROOT" -mindepth 1 -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
# shellcheck disable=SC2086
(cd "$IROOT" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) | xz $XZ_OPTS >"$ROOT/boot/initrd.img"
chmod 0644 "$ROOT/boot/initrd.img"
record initrd boot/initrd.img
# extra kernel arguments for this OS: the rescue system appends them to root= and
# lifeboat.slot= when it kexecs; panic=5 lets a panicking main OS reboot into rescue
echo "rootfstype=ext4 panic=5" | gen other boot/cmdline 0644

# modules of the main OS itself
# shellcheck disable=SC2086
modules_for "$ROOT" etc/lifeboat/modules.load $OS_MODULES
(cd "$ROOT" && find lib/modules -type f) | while read -r f; do record modules "$f"; done
record other etc/lifeboat/modules.load
echo "$KVER" | gen other etc/lifeboat/kver 0644

# trust
put other "$CA_BUNDLE" etc/ssl/certs/ca-certificates.crt
[ -z "$PUBKEY" ] || put other "$PUBKEY" etc/lifeboat/master.pub

# identity and the small files BusyBox and libc look for
cat <<EOF | gen other etc/os-release 0644
NAME="lifeboat demo OS"
ID=lifeboat-os
VERSION_ID=$VERSION
VERSION="$VERSION ($FLAVOR)"
PRETTY_NAME="lifeboat demo OS $VERSION"
LIFEBOAT_FLAVOR=$FLAVOR
EOF
echo lifeboat | gen other etc/hostname 0644
printf 'root:x:0:0:root:/root:/bin/sh\n' | gen other etc/passwd 0644
printf 'root::0:0:99999:7:::\n' | gen other etc/shadow 0600
printf 'root:x:0:\ntty:x:5:\n' | gen other etc/group 0644
printf 'passwd: files\ngroup: files\nhosts: files dns\n' | gen other etc/nsswitch.conf 0644
printf '127.0.0.1 localhost\n127.0.1.1 lifeboat\n' | gen other etc/hosts 0644
printf "PS1='main# '\nexport PS1\n" | gen other etc/profile 0644
# udhcpc writes the resolver configuration under /run: the root stays untouched
ln -s /run/resolv.conf "$ROOT/etc/resolv.conf"

cat <<'EOF' | gen other etc/inittab 0644
# BusyBox init (/sbin/init) of the lifeboat main OS
::sysinit:/etc/init.d/rcS
# a root shell on the console (cttyhack finds the real tty: ttyS0 under QEMU)
::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/init.d/rcK
::restart:/sbin/init
EOF

cat <<'EOF' | gen other usr/share/udhcpc/default.script 0755
#!/bin/sh
# BusyBox udhcpc's event script: configure the lease with ip (no ifupdown here).
# Under QEMU's user networking with restrict=on the lease has no router; the
# master is on the local subnet. The resolver configuration goes to /run.
# shellcheck disable=SC2154 # udhcpc sets interface, ip, mask, router, dns, domain
case $1 in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound | renew)
	ip -4 addr flush dev "$interface"
	ip -4 addr add "$ip/${mask:-24}" dev "$interface"
	for r in $router; do
		ip -4 route replace default via "$r" dev "$interface" 2>/dev/null
		break
	done
	{
		[ -n "$domain" ] && echo "search $domain"
		for d in $dns; do echo "nameserver $d"; done
	} >/run/resolv.conf.new
	mv /run/resolv.conf.new /run/resolv.conf
	;;
esac
exit 0
EOF

cat <<'EOF' | gen other etc/lifeboat/health.d/10-root-writable 0755
#!/bin/sh
# the root filesystem is mounted read-write and takes a write
f=/.lifeboat-health.$$
if echo ok >"$f" && [ "$(cat "$f")" = ok ]; then
	rm -f "$f"
else
	rm -f "$f"
	echo "/ is not writable"
	exit 1
fi
EOF
cat <<'EOF' | gen other etc/lifeboat/health.d/20-lifeboat 0755
#!/bin/sh
# lifeboat and its libraries are whole
lifeboat --version >/dev/null || { echo "lifeboat --version failed"; exit 1; }
EOF

cat <<'EOF' | gen other etc/init.d/rcK 0755
#!/bin/sh
# BusyBox init's shutdown action: flush, unmount the state partition, root read-only
echo "lifeboat main: shutting down"
sync
umount /var/lib/lifeboat 2>/dev/null
mount -o remount,ro / 2>/dev/null
sync
EOF

# rcS: the main OS's boot. Kept in one piece with the test flavor's hook at @HANG@.
cat >"$WORK/rcS" <<'EOF'
#!/bin/sh
# /etc/init.d/rcS of the lifeboat main OS (BusyBox init's sysinit action).
#
# mounts, modules, the watchdog feeder, the state partition (LABEL=lbstate) on
# /var/lib/lifeboat, the network, the health checks (/etc/lifeboat/health.d/*),
# then `lifeboat boot mark-good` and "lifeboat main: up (version V, slot S)".
#
# Kernel command line:
#   lifeboat.slot=S               the slot the rescue system booted (printed)
#   lifeboat.main.sync            run `lifeboat sync` once after boot
#   lifeboat.main.sync-loop=SECS  run it in the background every SECS seconds
#   lifeboat.main.poweroff        power off at the end (tests end a VM run this way)
# Never exits early: whatever fails is reported and the console shell follows.
PATH=/sbin:/usr/sbin:/bin:/usr/bin
export PATH
umask 022
STATE=/var/lib/lifeboat

log() { echo "lifeboat main: $*"; }
warn() { echo "lifeboat main: warning: $*"; }

# is_mounted DIR
is_mounted() {
	[ -r /proc/mounts ] && awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts
}

mount_basics() {
	is_mounted /proc || mount -t proc -o nosuid,nodev,noexec proc /proc
	is_mounted /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
	is_mounted /dev || mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
	mkdir -p /dev/pts /dev/shm
	is_mounted /dev/pts || mount -t devpts -o nosuid,noexec,gid=5,mode=620 devpts /dev/pts
	is_mounted /run || mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
	is_mounted /tmp || mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
	hostname -F /etc/hostname
	ip link set lo up 2>/dev/null
}

# cmdline_has KEY: KEY or KEY=anything on the kernel command line
cmdline_has() {
	for w in $CMDLINE; do
		case $w in "$1" | "$1"=*) return 0 ;; esac
	done
	return 1
}
# cmdline_value KEY: print the value of KEY=VALUE (the last one wins)
cmdline_value() {
	v=
	for w in $CMDLINE; do
		case $w in "$1"=*) v=${w#*=} ;; esac
	done
	[ -n "$v" ] && echo "$v"
}

# load_modules: insmod /etc/lifeboat/modules.load in order ("PATH [ARGS]")
load_modules() {
	loaded=0 failed=""
	while read -r path args; do
		[ -n "$path" ] || continue
		# shellcheck disable=SC2086
		if err=$(insmod "$path" $args 2>&1); then
			loaded=$((loaded + 1))
		else
			case $err in *"File exists"*) ;; *) failed="$failed ${path##*/}" ;; esac
		fi
	done </etc/lifeboat/modules.load
	[ -z "$failed" ] || warn "modules not loaded:$failed"
}

# mount_state: the filesystem labelled lbstate on /var/lib/lifeboat (lifeboat's
# state directory); without it lifeboat keeps its state on the root
mount_state() {
	dev="" i=0
	while [ $i -lt 20 ]; do
		dev=$(findfs LABEL=lbstate 2>/dev/null) && [ -n "$dev" ] && break
		dev=""
		sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$dev" ]; then
		warn "no state partition (LABEL=lbstate): lifeboat's state stays on the root"
		return 1
	fi
	mkdir -p "$STATE"
	if mount -t ext4 -o rw,noatime "$dev" "$STATE"; then
		log "state: $dev on $STATE"
	else
		warn "cannot mount the state partition $dev on $STATE"
		return 1
	fi
}

# start_watchdog: feed /dev/watchdog every 5 s (the rescue system armed it before
# kexec; from here on a hang of this system is a missed feed and a reset)
start_watchdog() {
	if [ -c /dev/watchdog ]; then
		if watchdog -t 5 -T 60 /dev/watchdog; then
			log "watchdog: fed every 5 s (timeout 60 s)"
		else
			warn "watchdog: cannot start the feeder"
		fi
	else
		log "watchdog: no /dev/watchdog"
	fi
}

# network: DHCP on eth0 (one lease, not renewed: udhcpc -q)
network() {
	[ -e /sys/class/net/eth0 ] || { log "network: no eth0"; return 0; }
	if udhcpc -i eth0 -q -n -t 5 -s /usr/share/udhcpc/default.script >/run/udhcpc.log 2>&1; then
		log "network: eth0 $(ip -4 -o addr show dev eth0 | awk '{ print $4; exit }')"
	else
		warn "network: no DHCP lease on eth0"
	fi
}

# health: every executable /etc/lifeboat/health.d/* must exit 0 (30 s each)
health() {
	bad=""
	for h in /etc/lifeboat/health.d/*; do
		if [ ! -f "$h" ] || [ ! -x "$h" ]; then continue; fi
		timeout 30 "$h" >/run/health.out 2>&1
		rc=$?
		if [ $rc != 0 ]; then
			bad="$bad ${h##*/}"
			warn "health check ${h##*/} failed (exit $rc): $(tr '\n' ' ' </run/health.out)"
		fi
	done
	[ -z "$bad" ]
}

# conf_args: "--config FILE" when the device's config is on the state partition
# (there is no /etc/lifeboat.conf in the image)
conf_args() {
	[ -f "$STATE/lifeboat.conf" ] && echo "--config $STATE/lifeboat.conf"
}
do_sync() {
	# shellcheck disable=SC2046
	lifeboat --wait sync $(conf_args)
	rc=$?
	if [ $rc = 0 ]; then log "synced"; else log "sync failed (exit $rc)"; fi
	# the package list again when the sync changed it
	lifeboat list >/run/lifeboat-list.new 2>/dev/null
	cmp -s /run/lifeboat-list.new /run/lifeboat-list || list_packages
	# a new OS image for this single-slot device: the rescue system writes it
	# shellcheck disable=SC2046
	bs=$(lifeboat boot status --json $(conf_args) 2>/dev/null)
	case $bs in
	*'"rescue":"rebuild"'*)
		log "new OS image: rebooting into the rescue system to write it"
		sync
		reboot -f
		;;
	*'"try_slot":"'*'"try_booted":false'*)
		# A/B: the new OS is in the other slot, tried once at the next boot
		log "new OS image in the other slot: rebooting to try it"
		sync
		reboot -f
		;;
	esac
}

list_packages() {
	lifeboat list >/run/lifeboat-list 2>/run/lifeboat-list.err
	rc=$?
	if [ $rc = 0 ]; then
		sed 's/^/lifeboat main: pkg /' /run/lifeboat-list
	else
		warn "lifeboat list failed (exit $rc): $(tr '\n' ' ' </run/lifeboat-list.err)"
	fi
}

mount_basics
exec 0<>/dev/console 1>&0 2>&0
read -r CMDLINE </proc/cmdline
# shellcheck source=/dev/null
. /etc/os-release
SLOT=$(cmdline_value lifeboat.slot) || SLOT=unknown
# @HANG@
# loading i6300esb stops a running watchdog (its probe disarms the timer unless the
# rescue system armed it with nowayout=1): the feeder starts right after it
load_modules
start_watchdog
mount_state
network
if health; then
	# shellcheck disable=SC2046
	out=$(lifeboat --wait boot mark-good $(conf_args) 2>&1)
	rc=$?
	[ $rc = 0 ] || warn "lifeboat boot mark-good failed (exit $rc): $(echo "$out" | tr '\n' ' ')"
	log "up (version $VERSION_ID, slot $SLOT)"
else
	log "health check failed: not marking this boot good (version $VERSION_ID, slot $SLOT)"
fi
list_packages
cmdline_has lifeboat.main.sync && do_sync
if loop=$(cmdline_value lifeboat.main.sync-loop); then
	case $loop in
	*[!0-9]* | 0*) warn "lifeboat.main.sync-loop=$loop: not a number of seconds" ;;
	*)
		(while :; do
			sleep "$loop"
			do_sync
		done) </dev/null >/dev/console 2>&1 &
		log "sync loop: every $loop s"
		;;
	esac
fi
if cmdline_has lifeboat.main.poweroff; then
	log "powering off (lifeboat.main.poweroff)"
	sync
	poweroff -f
fi
exit 0
EOF
if [ "$FLAVOR" = hang ]; then
	# before the watchdog feeder and mark-good: a hung boot for the rescue system
	sed 's|^# @HANG@$|log "hanging (test flavor)"; while :; do sleep 3600; done|' "$WORK/rcS"
else
	grep -vx '# @HANG@' "$WORK/rcS"
fi | gen other etc/init.d/rcS 0755
rm -f "$WORK/rcS"

if [ "$FLAVOR" = panic ]; then
	# PID 1 that exits at once: "Kernel panic - not syncing: Attempted to kill init!"
	rm -f "$ROOT/sbin/init"
	printf '#!/bin/sh\necho "lifeboat main: init exits at once (test flavor panic)"\nexit 1\n' |
		gen other sbin/init 0755
fi

# The image -------------------------------------------------------------------
find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
raw=$(du -sb --apparent-size "$ROOT" | cut -f1)
nfiles=$(find "$ROOT" | wc -l)
# room for the tree (+10 %, a 4 KiB block rounding per file), the inode tables
# (one inode per 8 KiB), the journal (4 MiB) and a few MiB free
need=$(((raw * 11 / 10 + nfiles * 4096) / 1048576 + 12))
if [ -z "$SIZE" ]; then
	SIZE=$DEFAULT_MIB
	[ "$need" -le "$SIZE" ] || SIZE=$need
elif [ "$SIZE" -lt "$need" ]; then
	echo "build-os: warning: --size $SIZE MiB may be too small for $(mib "$raw") MiB of files (suggest $need)" >&2
fi
# a fixed UUID from the version and flavor: the same image from the same inputs
UUID=$(printf 'lifeboat-rootfs %s %s' "$VERSION" "$FLAVOR" | sha256sum |
	sed 's/^\(.\{8\}\)\(.\{4\}\).\(.\{3\}\).\(.\{3\}\)\(.\{12\}\).*/\1-\2-4\3-8\4-\5/')
# Files keep their owners: as root (how the scripts run), root's. Otherwise
# fakeroot makes them appear root's to mkfs.
FAKEROOT=""
if [ "$(id -u)" != 0 ]; then
	if command -v fakeroot >/dev/null 2>&1; then FAKEROOT=fakeroot; else
		echo "build-os: warning: not root and no fakeroot: files are owned by uid $(id -u) in the image" >&2
	fi
fi
tmp=$OUT.tmp
rm -f "$tmp"
if ! $FAKEROOT mkfs.ext4 -q -F -b 4096 -i 8192 -m 0 -L rootfs -U "$UUID" \
	-E "root_owner=0:0,hash_seed=$UUID" -d "$ROOT" "$tmp" "${SIZE}M" >"$WORK/mkfs.log" 2>&1; then
	cat "$WORK/mkfs.log" >&2
	rm -f "$tmp"
	die "mkfs.ext4 -d failed for $SIZE MiB ($(mib "$raw") MiB of files; try --size $((need + 16)))"
fi
# inode change and creation times are the build's; set them like the rest
if debugfs -R "stat /" "$tmp" 2>/dev/null | grep -q crtime; then
	(cd "$ROOT" && find . | sed 's|^\.||; s|^$|/|') | while read -r p; do
		printf 'sif "%s" ctime @%s\nsif "%s" atime @%s\nsif "%s" crtime @%s\n' \
			"$p" "$SOURCE_DATE_EPOCH" "$p" "$SOURCE_DATE_EPOCH" "$p" "$SOURCE_DATE_EPOCH"
	done >"$WORK/times.debugfs"
	debugfs -w -f "$WORK/times.debugfs" "$tmp" >/dev/null 2>&1 ||
		echo "build-os: warning: could not normalise inode times" >&2
fi
e2fsck -fn "$tmp" >"$WORK/fsck.log" 2>&1 || { cat "$WORK/fsck.log" >&2; die "e2fsck finds errors in $tmp"; }
mv "$tmp" "$OUT"

# the image's file list: path type mode size (files) or -> target (links)
(cd "$ROOT" && find . -mindepth 1 -printf '%P %y %m %s %l\n' | LC_ALL=C sort) |
	awk '{ if ($2 == "l") print $1, "l", $3, "->", $5; else if ($2 == "d") print $1, "d", $3; else print $1, $2, $3, $4 }' \
		>"$OUT.files"

# Breakdown ---------------------------------------------------------------------
echo "main OS image $VERSION ($FLAVOR), kernel $KVER (MiB, raw file sizes):"
printf '  %-32s %8s %6s\n' component raw files
size_of() { # LABEL COMPONENT-REGEX
	files=$(awk -v re="$2" '$1 ~ re { print $2 }' "$LIST")
	[ -n "$files" ] || return 0
	n=$(printf '%s\n' "$files" | wc -l)
	b=$(cd "$ROOT" && printf '%s\n' "$files" | xargs stat -c %s | awk '{ s += $1 } END { print s }')
	printf '  %-32s %8s %6d\n' "$1" "$(mib "$b")" "$n"
}
size_of kernel '^kernel$'
size_of "initrd ($(echo "$INITRD_MODULES" | wc -w) modules+deps)" '^initrd$'
size_of busybox '^busybox$'
size_of lifeboat+libc '^lifeboat$'
size_of "dlopened ($LIFEBOAT_DLOPEN)" '^lifeboat-dl$'
size_of "modules ($OS_MODULES)" '^modules$'
size_of other '^other$'
printf '  %-32s %8s %6d  (with %d BusyBox links)\n' total "$(mib "$raw")" "$nfiles" \
	"$(find "$ROOT" -type l -lname /bin/busybox | wc -l)"
bs=$(dumpe2fs -h "$OUT" 2>/dev/null | sed -n 's/^Block size: *//p')
bc=$(dumpe2fs -h "$OUT" 2>/dev/null | sed -n 's/^Block count: *//p')
fb=$(dumpe2fs -h "$OUT" 2>/dev/null | sed -n 's/^Free blocks: *//p')
echo "build-os: $OUT: ext4 $SIZE MiB (label rootfs, UUID $UUID)," \
	"$(mib $(((bc - fb) * bs))) MiB used, $(mib $((fb * bs))) MiB free;" \
	"initrd $(mib "$(stat -c %s "$ROOT/boot/initrd.img")") MiB xz;" \
	"sha256 $(sha256sum "$OUT" | cut -c1-16)"
