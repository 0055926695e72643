#!/bin/sh
# Assemble the rescue system's root in build/initramfs/ and pack it into
# build/initramfs.cpio.xz (newc cpio, xz with CRC32: the kernel's xz decoder
# knows no other check). What goes in and why: initramfs/files.txt.
#
# Inputs (environment):
#   SYSROOT   unpacked Debian packages, from scripts/fetch-debs.sh  [build/sysroot]
#   BUILD     build directory                                        [build]
#   LIFEBOAT  the device agent                                       [$BUILD/lifeboat]
#   PUBKEY    the master's minisign public key, pinned as /etc/lifeboat/master.pub
#             (optional; tests may also pass keys on the command line)
#   CA_BUNDLE CA certificates                      [/etc/ssl/certs/ca-certificates.crt]
#   XZ_OPTS   compression options                              [-9 --check=crc32]
#   LIFEBOAT_DLOPEN  libraries lifeboat loads with dlopen (not in its DT_NEEDED),
#             shipped with their closure when the binary names them    [libcurl.so.4]
#
# Shared libraries are resolved from each ELF's DT_NEEDED entries (what ldd would
# print, without running the binary): the sysroot's library directories first for
# the sysroot's tools, the host's first for build/lifeboat (built on this host).
# Every library lands once, in /lib/x86_64-linux-gnu; the size breakdown counts it
# in the first component that needs it.
set -eu

SYSROOT=${SYSROOT:-build/sysroot}
BUILD=${BUILD:-build}
LIFEBOAT=${LIFEBOAT:-$BUILD/lifeboat}
PUBKEY=${PUBKEY:-}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
XZ_OPTS=${XZ_OPTS:--9 --check=crc32}
LIFEBOAT_DLOPEN=${LIFEBOAT_DLOPEN-libcurl.so.4}
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$BUILD/initramfs
OUT=$BUILD/initramfs.cpio.xz
LIST=$BUILD/initramfs.files     # "COMPONENT PATH" for every file, for the breakdown
MULTIARCH=x86_64-linux-gnu
LIBDIR=lib/$MULTIARCH
MTD_TOOLS="flash_erase ubiformat ubiattach ubidetach ubimkvol ubirmvol ubiupdatevol ubiblock ubinfo mtdinfo"

die() { echo "build-initramfs: $*" >&2; exit 1; }

[ -f "$SYSROOT/KVER" ] || die "$SYSROOT/KVER missing: run scripts/fetch-debs.sh first"
KVER=$(cat "$SYSROOT/KVER")
KMOD=$SYSROOT/lib/modules/$KVER
[ -d "$KMOD" ] || die "$KMOD missing"
[ -x "$SYSROOT/bin/busybox" ] || die "$SYSROOT/bin/busybox missing (busybox-static)"
[ -x "$LIFEBOAT" ] || die "$LIFEBOAT missing: run make $LIFEBOAT"
[ -f "$CA_BUNDLE" ] || die "$CA_BUNDLE missing (install ca-certificates)"
for t in cpio xz readelf strip modprobe depmod; do
	command -v $t >/dev/null 2>&1 || die "$t not found (scripts/install-deps.sh installs it)"
done
mkdir -p "$BUILD"
ROOT=$(cd "$BUILD" && pwd)/initramfs
LIST=$(cd "$BUILD" && pwd)/initramfs.files
OUT=$(cd "$BUILD" && pwd)/initramfs.cpio.xz
SYSROOT=$(cd "$SYSROOT" && pwd)
KMOD=$SYSROOT/lib/modules/$KVER

rm -rf "$ROOT" "$LIST"
mkdir -p "$ROOT"
: >"$LIST"

# record COMPONENT PATH-IN-IMAGE
record() { echo "$1 $2" >>"$LIST"; }

# install COMPONENT SRC DEST [MODE]: copy one file into the image
install_file() {
	mkdir -p "$ROOT/$(dirname "$3")"
	rm -f "$ROOT/$3"
	cp -L "$2" "$ROOT/$3"
	chmod "${4:-0644}" "$ROOT/$3"
	record "$1" "$3"
}

