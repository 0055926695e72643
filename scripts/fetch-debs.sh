#!/bin/bash
# scripts/fetch-debs.sh — fetch the Debian packages the rescue system is built
# from, and unpack them into one sysroot.
#
#   scripts/fetch-debs.sh            (as root; no arguments)
#
# Packages (Debian 12, the host's apt sources):
#   - the kernel: linux-image-amd64's current dependency, the real
#     linux-image-6.1.0-N-amd64 (vmlinuz, config, modules);
#   - busybox-static, kexec-tools, e2fsprogs (mke2fs, e2fsck), mtd-utils;
#   - every shared library those packages' ELF files need, found by reading
#     their NEEDED entries (readelf -d) and mapping each soname to the package
#     that ships it: the host's dpkg database first (dpkg -S), else the
#     Depends/Pre-Depends of the packages already taken, checked by listing
#     the candidate .deb's contents. Repeated until every soname resolves, so
#     kexec's Xen libraries (libxenctrl and friends) and libc come along.
#     Libraries are never pulled by Depends alone: only what is NEEDED.
#
# Output:
#   build/debs/*.deb      the downloaded packages (a cache: a .deb already
#                         there is not downloaded again)
#   build/sysroot/        every package above unpacked with dpkg-deb -x (the
#                         packages' own layout: sbin/kexec, lib/x86_64-linux-gnu,
#                         usr/sbin/ubiformat, boot/vmlinuz-KVER, lib/modules/KVER
#                         with modules.dep made by depmod -b)
#   build/sysroot/KVER    one line: the kernel version, so that vmlinuz is
#                         boot/vmlinuz-$KVER, the config boot/config-$KVER and
#                         the modules lib/modules/$KVER
#   build/sysroot/.debs   "PACKAGE DEB-FILE" per unpacked package
#
# Idempotent: when build/sysroot/.debs names the current candidate of every
# package and the files are there, nothing is downloaded or unpacked. When
# anything changed (a new kernel, a security update), the sysroot is rebuilt
# beside the old one (build/sysroot.new) and swapped in. Concurrent runs are
# serialised with a kernel lock (flock on build/.fetch-debs.lock).
#
# `apt-get update` runs only when a package is unknown to apt or its download
# fails (a stale index). Any failure stops the script with a message naming
# what failed and a non-zero exit.
set -eEuo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROOT=$PWD
DEBS=$ROOT/build/debs
SYSROOT=$ROOT/build/sysroot
NEW=$ROOT/build/sysroot.new
TOP_PKGS="busybox-static kexec-tools e2fsprogs mtd-utils"

die() {
	echo "fetch-debs: $*" >&2
	exit 1
}
trap '[ "$BASHPID" != "$$" ] || echo "fetch-debs: failed (line $LINENO: $BASH_COMMAND)" >&2' ERR

[ "$(id -u)" = 0 ] || die "must run as root (apt-get download, apt-get update)"
for t in apt-get apt-cache dpkg-deb dpkg readelf depmod flock; do
	command -v "$t" >/dev/null || die "needs $t"
done
mkdir -p "$DEBS"
exec 9>"$ROOT/build/.fetch-debs.lock"
flock 9

# Temporary state; a file, not a variable, since the helpers below run in
# command substitutions (subshells).
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT
FETCHED=$TMPD/fetched
touch "$FETCHED"

# apt_update: run apt-get update, at most once per run. Fails when it already ran.
apt_update() {
	[ ! -e "$TMPD/updated" ] || return 1
	touch "$TMPD/updated"
	echo "fetch-debs: apt-get update" >&2
	apt-get update -qq || die "apt-get update failed"
}

# deb_file NAME: the file name apt-get download gives NAME's candidate
# (NAME_VERSION_ARCH.deb, an epoch's colon written %3a).
candidate_file() {
	{ apt-cache show --no-all-versions "$1" 2>/dev/null || true; } | awk -F': ' '
		/^Package:/ { p = $2 } /^Version:/ { v = $2 } /^Architecture:/ { a = $2 }
		/^$/ { exit } END { if (p != "") { gsub(":", "%3a", v); print p "_" v "_" a ".deb" } }'
}
deb_file() {
	local f
	f=$(candidate_file "$1")
	if [ -z "$f" ] && apt_update; then
		f=$(candidate_file "$1")
	fi
	[ -n "$f" ] || die "package $1 is unknown to apt (even after apt-get update)"
	echo "$f"
}

