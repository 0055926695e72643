#!/bin/sh
# Install benchmark: dpkg vs lifeboat on a generated and a real package set.
# Run by `make bench` (see tests/bench/README.md). Environment:
#   BENCH_NPKGS, BENCH_NFILES  generated set size (default 300 x 20 files)
#   BENCH_RUNS                 timed runs per installer and set (default 3)
#   BENCH_SETS                 sets to run (default "generated real")
#   BENCH_TOOLS                installers (default "dpkg lifeboat")
#   LIFEBOAT                   lifeboat binary (default build/lifeboat)
#   BENCH_CACHE                pools (default build/bench-cache)
#   BENCH_TMPDIR               where the install roots go (default build/bench-tmp)
#   BENCH_LINK                 0: skip the link benchmark (link-bench.sh) run at the end
#   BENCH_BOOT                 0: skip the boot benchmark (boot-bench.sh, QEMU) after it
#   BENCH_PKGDELTA             0: skip the package-delta benchmark (pkgdelta-bench.sh) before it
#   BENCH_OS                   0: skip the OS-image update benchmark (os-bench.sh) at the end
set -eu
umask 022
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top"

npkgs=${BENCH_NPKGS:-300}
nfiles=${BENCH_NFILES:-20}
runs=${BENCH_RUNS:-3}
sets=${BENCH_SETS:-generated real}
tools=${BENCH_TOOLS:-dpkg lifeboat}
cache=${BENCH_CACHE:-build/bench-cache}
export LIFEBOAT="${LIFEBOAT:-build/lifeboat}"
export BENCH_TMPDIR="${BENCH_TMPDIR:-build/bench-tmp}"

for t in dpkg dpkg-deb apt-get awk md5sum; do
	command -v "$t" >/dev/null || { echo "bench: $t is missing" >&2; exit 1; }
done
if [ ! -x /usr/bin/time ]; then
	echo "bench: installing GNU time" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null
fi
case " $tools " in *" lifeboat "*)
	[ -x "$LIFEBOAT" ] || { echo "bench: $LIFEBOAT is missing (make build/lifeboat)" >&2; exit 1; } ;;