# ELF helpers ---------------------------------------------------------------
is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = "177ELF" ]; }
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
interp() { readelf -l "$1" 2>/dev/null | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]$/\1/p'; }

SYS_LIBDIRS="$SYSROOT/lib/$MULTIARCH $SYSROOT/usr/lib/$MULTIARCH $SYSROOT/lib $SYSROOT/usr/lib"
HOST_LIBDIRS="/lib/$MULTIARCH /usr/lib/$MULTIARCH /lib /usr/lib"

find_lib() { # NAME DIRS...
	n=$1; shift
	for d in "$@"; do
		[ -e "$d/$n" ] && { echo "$d/$n"; return 0; }
	done
	return 1
}

# install_elf COMPONENT SRC DEST WHERE: copy an executable stripped, then its
# library closure (WHERE = sysroot|host decides which library directories win)
install_elf() {
	comp=$1 src=$2 dest=$3 where=$4
	mkdir -p "$ROOT/$(dirname "$dest")"
	rm -f "$ROOT/$dest"
	strip --strip-unneeded -o "$ROOT/$dest" "$src" 2>/dev/null || cp -L "$src" "$ROOT/$dest"
	chmod 0755 "$ROOT/$dest"
	record "$comp" "$dest"
	install_libs "$comp" "$src" "$where"
}

install_libs() { # COMPONENT ELF WHERE
	if [ "$3" = host ]; then dirs="$HOST_LIBDIRS $SYS_LIBDIRS"; else dirs="$SYS_LIBDIRS $HOST_LIBDIRS"; fi
	i=$(interp "$2")
	if [ -n "$i" ] && [ ! -e "$ROOT$i" ]; then
		# shellcheck disable=SC2086
		p=$(find_lib "$(basename "$i")" $dirs) || die "interpreter $i of $2 not found"
		mkdir -p "$ROOT$(dirname "$i")"
		cp -L "$p" "$ROOT$i"
		chmod 0755 "$ROOT$i"
		record "$1" "${i#/}"
	fi
	for n in $(needed "$2"); do
		[ -e "$ROOT/$LIBDIR/$n" ] && continue
		# shellcheck disable=SC2086
		p=$(find_lib "$n" $dirs) || die "library $n needed by $2 not found"
		mkdir -p "$ROOT/$LIBDIR"
		strip --strip-unneeded -o "$ROOT/$LIBDIR/$n" "$p" 2>/dev/null || cp -L "$p" "$ROOT/$LIBDIR/$n"
		chmod 0644 "$ROOT/$LIBDIR/$n"
		record "$1" "$LIBDIR/$n"
		install_libs "$1" "$p" "$3"
	done
}

# The skeleton --------------------------------------------------------------
for d in bin sbin usr/bin usr/sbin dev proc sys run tmp mnt var etc/lifeboat \
	"$LIBDIR" lib64 root state; do
	mkdir -p "$ROOT/$d"
done
chmod 1777 "$ROOT/tmp"
# The kernel opens /dev/console for /init before anything is mounted; without
# root we cannot make the node, and /init reopens the console on devtmpfs instead.
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null ||
	echo "build-initramfs: not root, no /dev/console node (init copes)" >&2
install_file other "$SRC/initramfs/init" init 0755
install_file other "$SRC/initramfs/udhcpc.script" etc/lifeboat/udhcpc.script 0755
install_file other "$SRC/initramfs/provision.sh" etc/lifeboat/provision.sh 0644

