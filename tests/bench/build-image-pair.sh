#!/bin/bash
# Two ext4 root images that differ as a monthly update does, for os-bench.sh:
#
#   tests/bench/build-image-pair.sh OUTDIR      -> OUTDIR/v1.ext4, OUTDIR/v2.ext4
#
# Both hold the same Debian 12 package set (a minimal system plus what a network
# gateway runs, ~330 MiB unpacked), resolved by apt-get's own resolver against an
# empty dpkg status. v2 has the mirror's candidate versions; v1 has the next older
# version available in the mirror (bookworm / -updates / -security) of the
# packages in CHANGED (openssl, systemd, python3.11, expat, xz: 16 binaries),
# everything else identical. Packages are unpacked without maintainer scripts
# onto a merged-/usr layout (as debootstrap makes for bookworm), with a dpkg
# database like dpkg would leave. Reproducible: fixed UUID and hash seed, every
# time set from SOURCE_DATE_EPOCH (v1: the newest packaged file; v2 a month later,
# a release date per build), so building again gives the same bytes.
# .debs are cached in DEBS (default build/bench-debs): no download if present.
# Environment: PKGS, CHANGED (space-separated package names), DEBS, IMAGE_MIB.
set -eu
umask 022
export LC_ALL=C

out=${1:?usage: build-image-pair.sh OUTDIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
debs=${DEBS:-$top/build/bench-debs}

# Priority required + important, then what a gateway-like device adds.
PKGS=${PKGS:-"apt base-files base-passwd bash bsdutils coreutils dash debconf
debianutils diffutils dpkg e2fsprogs findutils grep gzip hostname init-system-helpers
libc-bin libpam-modules libpam-modules-bin libpam-runtime login mawk mount ncurses-base
ncurses-bin passwd perl-base sed sysvinit-utils tar tzdata util-linux
adduser cpio cron fdisk ifupdown init iproute2 iputils-ping kmod less logrotate nano
netbase nftables procps readline-common sensible-utils systemd systemd-sysv udev
vim-tiny whiptail
openssh-server openssh-client curl wget ca-certificates openssl python3 perl sudo rsync
gnupg locales iptables wpasupplicant dnsmasq-base rsyslog systemd-timesyncd dbus bluez
python3-cryptography libglib2.0-0 sqlite3 xz-utils zstd unzip jq"}
# The update: source packages with a close older version in the mirror.
CHANGED=${CHANGED:-"libssl3 openssl
libsystemd0 libudev1 libsystemd-shared systemd systemd-sysv udev systemd-timesyncd
libpython3.11-minimal python3.11-minimal libpython3.11-stdlib python3.11
libexpat1 liblzma5 xz-utils"}
# the same for both versions: one product, one root filesystem identity
UUID=6c1f0b6e-5b1e-4c43-9d5a-0b7e5a1c2f10

say() { echo "build-image-pair: $*" >&2; }
die() { say "$*"; exit 1; }

mkdir -p "$out" "$debs" "$out/apt"
out=$(cd "$out" && pwd)
debs=$(cd "$debs" && pwd)
: >"$out/apt/status" # an empty system: apt resolves the whole closure

# resolve FILE [EXTRA...]: "name version arch" of every package apt would install
resolve() {
	local list=$1
	shift
	# shellcheck disable=SC2086
	apt-get install -s -q -o Dir::State::status="$out/apt/status" \
		-o APT::Install-Recommends=false $PKGS "$@" >"$out/apt/resolve.log" 2>&1 ||
		{ cat "$out/apt/resolve.log" >&2; die "apt-get cannot resolve the set ($*)"; }
	sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*\[\([^]]*\)\])$/\1 \2 \3/p' "$out/apt/resolve.log" |
		sort >"$list"
	[ -s "$list" ] || die "no package resolved (see $out/apt/resolve.log)"
}

# older NAME VERSION: the highest version of NAME in the mirror below VERSION
older() {
	local v best=""
	for v in $(apt-cache madison "$1" | awk '{ print $3 }'); do
		dpkg --compare-versions "$v" lt "$2" || continue
		[ -z "$best" ] || dpkg --compare-versions "$v" gt "$best" && best=$v
	done
	echo "$best"
}

# deb_of NAME VERSION ARCH: the cached file (apt-get download's name, : as %3a)
deb_of() { echo "$debs/${1}_${2//:/%3a}_$3.deb"; }

# fetch LIST: download the missing .debs (apt-get download, into the cache)
fetch() {
	local name ver arch want=""
	while read -r name ver arch; do
		[ -f "$(deb_of "$name" "$ver" "$arch")" ] || want="$want $name=$ver"
	done <"$1"
	[ -z "$want" ] && return 0
	say "downloading $(echo "$want" | wc -w) .debs into $debs"
	# shellcheck disable=SC2086
	(cd "$debs" && apt-get -q -o APT::Sandbox::User=root download $want >"$out/apt/download.log" 2>&1) ||
		{ cat "$out/apt/download.log" >&2; die "apt-get download failed"; }
}

# dpkg_db ROOT NAME ARCH DEB LIST: the status stanza and info/ files dpkg keeps;
# LIST: the package's paths as tar -v printed them
dpkg_db() {
	local root=$1 name=$2 deb=$4 ctl f base
	ctl=$(mktemp -d "$out/ctl.XXXXXX")
	dpkg-deb -e "$deb" "$ctl"
	base=$name
	grep -q '^Multi-Arch: same' "$ctl/control" && base=$name:$3
	for f in "$ctl"/*; do
		case ${f##*/} in control) ;; *) mv "$f" "$root/var/lib/dpkg/info/$base.${f##*/}" ;; esac
	done
	sed 's|^\./|/|; s|/$||; s|^$|/.|' "$5" >"$root/var/lib/dpkg/info/$base.list"
	{ sed '1a Status: install ok installed' "$ctl/control"; echo; } >>"$root/var/lib/dpkg/status"
	rm -rf "$ctl"
}

