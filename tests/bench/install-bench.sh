#!/bin/sh
# One timed install of a package pool into a fresh, empty root.
#
#   tests/bench/install-bench.sh TOOL MODE POOL DESIRED RESULTS [MANIFEST]
#
# TOOL     dpkg | lifeboat (binary: $LIFEBOAT, default build/lifeboat)
# MODE     install: dpkg --force-depends -i      | lifeboat apply
#          unpack:  dpkg --force-depends --unpack | lifeboat --no-scripts apply
# POOL     directory of .deb files (all of them are installed)
# DESIRED  lifeboat desired-state document listing every package of POOL
# RESULTS  file to which one line "WALL_SECONDS PEAK_RSS_KIB FILES" is appended:
#          WALL from `date +%s%N` around the installer, PEAK_RSS from
#          `/usr/bin/time -f %M` (KiB), FILES = non-directory entries in the
#          root afterwards, outside var/lib/dpkg and var/lib/lifeboat.
# MANIFEST if given, written with one line per entry of the resulting root
#          (type, mode, owner, size [not for dirs], path, md5 or link target),
#          sorted, without var/lib/dpkg, var/lib/lifeboat, var and var/lib.
#
# The root is a new directory under $BENCH_TMPDIR (default build/bench-tmp),
# i.e. on the build directory's filesystem, and is removed afterwards.
# dpkg runs with its stock durability (--refuse-unsafe-io: each file is
# fsynced before its rename, even if the host's dpkg.cfg.d says
# force-unsafe-io, as Docker images do), its admindir initialised as on a
# fresh system, and its log written outside the root. `sync` runs before the
# timed command so that neither side pays for the other's dirty pages.
set -eu
umask 022
export LC_ALL=C

tool=${1:?usage: install-bench.sh TOOL MODE POOL DESIRED RESULTS [MANIFEST]}
mode=${2:?}
pool=$(cd "${3:?}" && pwd)
desired=$(cd "$(dirname "${4:?}")" && pwd)/$(basename "$4")
results=${5:?}
manifest=${6:-}
lifeboat=$(cd "$(dirname "${LIFEBOAT:-build/lifeboat}")" && pwd)/$(basename "${LIFEBOAT:-build/lifeboat}")
tmpbase=${BENCH_TMPDIR:-build/bench-tmp}

mkdir -p "$tmpbase"
tmpbase=$(cd "$tmpbase" && pwd)
work=$(mktemp -d "$tmpbase/run.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP
root=$work/root
mkdir "$root"

case $tool:$mode in
dpkg:install | dpkg:unpack)
	mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
	touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
	action=-i
	[ "$mode" = unpack ] && action=--unpack
	set -- dpkg --root="$root" --log="$work/dpkg.log" --refuse-unsafe-io \
		--force-depends "$action" "$pool"/*.deb
	;;
lifeboat:install)
	set -- "$lifeboat" --root "$root" apply --pool "$pool" "$desired"
	;;
lifeboat:unpack)
	set -- "$lifeboat" --no-scripts --root "$root" apply --pool "$pool" "$desired"
	;;
*)
	echo "install-bench: bad TOOL:MODE $tool:$mode" >&2
	exit 2
	;;
esac

sync
t0=$(date +%s%N)
rc=0
/usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || rc=$?
t1=$(date +%s%N)
if [ "$rc" != 0 ]; then
	echo "install-bench: $tool ($mode) failed with exit status $rc: $*" >&2
	tail -n 20 "$work/out" | sed 's/^/  | /' >&2
	exit 1
fi

# dpkg --unpack leaves conffiles as NAME.dpkg-new until --configure, which
# would run the maintainer scripts; move them in place (untimed) as configure
# does, so that the root compares with lifeboat's.
if [ "$tool:$mode" = dpkg:unpack ]; then
	cat "$root"/var/lib/dpkg/info/*.conffiles 2>/dev/null | while IFS= read -r cf; do
		[ -e "$root$cf.dpkg-new" ] && [ ! -e "$root$cf" ] && mv "$root$cf.dpkg-new" "$root$cf"
		:
	done
fi

# The last line of the -o file is ours (a signal note may precede it).
rss=$(tail -n 1 "$work/time" | awk '{ print $2 }')
files=$(find "$root" \( -path "$root/var/lib/dpkg" -o -path "$root/var/lib/lifeboat" \) -prune \
	-o ! -type d -print | wc -l)
awk -v a="$t0" -v b="$t1" -v rss="$rss" -v files="$files" \
	'BEGIN { printf "%.3f %d %d\n", (b - a) / 1e9, rss, files }' >>"$results"

if [ -n "$manifest" ]; then
	(
		cd "$root"
		find . \( -path ./var/lib/dpkg -o -path ./var/lib/lifeboat \) -prune -o \
			! -path . ! -path ./var ! -path ./var/lib -printf '%y %m %u:%g %s %P\n' |
			sed 's/^d \([0-7]*\) \([^ ]*\) [0-9]* /d \1 \2 - /' >"$work/m1"
		find . \( -path ./var/lib/dpkg -o -path ./var/lib/lifeboat \) -prune -o \
			-type f -print0 | xargs -0 -r md5sum | sed 's|^\([0-9a-f]*\)  \./|\1 |' \
			| sort -k2 >"$work/sums"
		find . \( -path ./var/lib/dpkg -o -path ./var/lib/lifeboat \) -prune -o \
			-type l -printf '%P -> %l\n' | sort >"$work/links"
	)
	# Append the md5 to regular files and the target to symlinks, by path.
	awk -v sums="$work/sums" '
		BEGIN { while ((getline l < sums) > 0) { i = index(l, " "); md5[substr(l, i + 1)] = substr(l, 1, i - 1) } }
		{ p = $0; for (k = 1; k <= 4; k++) sub(/^[^ ]* /, "", p)
		  if ($1 == "f") print $0 " md5=" md5[p]; else print }' "$work/m1" | sort -k5 >"$manifest"
	cat "$work/links" >>"$manifest"
fi