# Order matters only for the breakdown: a shared library counts in the first
# component that needs it, and lifeboat's closure holds libc.
install_elf lifeboat "$LIFEBOAT" usr/bin/lifeboat host
# what lifeboat dlopens (libcurl, for the network) is invisible to ldd/DT_NEEDED
for n in $LIFEBOAT_DLOPEN; do
	grep -qaF "$n" "$LIFEBOAT" || continue
	[ -e "$ROOT/$LIBDIR/$n" ] && continue
	# shellcheck disable=SC2086
	p=$(find_lib "$n" $HOST_LIBDIRS $SYS_LIBDIRS) || die "$n (dlopened by lifeboat) not found"
	strip --strip-unneeded -o "$ROOT/$LIBDIR/$n" "$p" 2>/dev/null || cp -L "$p" "$ROOT/$LIBDIR/$n"
	chmod 0644 "$ROOT/$LIBDIR/$n"
	record lifeboat-dl "$LIBDIR/$n"
	install_libs lifeboat-dl "$p" host
done

# BusyBox: one static binary and a link per applet
install_file busybox "$SYSROOT/bin/busybox" bin/busybox 0755
"$SYSROOT/bin/busybox" --list-full | while read -r a; do
	[ "$a" = bin/busybox ] && continue
	mkdir -p "$ROOT/$(dirname "$a")"
	ln -sf /bin/busybox "$ROOT/$a"
done

# kexec-tools (Debian's links libxenctrl and the rest of Xen's libraries)
install_elf kexec "$SYSROOT/sbin/kexec" sbin/kexec sysroot

# e2fsprogs: mkfs.ext4 and e2fsck for the state partition and rootfs slots
for t in mke2fs e2fsck; do
	install_elf e2fsprogs "$SYSROOT/sbin/$t" "sbin/$t" sysroot
done
for l in mkfs.ext2 mkfs.ext3 mkfs.ext4; do ln -sf mke2fs "$ROOT/sbin/$l"; done
for l in fsck.ext2 fsck.ext3 fsck.ext4; do ln -sf e2fsck "$ROOT/sbin/$l"; done
[ -f "$SYSROOT/etc/mke2fs.conf" ] && install_file e2fsprogs "$SYSROOT/etc/mke2fs.conf" etc/mke2fs.conf

# mtd-utils: whichever of the tools the sysroot has
for t in $MTD_TOOLS; do
	for d in usr/sbin sbin; do
		if [ -x "$SYSROOT/$d/$t" ]; then
			install_elf mtd-utils "$SYSROOT/$d/$t" "usr/sbin/$t" sysroot
			break
		fi
	done
	[ -e "$ROOT/usr/sbin/$t" ] || echo "build-initramfs: warning: $t not in $SYSROOT" >&2
done

# Kernel modules ------------------------------------------------------------
# modules.dep is written by depmod in the package's postinst: make it if missing
[ -f "$KMOD/modules.dep" ] || depmod -b "$SYSROOT" "$KVER"
LOAD=$ROOT/etc/lifeboat/modules.load
: >"$LOAD"
grep -v '^[[:space:]]*#' "$SRC/initramfs/modules.txt" | while read -r name when _; do
	[ -n "$name" ] || continue
	out=$(modprobe -d "$SYSROOT" -S "$KVER" --show-depends "$name" 2>&1) ||
		die "module $name: $out"
	echo "$out" | while read -r verb path args; do
		[ "$verb" = insmod ] || continue # "builtin NAME": nothing to load
		rel=${path#"$SYSROOT"/}
		if [ ! -e "$ROOT/$rel" ]; then
			install_file modules "$path" "$rel"
		fi
		if [ "${when:-boot}" = boot ] && ! grep -qx "/$rel${args:+ $args}" "$LOAD"; then
			echo "/$rel${args:+ $args}" >>"$LOAD"
		fi
	done
	case "${when:-boot}" in boot | ship) ;; *) die "modules.txt: $name: unknown '$when'" ;; esac
done
record other etc/lifeboat/modules.load
for f in modules.order modules.builtin modules.builtin.modinfo; do
	[ -f "$KMOD/$f" ] && install_file modules "$KMOD/$f" "lib/modules/$KVER/$f"