# stage LIST DIR: unpack every package of LIST, in name order, without scripts
stage() {
	local list=$1 root=$2 name ver arch deb d
	rm -rf "$root"
	# what the staging creates is newer than this; what the packages hold is older
	date +%s >"$root.t0"
	mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64" \
		"$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
	for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
	: >"$root/var/lib/dpkg/status"
	while read -r name ver arch; do
		deb=$(deb_of "$name" "$ver" "$arch")
		# tar, not dpkg-deb -x: -x would replace the /bin -> usr/bin links by directories
		dpkg-deb --fsys-tarfile "$deb" | tar -xv --keep-directory-symlink -C "$root" >"$root.paths"
		dpkg_db "$root" "$name" "$arch" "$deb" "$root.paths"
	done <"$list"
	rm -f "$root.paths"
	echo "$UUID" | tr -d - >"$root/etc/machine-id"
}

# newest DIR: the mtime of the newest packaged file (older than the staging)
newest() {
	find "$1" -type f ! -newermt "@$(($(cat "$1.t0") - 1))" -printf '%T@\n' |
		sort -n | tail -n 1 | cut -d. -f1
}

# image DIR FILE MIB EPOCH: the ext4 of a staged root, every time at the build's epoch
image() {
	local root=$1 img=$2 mib=$3 epoch=$4
	# package mtimes stay; what the staging made (directories tar created, the dpkg
	# database) gets the epoch, as a reproducible build clamps it
	find "$root" -newermt "@$(($(cat "$root.t0") - 1))" -exec touch -h -d "@$epoch" {} +
	rm -f "$img.tmp"
	E2FSPROGS_FAKE_TIME=$epoch mkfs.ext4 -q -F -b 4096 -i 8192 -m 0 -L rootfs -U "$UUID" \
		-E "root_owner=0:0,hash_seed=$UUID" -d "$root" "$img.tmp" "${mib}M" >"$img.log" 2>&1 ||
		{ cat "$img.log" >&2; die "mkfs.ext4 -d failed for $img"; }
	# mkfs copies ctime (the unpack's) and atime from the staging tree: normalise
	(cd "$root" && find . | sed 's|^\.||; s|^$|/|') | grep -v '"' | awk -v e="$epoch" '{
		printf "sif \"%s\" ctime @%s\nsif \"%s\" atime @%s\nsif \"%s\" crtime @%s\n", $0, e, $0, e, $0, e
	}' >"$img.debugfs"
	E2FSPROGS_FAKE_TIME=$epoch debugfs -w -f "$img.debugfs" "$img.tmp" >"$img.log" 2>&1 ||
		{ cat "$img.log" >&2; die "debugfs could not set the times of $img"; }
	e2fsck -fn "$img.tmp" >"$img.log" 2>&1 || { cat "$img.log" >&2; die "e2fsck finds errors in $img"; }
	rm -f "$img.debugfs" "$img.log"
	mv "$img.tmp" "$img"
}