# fetch NAME: make sure NAME's candidate .deb is in build/debs; print its path.
fetch() {
	local name=$1 file
	file=$(deb_file "$name")
	if [ ! -s "$DEBS/$file" ]; then
		if ! (cd "$DEBS" && apt-get download -q -o APT::Sandbox::User=root "$name" >/dev/null 2>"$DEBS/.err"); then
			apt_update || { cat "$DEBS/.err" >&2; die "apt-get download $name failed"; }
			file=$(deb_file "$name")
			(cd "$DEBS" && apt-get download -q -o APT::Sandbox::User=root "$name" >/dev/null 2>"$DEBS/.err") ||
				{ cat "$DEBS/.err" >&2; die "apt-get download $name failed"; }
		fi
		[ -s "$DEBS/$file" ] || die "apt-get download $name did not give $file"
		dpkg-deb --info "$DEBS/$file" >/dev/null 2>&1 || { rm -f "$DEBS/$file"; die "$file is not a valid .deb"; }
		echo "$file" >>"$FETCHED"
		echo "fetched $file ($(du -k "$DEBS/$file" | cut -f1) KiB)" >&2
	fi
	echo "$DEBS/$file"
}

# The kernel: what linux-image-amd64 depends on now.
kernel_pkg() {
	local k
	k=$({ apt-cache depends linux-image-amd64 2>/dev/null || true; } |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
	if [ -z "$k" ] && apt_update; then
		k=$({ apt-cache depends linux-image-amd64 2>/dev/null || true; } |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
	fi
	[ -n "$k" ] || die "cannot resolve linux-image-amd64 to a kernel package"
	echo "$k"
}

KPKG=$(kernel_pkg)

# Up to date? Every package recorded in the sysroot's .debs is still apt's
# candidate, its .deb is in the cache, and the top-level set is covered.
up_to_date() {
	[ -s "$SYSROOT/.debs" ] && [ -s "$SYSROOT/KVER" ] || return 1
	local name file p
	for p in $KPKG $TOP_PKGS; do
		grep -q "^$p " "$SYSROOT/.debs" || return 1
	done
	# One apt-cache call for all (each call reads the whole package cache).
	# shellcheck disable=SC2046
	[ "$(apt-cache show --no-all-versions $(cut -d' ' -f1 "$SYSROOT/.debs") 2>/dev/null | awk -F': ' '
		/^Package:/ { p = $2 } /^Version:/ { v = $2 } /^Architecture:/ { a = $2 }
		/^$/ { if (p != "") { gsub(":", "%3a", v); print p " " p "_" v "_" a ".deb" }; p = "" }
		END { if (p != "") { gsub(":", "%3a", v); print p " " p "_" v "_" a ".deb" } }' | sort)" = \
		"$(sort "$SYSROOT/.debs")" ] || return 1
	while read -r name file; do
		[ -s "$DEBS/$file" ] || return 1
	done <"$SYSROOT/.debs"
}

if up_to_date; then
	echo "fetch-debs: build/sysroot is up to date ($(wc -l <"$SYSROOT/.debs") packages, nothing fetched)"
	echo "sysroot: $SYSROOT"
	echo "KVER: $(cat "$SYSROOT/KVER")"
	exit 0
fi

rm -rf "$NEW"
mkdir -p "$NEW"
declare -A taken=()
order=()
unpack() { # NAME
	local deb
	[ -z "${taken[$1]:-}" ] || return 0
	deb=$(fetch "$1")
	dpkg-deb -x "$deb" "$NEW" || die "dpkg-deb -x $deb failed"
	taken[$1]=$(basename "$deb")
	order+=("$1")
	echo "$1 ${taken[$1]}" >>"$NEW/.debs"
}

for p in $KPKG $TOP_PKGS; do unpack "$p"; done

# needs PKG: "FILE SONAME SEARCH-DIRS" for each NEEDED entry of each ELF file
# PKG ships (the kernel's modules, boot/ and usr/share/ are not looked at).
# SEARCH-DIRS: the standard library directories, the file's RUNPATH/RPATH
# ($ORIGIN expanded) — relative to the sysroot, colon-separated.
LIBDIRS="lib/x86_64-linux-gnu:usr/lib/x86_64-linux-gnu:lib64:lib:usr/lib"
needs() {
	local f d rp
	dpkg-deb -c "$DEBS/${taken[$1]}" | awk '/^-/ { print $NF }' | sed 's|^\./||' |
		grep -vE '^(lib/modules|usr/lib/modules|boot|usr/share)/' |
		while read -r f; do
			d=$(readelf -d "$NEW/$f" 2>/dev/null) || continue
			rp=$(sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]/\1/p' <<<"$d" | sed "s|\$ORIGIN|/${f%/*}|g; s|\${ORIGIN}|/${f%/*}|g; s|^/||; s|:/|:|g")
			sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$d" | while read -r so; do
				echo "$f $so $LIBDIRS${rp:+:$rp}"
			done
		done
}
have_soname() { # SONAME SEARCH-DIRS
	local d IFS=:
	for d in $2; do
		if [ -e "$NEW/$d/$1" ] || [ -L "$NEW/$d/$1" ]; then return 0; fi
	done
	return 1
}

# soname_pkg SONAME OWNER: the package that ships SONAME. The host's dpkg
# database first; else OWNER's Depends/Pre-Depends, breadth first (names
# resembling the soname first in each level), each candidate checked by
# listing its .deb.
deps_of() {
	{ apt-cache depends "$1" 2>/dev/null || true; } | sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: \([^<][^ ]*\)$/\2/p' | sort -u
}
soname_pkg() {
	local so=$1 stem c deb list level next seen=" $2 "
	c=$(dpkg -S "*/$so" 2>/dev/null | grep -E ": (/usr)?/lib(/x86_64-linux-gnu|64)?/$so\$" |
		sed 's/[:,].*//' | head -1) || true
	if [ -n "$c" ] && apt-cache show --no-all-versions "$c" >/dev/null 2>&1; then
		echo "$c"
		return 0
	fi
	stem=${so%%.so*}
	stem=${stem#lib}
	level=$(deps_of "$2")
	while [ -n "$level" ]; do
		next=""
		# Names containing the soname's stem first, then lib*, then the rest.
		for c in $(awk -v s="$stem" 'NF { print (index(tolower($0), tolower(s)) ? 0 : /^(lib|zlib)/ ? 1 : 2), $0 }' \
			<<<"$level" | sort -k1,1n -k2 | cut -d' ' -f2); do
			case $seen in *" $c "*) continue ;; esac
			seen="$seen$c "
			deb=$(fetch "$c")
			list=$(dpkg-deb -c "$deb") || die "dpkg-deb -c $deb failed"
			if grep -qE "/lib(/x86_64-linux-gnu|64)?/${so//./\\.}( -> .*)?\$" <<<"$list"; then
				echo "$c"
				return 0
			fi
			next="$next$(deps_of "$c")"$'\n'
		done
		level=$(grep -v '^$' <<<"$next" | sort -u || true)
	done
	return 1
}

# Scan each unpacked package once; unpacking a library queues it in turn.
i=0
while [ "$i" -lt "${#order[@]}" ]; do
	p=${order[$i]}
	i=$((i + 1))
	while read -r f so dirs; do
		[ -n "$so" ] || continue
		have_soname "$so" "$dirs" && continue
		pkg=$(soname_pkg "$so" "$p") || die "no package found for $so (needed by $f from $p)"
		echo "fetch-debs: $so (needed by $f) from $pkg" >&2
		unpack "$pkg"
		have_soname "$so" "$dirs" || die "$pkg did not provide $so"
	done < <(needs "$p")
done

KVER=${KPKG#linux-image-}
[ -f "$NEW/boot/vmlinuz-$KVER" ] || die "$KPKG has no boot/vmlinuz-$KVER"
[ -f "$NEW/boot/config-$KVER" ] || die "$KPKG has no boot/config-$KVER"
[ -d "$NEW/lib/modules/$KVER" ] || die "$KPKG has no lib/modules/$KVER"
depmod -b "$NEW" "$KVER" || die "depmod -b $NEW $KVER failed"
[ -s "$NEW/lib/modules/$KVER/modules.dep" ] || die "depmod made no modules.dep"
echo "$KVER" >"$NEW/KVER"

rm -rf "$SYSROOT"
mv "$NEW" "$SYSROOT"
rm -f "$DEBS/.err"
echo "fetch-debs: unpacked $(wc -l <"$SYSROOT/.debs") packages:"
sed 's/^/  /' "$SYSROOT/.debs"
if [ -s "$FETCHED" ]; then
	echo "fetch-debs: downloaded $(wc -l <"$FETCHED") .debs, $(cd "$DEBS" && xargs du -ck <"$FETCHED" | tail -1 | cut -f1) KiB"
else
	echo "fetch-debs: downloaded nothing (all .debs cached in build/debs)"
fi
echo "sysroot: $SYSROOT"
echo "KVER: $KVER"