esac
if grep -qs '^[[:space:]]*path-\(exclude\|include\)' /etc/dpkg/dpkg.cfg /etc/dpkg/dpkg.cfg.d/*; then
	echo "bench: warning: the host's dpkg config has path-exclude rules; dpkg will skip files" >&2
fi

mkdir -p "$cache" "$BENCH_TMPDIR"
out=$(mktemp -d "$BENCH_TMPDIR/bench.XXXXXX")
trap 'rm -rf "$out"' EXIT
trap 'exit 130' INT TERM HUP
start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
status=0

# --- pools ---------------------------------------------------------------
for set in $sets; do
	case $set in
	generated)
		echo "bench: generated pool: $npkgs packages x $nfiles files ($cache/gen-${npkgs}x$nfiles)" >&2
		"$here/gen-debs.sh" "$cache/gen-${npkgs}x$nfiles" "$npkgs" "$nfiles" ;;
	real)
		echo "bench: real pool: Debian packages from apt-get download ($cache/real)" >&2
		"$here/fetch-real-debs.sh" "$cache/real" ;;
	*) echo "bench: unknown set $set" >&2; exit 2 ;;
	esac
done

pool_of() {
	case $1 in generated) echo "$cache/gen-${npkgs}x$nfiles" ;; real) echo "$cache/real" ;; esac
}
mode_of() {
	case $1 in generated) echo install ;; real) echo unpack ;; esac
}

# --- runs: one warm-up each, then $runs timed runs, tools interleaved ------
for set in $sets; do
	pool=$(pool_of "$set")
	mode=$(mode_of "$set")
	n=$(find "$pool" -maxdepth 1 -name "*.deb" | wc -l)
	mb=$(du -sm "$pool" | cut -f1)
	echo "bench: $set: $n .debs ($mb MB), mode $mode, 1 warm-up + $runs runs per installer" >&2
	case $set in
	generated) src="tests/bench/gen-debs.sh: $nfiles files each, 200 B-20 KiB, dpkg-deb -Zgzip" ;;
	real) src="apt-get download by tests/bench/fetch-real-debs.sh, none with a preinst" ;;
	esac
	echo "$set: $n .debs, $mb MB, in $pool ($src)" >>"$out/sets"
	for i in warm $(seq 1 "$runs"); do
		for tool in $tools; do
			[ -f "$out/$set.$tool.failed" ] && continue
			res=$out/$set.$tool.res
			[ "$i" = warm ] && res=$out/$set.$tool.warm
			set -- "$tool" "$mode" "$pool" "$pool/desired" "$res"
			[ "$i" = "$runs" ] && set -- "$@" "$out/$set.$tool.manifest"
			if ! "$here/install-bench.sh" "$@"; then
				touch "$out/$set.$tool.failed"
				status=1
				continue
			fi
			[ "$i" = warm ] || echo "bench:   $set $tool run $i: $(tail -n 1 "$res" | awk '{ printf "%s s, %s KiB, %s files", $1, $2, $3 }')" >&2
		done
	done
done

# --- report --------------------------------------------------------------
median() { # column of a results file
	sort -n -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'
}

echo
echo "lifeboat install benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, roots on $(df -P "$BENCH_TMPDIR" | awk 'NR == 2 { print $1 }'),"
echo "load average $load0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end: other work on the machine skews fsync-heavy timings)"
echo "wall: median of $runs runs after 1 warm-up (date +%s%N around the command); peak RSS: median of"
echo "/usr/bin/time %M; files: non-directory entries in the result root outside var/lib/{dpkg,lifeboat}."
echo "dpkg: --root R --refuse-unsafe-io (stock per-file fsync) --force-depends -i (generated) / --unpack (real);"
echo "lifeboat: --root R [--no-scripts for real] apply --pool POOL desired. Fresh empty root each run."
cat "$out/sets"
echo
printf '%-10s %-9s %7s %9s %9s %12s\n' set installer files wall_s files/s peak_RSS_KiB
for set in $sets; do
	for tool in $tools; do
		res=$out/$set.$tool.res
		if [ -f "$out/$set.$tool.failed" ] || [ ! -s "$res" ]; then
			printf '%-10s %-9s %7s %9s %9s %12s\n' "$set" "$tool" FAILED - - -
			continue
		fi
		w=$(median "$res" 1)
		r=$(median "$res" 2)
		f=$(tail -n 1 "$res" | awk '{ print $3 }')
		eval "w_$tool=\$w r_$tool=\$r"
		printf '%-10s %-9s %7d %9.2f %9.0f %12d\n' "$set" "$tool" "$f" "$w" \
			"$(awk -v f="$f" -v w="$w" 'BEGIN { print (w > 0 ? f / w : 0) }')" "$r"
	done
	if [ -s "$out/$set.dpkg.res" ] && [ -s "$out/$set.lifeboat.res" ] &&
		[ ! -f "$out/$set.dpkg.failed" ] && [ ! -f "$out/$set.lifeboat.failed" ]; then
		# shellcheck disable=SC2154
		awk -v wd="$w_dpkg" -v wl="$w_lifeboat" -v rd="$r_dpkg" -v rl="$r_lifeboat" -v s="$set" 'BEGIN {
			printf "%-10s %-9s speed x%.2f (dpkg time / lifeboat time), memory x%.2f (lifeboat RSS / dpkg RSS)\n",
			       s, "ratio", (wl > 0 ? wd / wl : 0), (rd > 0 ? rl / rd : 0) }'
		a=$out/$set.dpkg.manifest
		b=$out/$set.lifeboat.manifest
		if cmp -s "$a" "$b"; then
			echo "$set: result roots MATCH ($(wc -l <"$a") entries: type, mode, owner, size, path, md5 / link target)"
		else
			echo "$set: result roots DIFFER (< dpkg, > lifeboat; first 20 lines):"
			diff "$a" "$b" | grep '^[<>]' | head -n 20 | sed 's/^/  /'
			status=1
		fi
	fi
done
echo
echo "bench: total $(($(date +%s) - start)) s; exit status $status"

# --- link benchmark: sync on the wire, publish at scale (link-bench.sh) -------
case " $tools " in *" lifeboat "*)
	if [ "${BENCH_LINK:-1}" != 0 ]; then
		echo
		BENCH_CACHE=$cache "$here/link-bench.sh" || status=1
	fi
	# --- boot benchmark: initramfs size, boot time with/without rescue, rebuild
	if [ "${BENCH_BOOT:-1}" != 0 ]; then
		echo
		"$here/boot-bench.sh" || status=1
	fi ;;
esac
# --- package deltas: full .deb, zstd/bsdiff whole and per file, lifeboat's delta
if [ "${BENCH_PKGDELTA:-1}" != 0 ]; then
	echo
	LB=$LIFEBOAT PKGDELTA_CACHE=${PKGDELTA_CACHE:-$cache/pkgdelta} "$here/pkgdelta-bench.sh" || status=1
fi
# --- OS-image updates: full image, casync, xdelta3, zstd --patch-from (os-bench.sh)
if [ "${BENCH_OS:-1}" != 0 ]; then
	echo
	"$here/os-bench.sh" || status=1
fi
exit $status