# --- the two package lists ----------------------------------------------------
resolve "$out/v2.list"
pins=""
for p in $CHANGED; do
	new=$(awk -v p="$p" '$1 == p { print $2 }' "$out/v2.list")
	[ -n "$new" ] || die "$p (in CHANGED) is not in the package set"
	old=$(older "$p" "$new")
	[ -n "$old" ] || die "the mirror has no version of $p older than $new"
	pins="$pins $p=$old"
done
# shellcheck disable=SC2086
resolve "$out/v1.list" $pins
join -a 1 -a 2 -e - -o 0,1.2,2.2 "$out/v1.list" "$out/v2.list" |
	awk '$2 != $3' >"$out/changed.txt"
n1=$(wc -l <"$out/v1.list")
n2=$(wc -l <"$out/v2.list")
say "$n2 packages; $(wc -l <"$out/changed.txt") differ between v1 and v2 (name v1 v2):"
sed 's/^/  /' "$out/changed.txt" >&2
[ "$n1" = "$n2" ] || say "warning: v1 has $n1 packages, v2 $n2"

# --- the images ---------------------------------------------------------------
fetch "$out/v1.list"
fetch "$out/v2.list"
for v in v1 v2; do
	say "unpacking $v ($(wc -l <"$out/$v.list") .debs, no maintainer scripts)"
	stage "$out/$v.list" "$out/stage-$v"
done
# SOURCE_DATE_EPOCH of each build: v1 when the newest packaged file appeared, v2 a
# month later (a monthly release; a reproducible build system stamps each release
# with its own date, as scripts/build-os.sh does with the last commit's time)
e1=${EPOCH_V1:-$( (newest "$out/stage-v1"; newest "$out/stage-v2") | sort -n | tail -n 1)}
e2=${EPOCH_V2:-$((e1 + 30 * 86400))}
# one size for both, as an A/B slot is: the larger tree + 25 % free, + 48 MiB
# for the journal and inode tables, rounded up to 16 MiB
kib=$(du -sk "$out/stage-v1" "$out/stage-v2" | awk '$1 > m { m = $1 } END { print m }')
mib=${IMAGE_MIB:-$(((kib * 5 / 4 / 1024 + 48 + 15) / 16 * 16))}
for v in v1 v2; do
	e=$e1
	[ $v = v1 ] || e=$e2
	image "$out/stage-$v" "$out/$v.ext4" "$mib" "$e"
	say "$v.ext4: $mib MiB image, $(du -sm "$out/stage-$v" | cut -f1) MiB in $(find "$out/stage-$v" | wc -l) entries," \
		"epoch $e ($(date -u -d "@$e" +%F)), sha256 $(sha256sum "$out/$v.ext4" | cut -c1-16)"
done
rm -rf "$out/stage-v1" "$out/stage-v2" "$out"/stage-v?.t0
