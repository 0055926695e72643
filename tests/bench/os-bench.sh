#!/bin/bash
# OS-image update benchmark, the competitors' side (run at the end of run.sh,
# BENCH_OS=0 skips it; or alone: tests/bench/os-bench.sh).
#
# On two real ext4 roots that differ as a monthly update does (build-image-pair.sh:
# Debian 12 packages, 16 of them one version apart), one row per method of updating
# a device from v1 to v2: bytes on the wire, HTTP requests, the applying side's
# peak RSS, % of the full compressed image, and the wall time to encode (server
# side) and to apply (device side). Everything runs on local files; every applied
# result is compared with v2.
#
# Encoded artifacts are kept in build/bench-os/enc and reused while the images and
# the command line are the same (the images are reproducible); the encode time
# shown then is the one measured when they were made, marked "*". OS_BENCH_FRESH=1
# encodes again. Environment: OS_BENCH_DIR (build/bench-os), OS_BENCH_LEVEL (19),
# LIFEBOAT, LIFEBOAT_MASTER.
set -eu
umask 022
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

mkdir -p "${OS_BENCH_DIR:-build/bench-os}" build/bench-tmp
# absolute: the casync steps cd into stores
W=$(cd "${OS_BENCH_DIR:-build/bench-os}" && pwd)
C=$W/enc
LEVEL=${OS_BENCH_LEVEL:-19}
LIFEBOAT=${LIFEBOAT:-build/lifeboat}
LIFEBOAT_MASTER=${LIFEBOAT_MASTER:-build/lifeboat-master}
V1=$W/v1.ext4
V2=$W/v2.ext4

say() { echo "os-bench: $*" >&2; }

# the competitors, from Debian's packages, installed only if missing
deps() {
	local p missing=""
	for p in casync xdelta3 zstd time e2fsprogs python3; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }
}

# the image pair, rebuilt when missing or when its recipe changed
pair() {
	local stamp
	stamp=$(cksum <"$here/build-image-pair.sh")
	if [ -f "$V1" ] && [ -f "$V2" ] && [ "$(cat "$W/pair.stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	say "building the image pair into $W (build-image-pair.sh; minutes, .debs cached)"
	rm -f "$W/pair.stamp"
	"$here/build-image-pair.sh" "$W"
	echo "$stamp" >"$W/pair.stamp"
}

# timed FILE CMD...: run CMD; FILE gets "wall_s peak_rss_kib"
timed() {
	local f=$1
	shift
	/usr/bin/time -f '%e %M' -o "$f.time" "$@" >"$f.log" 2>&1 ||
		{ cat "$f.log" "$f.time" >&2; say "failed: $*"; return 1; }
	tail -n 1 "$f.time" >"$f"
}

# encode NAME CMD...: the server side, cached in $C/NAME.* by the images' hashes and
# CMD; sets ENC_S (wall seconds, "*" when reused)
encode() {
	local name=$1 key
	shift
	key="$PAIR $*"
	if [ "${OS_BENCH_FRESH:-0}" != 1 ] && [ "$(cat "$C/$name.key" 2>/dev/null)" = "$key" ]; then
		ENC_S="$(cut -d' ' -f1 "$C/$name.enc")*"
		return 0
	fi
	rm -rf "${C:?}/$name".*
	say "$name: encoding"
	timed "$C/$name.enc" "$@"
	echo "$key" >"$C/$name.key"
	ENC_S=$(cut -d' ' -f1 "$C/$name.enc")
}

# apply NAME OUT CMD...: the device side, timed; checks OUT is v2; sets DEC_S, RSS_KIB
apply() {
	local name=$1 res=$2
	shift 2
	say "$name: applying"
	timed "$T/$name.dec" "$@"
	cmp -s "$res" "$V2" || { say "$name: the result is not v2"; exit 1; }
	rm -f "$res"
	read -r DEC_S RSS_KIB <"$T/$name.dec"
}

# add_row METHOD BYTES REQUESTS NOTE: one line of the table (uses ENC_S DEC_S RSS_KIB)
add_row() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$RSS_KIB" "$ENC_S" "$DEC_S" "$4" >>"$T/rows"
}

# --- the methods ------------------------------------------------------------------

# the whole image, zstd -19: what a device without any delta downloads
full_row() {
	encode full zstd -"$LEVEL" -T0 -q -f "$V2" -o "$C/full.zst"
	apply full "$T/out" zstd -d -q -f "$C/full.zst" -o "$T/out"
	FULL=$(stat -c %s "$C/full.zst")
	add_row "full image (zstd -$LEVEL)" "$FULL" 1 "decompressed to the slot as it streams"
}

# casync_row AVG: chunk stores of v1 (published with the previous release) and v2
# (the encode timed); the device has v1's chunks (its slot is the seed) and fetches
# v2's others one request each, after v2's index
casync_row() {
	local avg=$1 n=casync-$(($1 / 1024))k new all bytes idx
	encode "$n-v1" casync make --store="$C/$n-v1.castr" --chunk-size="$avg" "$C/$n-v1.caibx" "$V1"
	encode "$n" casync make --store="$C/$n.castr" --chunk-size="$avg" "$C/$n.caibx" "$V2"
	(cd "$C/$n-v1.castr" && find . -name '*.cacnk' | sort) >"$T/$n.v1"
	(cd "$C/$n.castr" && find . -name '*.cacnk' | sort) >"$T/$n.v2"
	comm -13 "$T/$n.v1" "$T/$n.v2" >"$T/$n.new"
	new=$(wc -l <"$T/$n.new")
	all=$(wc -l <"$T/$n.v2")
	idx=$(stat -c %s "$C/$n.caibx")
	bytes=$( (cd "$C/$n.castr" && xargs -r stat -c %s) <"$T/$n.new" | awk -v s="$idx" '{ s += $1 } END { print s }')
	CASYNC_COMP=$(compression_of "$C/$n.castr/$(head -n 1 "$T/$n.v2")")
	apply "$n" "$T/out" casync extract --store="$C/$n.castr" --seed="$V1" "$C/$n.caibx" "$T/out"
	add_row "casync $(($1 / 1024)) KiB avg" "$bytes" $((new + 1)) \
		"$new of $all chunks new + the index ($((idx / 1024)) KiB); $CASYNC_COMP"
}

