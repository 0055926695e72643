#!/bin/sh
# Generate a pool of synthetic .deb packages for the install benchmark.
#
#   tests/bench/gen-debs.sh OUTDIR [NPKGS] [NFILES]
#
# Writes OUTDIR/lbbench-NNN_1.0-1_all.deb (NPKGS packages, default 300, each
# with NFILES regular files, default 20, sizes log-uniform in 200 B..20 KiB, in
# nested directories, some shared between packages), no maintainer scripts, and
# OUTDIR/desired (a lifeboat desired-state document listing all of them).
# Built with `dpkg-deb --build --root-owner-group -Zgzip`. Deterministic: the
# same arguments give the same file tree. Does nothing if OUTDIR/.stamp records
# the same parameters.
set -eu
export LC_ALL=C

out=${1:?usage: gen-debs.sh OUTDIR [NPKGS] [NFILES]}
npkgs=${2:-300}
nfiles=${3:-20}
here=$(cd "$(dirname "$0")" && pwd)
stamp="gen-debs v1 npkgs=$npkgs nfiles=$nfiles $(cksum <"$here/gen-debs.sh" | cut -d' ' -f1)"

if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
	exit 0
fi

rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/lb-gen.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP

# One awk process lays out every package tree: the file list (dirs + sizes)
# and content cut from a fixed pseudo-random text pool at varying offsets, so
# it compresses about as well as typical text/binary mixes do.
awk -v npkgs="$npkgs" -v nfiles="$nfiles" -v work="$work" '
BEGIN {
	srand(20240601)
	alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n\t{}();=+-*/_.,"
	na = length(alpha)
	pool = ""
	for (i = 0; i < 65536; i++) pool = pool substr(alpha, int(rand() * na) + 1, 1)
	sub1[0] = "usr/lib/lbbench"; sub1[1] = "usr/share/lbbench"; sub1[2] = "usr/share/doc"
	sub1[3] = "etc/lbbench";     sub1[4] = "usr/lib/lbbench/plugins"
	for (p = 1; p <= npkgs; p++) {
		name = sprintf("lbbench-%03d", p)
		root = work "/" name
		print "mkdir -p \"" root "/DEBIAN\"" | "sh"
		ctl[p] = root "/DEBIAN/control"
		for (f = 1; f <= nfiles; f++) {
			d = sub1[int(rand() * 5)] "/" name "/d" int(rand() * 3)
			if (rand() < 0.5) d = d "/e" int(rand() * 3)
			size = int(200 * exp(rand() * log(20480 / 200)))
			path[p, f] = root "/" d "/f" f ".dat"
			dir[p, f] = root "/" d
			sz[p, f] = size
			print "mkdir -p \"" root "/" d "\"" | "sh"
		}
	}
	close("sh")
	for (p = 1; p <= npkgs; p++) {
		name = sprintf("lbbench-%03d", p)
		printf "Package: %s\nVersion: 1.0-1\nArchitecture: all\nMaintainer: lifeboat bench <bench@invalid>\nSection: misc\nPriority: optional\nDescription: synthetic package %d for the lifeboat install benchmark\n", name, p > ctl[p]
		close(ctl[p])
		for (f = 1; f <= nfiles; f++) {
			off = int(rand() * (65536 - sz[p, f])) + 1
			printf "%s", substr(pool, off, sz[p, f]) > path[p, f]
			close(path[p, f])
		}
	}
}'

# Build (2 at a time); fixed mtimes so repeated generations are identical.
find "$work" -exec touch -h -d @1700000000 {} +
# shellcheck disable=SC2016
find "$work" -mindepth 1 -maxdepth 1 -printf '%f\n' | xargs -P 2 -I{} sh -c \
	'dpkg-deb --build --root-owner-group -Zgzip "$1/$2" "$3/$2_1.0-1_all.deb" >/dev/null' \
	sh "$work" {} "$out"

{
	echo "Serial: 1"
	printf 'Packages: '
	find "$work" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | awk '{ printf "%s%s (= 1.0-1)", (NR > 1 ? ", " : ""), $0 } END { print "" }'
} >"$out/desired"

echo "$stamp" >"$out/.stamp"