done
# a modules.dep of just what the image holds, for BusyBox modprobe at run time
depmod -b "$ROOT" "$KVER"
for f in "$ROOT/lib/modules/$KVER"/modules.*; do
	rel=${f#"$ROOT"/}
	grep -qx "modules $rel" "$LIST" || record modules "$rel"
done
echo "$KVER" >"$ROOT/etc/lifeboat/kver"
record other etc/lifeboat/kver

# Trust -----------------------------------------------------------------------
install_file other "$CA_BUNDLE" etc/ssl/certs/ca-certificates.crt
if [ -n "$PUBKEY" ]; then
	install_file other "$PUBKEY" etc/lifeboat/master.pub
fi

# Small things BusyBox and libc look for
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\n' >"$ROOT/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$ROOT/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$ROOT/etc/hosts"
# Debian's busybox-static prefers its applets: its sh runs the mke2fs applet even
# with /sbin/mke2fs on PATH. The login shell's profile points such names at the
# real tools (scripts should call them by path, or as mkfs.ext4).
{
	echo "PS1='rescue# '"
	"$SYSROOT/bin/busybox" --list | while read -r a; do
		for d in sbin usr/sbin bin usr/bin; do
			if [ -f "$ROOT/$d/$a" ] && [ ! -L "$ROOT/$d/$a" ] && [ "$d/$a" != bin/busybox ]; then
				echo "alias $a=/$d/$a"
				break
			fi
		done
	done
} >"$ROOT/etc/profile"
for f in passwd group nsswitch.conf hosts profile; do record other "etc/$f"; done

# Pack ----------------------------------------------------------------------
tmp=$OUT.tmp
# shellcheck disable=SC2086
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) | xz $XZ_OPTS >"$tmp"
mv "$tmp" "$OUT"

# Breakdown -------------------------------------------------------------------
# Each component's raw size, and its size packed alone with the same options (the
# parts of one xz stream do not add up exactly to the whole; close enough).
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
echo "initramfs contents (MiB; a shared library counts in the first component that"
echo "needs it: libc and ld.so are in lifeboat+libs; 'dlopened' is the closure of"
echo "$LIFEBOAT_DLOPEN, which lifeboat loads at run time):"
printf '  %-16s %8s %8s %6s\n' component raw xz files
# size_of LABEL COMPONENT-REGEX
size_of() {
	files=$(awk -v re="$2" '$1 ~ re { print $2 }' "$LIST")
	[ -n "$files" ] || return 0
	n=$(printf '%s\n' "$files" | wc -l)
	raw=$(cd "$ROOT" && printf '%s\n' "$files" | xargs stat -c %s | awk '{ s += $1 } END { print s }')
	# shellcheck disable=SC2086
	xzs=$(cd "$ROOT" && printf '%s\n' "$files" | cpio -o -H newc -R 0:0 --quiet | xz $XZ_OPTS | wc -c)
	printf '  %-16s %8s %8s %6d\n' "$1" "$(mib "$raw")" "$(mib "$xzs")" "$n"
}
size_of busybox '^busybox$'
size_of kexec+libs '^kexec$'
size_of e2fsprogs '^e2fsprogs$'
size_of mtd-utils '^mtd-utils$'
size_of lifeboat+libs '^lifeboat'
if grep -q '^lifeboat-dl ' "$LIST"; then
	size_of '  linked' '^lifeboat$'
	size_of "  dlopened" '^lifeboat-dl$'
fi
size_of modules '^modules$'
size_of other '^other$'
raw_total=$(du -sb --apparent-size "$ROOT" | cut -f1)
total=$(stat -c %s "$OUT")
printf '  %-16s %8s %8s\n' total "$(mib "$raw_total")" "$(mib "$total")"
echo "largest files (MiB raw):"
(cd "$ROOT" && find . -type f -printf '%s %P\n') | sort -rn | head -8 |
	while read -r b f; do printf '  %8s  %s\n' "$(mib "$b")" "$f"; done
echo "build-initramfs: $OUT: $total bytes, $(mib "$total") MiB xz" \
	"(kernel $KVER not included; goal <= 8 MiB, aim 4)"