# compression_of FILE: the format of a compressed file, by its magic number
compression_of() {
	case $(head -c 6 "$1" | od -An -tx1 | tr -d ' \n') in
	28b52ffd*) echo zstd ;; fd377a585a00) echo xz ;; 1f8b*) echo gzip ;; *) echo unknown ;;
	esac
}

# xdelta3 -9 with its default 64 MiB source window, as the issue gives it
xdelta_row() {
	encode xdelta3 xdelta3 -e -9 -f -s "$V1" "$V2" "$C/xdelta3.vcdiff"
	apply xdelta3 "$T/out" xdelta3 -d -f -s "$V1" "$C/xdelta3.vcdiff" "$T/out"
	add_row "xdelta3 -9" "$(stat -c %s "$C/xdelta3.vcdiff")" 1 "default -B (64 MiB source window), lzma secondary"
}

# zstd --patch-from: the window must cover the whole reference (--long=LOG, both
# sides); the device keeps the reference and a window of that size in memory
zstd_patch_row() {
	local log
	log=$(awk -v s="$(stat -c %s "$V1")" 'BEGIN { l = 10; while (2 ^ l < s) l++; print l }')
	encode zstd-patch zstd -"$LEVEL" -T0 --long="$log" -q -f --patch-from="$V1" "$V2" -o "$C/zstd-patch.zst"
	apply zstd-patch "$T/out" zstd -d -q -f --long="$log" --patch-from="$V1" "$C/zstd-patch.zst" -o "$T/out"
	add_row "zstd -$LEVEL --patch-from" "$(stat -c %s "$C/zstd-patch.zst")" 1 "--long=$log (2^$log B window)"
}

# lifeboat's rows: tests/bench/os-lifeboat.sh (A/B with the running slot as the
# source, in place with os fetch ahead, at 64 and 16 KiB chunks; memory on 1 GiB)
source "$here/os-lifeboat.sh"

# --- context ------------------------------------------------------------------------

# how the rebuild scattered the change: differing 4 KiB blocks, in how many runs
scatter() {
	python3 - "$V1" "$V2" <<'EOF'
import sys
B = 4096
changed = runs = mib = 0
last = -2
seen = set()
with open(sys.argv[1], "rb") as a, open(sys.argv[2], "rb") as b:
    i = 0
    while True:
        x, y = a.read(B), b.read(B)
        if not x and not y:
            break
        if x != y:
            changed += 1
            runs += i != last + 1
            last = i
            seen.add(i * B >> 20)
        i += 1
print(f"{changed} of {i} 4 KiB blocks differ ({changed * B / 2**20:.1f} MiB) in {runs} runs, "
      f"touching {len(seen)} of {i * B >> 20} MiB")
EOF
}

report() {
	local mib=1048576
	echo "== OS-image update: v1 -> v2 ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
	echo "images: $(stat -c %s "$V1") / $(stat -c %s "$V2") bytes ext4 ($W/v1.ext4, v2.ext4), built by build-image-pair.sh:"
	echo "  $(wc -l <"$W/v2.list") Debian 12 packages, $(wc -l <"$W/changed.txt") changed (name v1 -> v2):"
	awk '{ printf "    %-24s %s -> %s\n", $1, $2, $3 }' "$W/changed.txt"
	echo "  $(scatter)"
	echo "casync's stores are compressed with $CASYNC_COMP (its default); chunk sizes min/avg/max = avg/4, avg, avg*4"
	echo "bytes: what the device downloads (payloads; casync: the new chunks + v2's index); requests: HTTP"
	echo "requests (casync: one per chunk + the index); RSS: peak of the applying process (/usr/bin/time %M);"
	echo "encode/apply: wall seconds (* = encoded by an earlier run, its time then; OS_BENCH_FRESH=1 redoes it)"
	echo
	printf '%-28s %12s %7s %8s %10s %9s %8s  %s\n' method bytes '%full' requests 'RSS_MiB' encode_s apply_s notes
	awk -F '\t' -v full="$FULL" -v mib=$mib '{
		printf "%-28s %12d %6.1f%% %8d %10.1f %9s %8s  %s\n", $1, $2, 100 * $2 / full, $3, $4 * 1024 / mib, $5, $6, $7
	}' "$T/rows"
}

# --- main ---------------------------------------------------------------------------
start=$(date +%s)
deps
pair
mkdir -p "$C"
T=$(cd "$(mktemp -d build/bench-tmp/os.XXXXXX)" && pwd)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM HUP
PAIR=$(cat "$V1" "$V2" | sha256sum | cut -c1-32)
: >"$T/rows"
full_row
casync_row 65536
casync_row 16384
xdelta_row
zstd_patch_row
lifeboat_rows
report
echo "lifeboat, $LB_MEMORY"
# CPU seconds of everything run (children), beside the wall time: the machine may be shared
times >"$T/times" # a builtin: in this shell, not in a $(...) subshell
cpu=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } } END { printf "%.0f", s }' "$T/times")
echo "os-bench: total $(($(date +%s) - start)) s wall, $cpu s CPU"
