#!/bin/bash
# Package-delta benchmark: what a device downloads to upgrade one Debian package
# from OLD to NEW (run at the end of run.sh, BENCH_PKGDELTA=0 skips it; or alone:
# tests/bench/pkgdelta-bench.sh).
#
# For each pair of real Debian 12 versions below (apt-get download, cached in
# build/bench-cache/pkgdelta/debs), one Markdown table row of bytes:
#   full          the NEW .deb
#   zstd-deb      zstd -19 --patch-from=OLD.deb NEW.deb            (whole .deb)
#   bsdiff-deb    bsdiff OLD.deb NEW.deb PATCH                     (whole .deb)
#   zstd-files    both unpacked (dpkg-deb -x, and -e for the control files); for every
#                 regular file present in both with different content,
#                 zstd -19 --patch-from=old/F new/F, summed. Changed files only: files
#                 new in NEW (no old counterpart) and metadata are not counted, so
#                 these two columns are lower bounds of a per-file scheme
#   bsdiff-files  the same set, bsdiff old/F new/F, summed (bsdiff cannot mmap an
#                 empty file: an empty side is replaced by a 1-byte stand-in, counted
#                 in the notes)
#   lifeboat      $LB_MASTER delta OLD.deb NEW.deb OUT: the size of OUT, and the
#                 wall time of that command (encode s)
# then the reconstruct on a "device": a throwaway ROOT with OLD installed by
# `$LB --root ROOT --state STATE apply`, and `$LB ... patch OUT RESULT.deb` under
# /usr/bin/time (reconstruct s, peak RSS); RESULT.deb is compared with NEW.deb.
# lifeboat installs only dependency-closed sets and runs maintainer scripts chrooted
# in the root, which a throwaway root cannot do for Debian's scripts. So the device
# gets a script-less rebuild of OLD (dpkg-deb -R, the scripts/config/templates/
# triggers removed, dpkg-deb -b with OLD's data compressor: the same data files)
# plus a file-less stub, lbbench-delta-base, that Provides what OLD depends and
# pre-depends on (first alternative of each group, at a version that satisfies
# OLD's constraints, as fetch-real-debs.sh's lbbench-real-base). The reconstruct
# therefore patches with `$LB_MASTER delta OLD-noscripts.deb NEW.deb`: the same
# content deltas; the table's lifeboat column is the delta from the REAL OLD (the
# script-less delta's size is in the notes).
#
# Until lifeboat-master has a `delta` command (and lifeboat a `patch` command) the
# lifeboat columns print n/a and the rest runs.
#
# Reruns are fast: the unpacked trees and the baseline figures (columns full ..
# bsdiff-files) are cached per pair in build/bench-cache/pkgdelta/work/, keyed by
# the two .debs' sha256s; only lifeboat's columns are measured again.
# Environment: LB (build/lifeboat), LB_MASTER (build/lifeboat-master),
# PKGDELTA_CACHE (build/bench-cache/pkgdelta), PKGDELTA_PAIRS (only the pairs whose
# package name is in this space-separated list), BENCH_TMPDIR (build/bench-tmp).
set -eu
set -o pipefail
umask 022
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top"

# NAME OLD NEW, oldest -> newest (apt-cache madison, Debian 12 + security + updates)
PAIRS="libssl3 3.0.17-1~deb12u2 3.0.22-1~deb12u2
libssl3 3.0.20-1~deb12u2 3.0.22-1~deb12u2
openssl 3.0.17-1~deb12u2 3.0.22-1~deb12u2
libsystemd0 252.38-1~deb12u1 252.39-1~deb12u2
systemd 252.38-1~deb12u1 252.39-1~deb12u2
udev 252.38-1~deb12u1 252.39-1~deb12u2
libc6 2.36-9+deb12u7 2.36-9+deb12u14
tzdata 2025b-0+deb12u1 2026f-0+deb12u1
libcurl4 7.88.1-10+deb12u5 7.88.1-10+deb12u15
libexpat1 2.5.0-1+deb12u2 2.5.0-1+deb12u5
openssh-client 1:9.2p1-2+deb12u7 1:9.2p1-2+deb12u10
libxml2 2.9.14+dfsg-1.3~deb12u4 2.9.14+dfsg-1.3~deb12u6
libpython3.11-stdlib 3.11.2-6+deb12u8 3.11.2-6+deb12u9
sudo 1.9.13p3-1+deb12u2 1.9.13p3-1+deb12u4"

# bump when the baseline commands change: cached baselines are then recomputed
METHOD=pkgdelta-v1
LEVEL=19

say() { echo "pkgdelta-bench: $*" >&2; }

LB=$(realpath -m "${LB:-${LIFEBOAT:-build/lifeboat}}")
if [ -z "${LB_MASTER:-}" ] && [ -z "${LIFEBOAT_MASTER:-}" ] && [ ! -x build/lifeboat-master ] &&
	command -v make >/dev/null; then
	make -s build/lifeboat-master >&2 || say "make build/lifeboat-master failed; lifeboat's columns will be n/a"
fi
LB_MASTER=$(realpath -m "${LB_MASTER:-${LIFEBOAT_MASTER:-build/lifeboat-master}}")
mkdir -p "${PKGDELTA_CACHE:-build/bench-cache/pkgdelta}" "${BENCH_TMPDIR:-build/bench-tmp}"
CACHE=$(cd "${PKGDELTA_CACHE:-build/bench-cache/pkgdelta}" && pwd)
D=$CACHE/debs
mkdir -p "$D" "$CACHE/work"

# the tools, from Debian's packages, installed only if missing
deps() {
	local p missing=""
	for p in zstd bsdiff time dpkg-dev binutils; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }
}

# --- downloads -------------------------------------------------------------------

UPDATED=0
apt_update_once() {
	[ "$UPDATED" = 1 ] && return 0
	UPDATED=1
	say "apt-get update"
	apt-get -q update >>"$CACHE/apt.log" 2>&1 || say "apt-get update failed (see $CACHE/apt.log)"
}

# deb_of NAME VERSION: the cached .deb (apt-get download's name: ':' as %3a)
deb_of() {
	local f
	for f in "$D/${1}_${2/:/%3a}_"*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

in_madison() {
	apt-cache madison "$1" 2>/dev/null | awk -F'|' -v v="$2" '{ gsub(/ /, "", $2) } $2 == v { f = 1 } END { exit !f }'
}

# fetch NAME VERSION: download into the cache unless it is there; fails with a
# warning when the mirror does not have the version (any more)
fetch() {
	local name=$1 ver=$2 f
	deb_of "$name" "$ver" >/dev/null && return 0
	if ! in_madison "$name" "$ver"; then
		apt_update_once
		in_madison "$name" "$ver" || { say "WARNING: $name $ver is not in apt-cache madison $name"; return 1; }
	fi
	say "apt-get download $name=$ver"
	if ! (cd "$D" && apt-get -q -o APT::Sandbox::User=root download "$name=$ver") >>"$CACHE/apt.log" 2>&1; then
		apt_update_once
		(cd "$D" && apt-get -q -o APT::Sandbox::User=root download "$name=$ver") >>"$CACHE/apt.log" 2>&1 ||
			{ say "WARNING: apt-get download $name=$ver failed (see $CACHE/apt.log)"; return 1; }
	fi
	f=$(deb_of "$name" "$ver") || { say "WARNING: $name $ver: no .deb after apt-get download"; return 1; }
	if [ "$(dpkg-deb -f "$f" Package)" != "$name" ] || [ "$(dpkg-deb -f "$f" Version)" != "$ver" ]; then
		say "WARNING: $f is not $name $ver"
		rm -f "$f"
		return 1
	fi
}

# --- baselines (cached) ----------------------------------------------------------

# zlong A B: --long=N when the larger file is over zstd's default 128 MiB window
# limit (the windows of these packages' files are far below; kept for safety)
zlong() {
	local s
	s=$(stat -c %s "$1" "$2" | sort -n | tail -n 1)
	[ "$s" -gt $((1 << 27)) ] || return 0
	awk -v s="$s" 'BEGIN { l = 10; while (2 ^ l < s) l++; print "--long=" l }'
}

# zpatch OLD NEW: bytes of zstd -19 --patch-from=OLD NEW
zpatch() {
	local long
	long=$(zlong "$1" "$2")
	# shellcheck disable=SC2086
	zstd -"$LEVEL" -q $long --patch-from="$1" "$2" -c 2>"$T/zstd.err" >"$T/zstd.out" ||
		{ cat "$T/zstd.err" >&2; say "FAILED: zstd --patch-from=$1 $2"; return 1; }
	stat -c %s "$T/zstd.out"
}

# bpatch OLD NEW: bytes of bsdiff OLD NEW PATCH; an empty side (bsdiff cannot mmap
# it) is replaced by a 1-byte stand-in (the caller counts these)
bpatch() {
	local a=$1 b=$2
	if [ ! -s "$a" ]; then printf '\0' >"$T/empty.a"; a=$T/empty.a; fi
	if [ ! -s "$b" ]; then printf '\0' >"$T/empty.b"; b=$T/empty.b; fi
	rm -f "$T/bsdiff.p"
	bsdiff "$a" "$b" "$T/bsdiff.p" 2>"$T/bsdiff.err" ||
		{ cat "$T/bsdiff.err" >&2; say "FAILED: bsdiff $1 $2"; return 1; }
	stat -c %s "$T/bsdiff.p"
}

# unpack DEB DIR: DIR/data (dpkg-deb -x) and DIR/control (dpkg-deb -e)
unpack() {
	mkdir -p "$2"
	dpkg-deb -x "$1" "$2/data"
	dpkg-deb -e "$1" "$2/control"
}

# baseline NAME OLD NEW: sets P (the pair's cache dir) and computes P/base unless
# cached: "full zstd_deb bsdiff_deb zstd_files bsdiff_files changed changed_bytes
# new new_bytes empty same"
baseline() {
	local name=$1 old=$2 new=$3 key w f z b zf=0 bf=0 nch=0 chb=0 nnew=0 newb=0 same=0 empty=0 full zd bd
	key=$( (echo "$METHOD"; sha256sum <"$old"; sha256sum <"$new") | sha256sum | cut -c1-24)
	P=$CACHE/work/$name-$key
	[ -s "$P/base" ] && return 0
	say "$name: baselines (whole .deb and per file; cached in $P)"
	rm -rf "$P" "$P.tmp"
	w=$P.tmp
	mkdir -p "$w"
	unpack "$old" "$w/old"
	unpack "$new" "$w/new"
	full=$(stat -c %s "$new")
	zd=$(zpatch "$old" "$new") || zd=FAIL
	bd=$(bpatch "$old" "$new") || bd=FAIL
	(cd "$w/old" && find data control -type f | sort) >"$w/old.list"
	(cd "$w/new" && find data control -type f | sort) >"$w/new.list"
	while IFS= read -r f; do
		if cmp -s "$w/old/$f" "$w/new/$f"; then
			same=$((same + 1))
			continue
		fi
		echo "$f" >>"$w/changed.list"
		nch=$((nch + 1))
		chb=$((chb + $(stat -c %s "$w/new/$f")))
		{ [ -s "$w/old/$f" ] && [ -s "$w/new/$f" ]; } || empty=$((empty + 1))
		# a failure makes the column FAIL (and is said on stderr), never a smaller sum
		if [ "$zf" != FAIL ] && z=$(zpatch "$w/old/$f" "$w/new/$f"); then zf=$((zf + z)); else zf=FAIL; fi
		if [ "$bf" != FAIL ] && b=$(bpatch "$w/old/$f" "$w/new/$f"); then bf=$((bf + b)); else bf=FAIL; fi
	done < <(comm -12 "$w/old.list" "$w/new.list")
	comm -13 "$w/old.list" "$w/new.list" >"$w/new-only.list"
	while IFS= read -r f; do
		nnew=$((nnew + 1))
		newb=$((newb + $(stat -c %s "$w/new/$f")))
	done <"$w/new-only.list"
	echo "$full $zd $bd $zf $bf $nch $chb $nnew $newb $empty $same" >"$w/base"
	mv "$w" "$P"
}

# --- the device: the script-less OLD, the stub, the desired state (cached) --------

# satisfies VERSION "OP VER"...: whether VERSION meets every constraint
satisfies() {
	local v=$1 c op cv
	shift
	for c in "$@"; do
		[ -n "$c" ] || continue
		op=${c%% *}
		cv=${c#* }
		case $op in '<') op='<=' ;; '>') op='>=' ;; esac
		dpkg --compare-versions "$v" "$op" "$cv" || return 1
	done
}

# device_pool NAME OLD: P/pool with OLD-noscripts and lbbench-delta-base, P/desired
device_pool() {
	local name=$1 old=$2 w=$P/dev.tmp comp dep v cands c f provides="" ver arch
	local -a cons
	[ -s "$P/pool/desired" ] && return 0
	rm -rf "$w" "$P/pool"
	mkdir -p "$w/pool"
	# (a) OLD without maintainer scripts, same data, same data compressor
	case $(ar t "$old" | grep '^data\.tar') in
	data.tar.xz) comp=xz ;; data.tar.zst) comp=zstd ;; data.tar.gz) comp=gzip ;;
	data.tar.bz2) comp=bzip2 ;; data.tar) comp=none ;;
	*) say "$old: unknown data member"; return 1 ;;
	esac
	dpkg-deb -R "$old" "$w/old"
	rm -f "$w/old/DEBIAN/"{preinst,postinst,prerm,postrm,config,templates,triggers}
	dpkg-deb -Z"$comp" -b "$w/old" "$w/pool" >/dev/null
	# (b) the stub: Provides the first alternative of each Depends/Pre-Depends group
	# of OLD, at the newest version in the mirror (or the constraint's own) that
	# satisfies all of OLD's constraints on it
	for f in Pre-Depends Depends; do dpkg-deb -f "$old" "$f"; done | tr ',' '\n' |
		awk 'NF { sub(/\|.*/, ""); gsub(/^[ \t]+|[ \t]+$/, "")
			n = $0; sub(/[ (].*/, "", n); sub(/:.*/, "", n)
			c = ""; if (match($0, /\(.*\)/)) { c = substr($0, RSTART + 1, RLENGTH - 2); gsub(/^ +| +$/, "", c)
				sub(/^(<<|<=|>=|>>|=|<|>) */, "& ", c); sub(/  +/, " ", c) }
			print n "\t" c }' | sort -u >"$w/deps"
	while IFS= read -r dep <&3; do
		[ "$dep" = "$name" ] && continue
		mapfile -t cons < <(awk -F'\t' -v d="$dep" '$1 == d { print $2 }' "$w/deps")
		cands=$(apt-cache madison "$dep" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }'
			for c in "${cons[@]}"; do [ -n "$c" ] && echo "${c#* }"; done)
		ver=""
		for v in $cands; do
			if satisfies "$v" "${cons[@]}"; then ver=$v; break; fi
		done
		if [ -z "$ver" ] && [ -n "$(printf '%s' "${cons[@]}")" ]; then
			say "WARNING: $name: no version of $dep satisfies ${cons[*]}; unversioned Provides"
		fi
		provides="$provides${provides:+, }$dep${ver:+ (= $ver)}"
	done 3< <(cut -f1 "$w/deps" | sort -u)
	arch=$(dpkg --print-architecture)
	mkdir -p "$w/stub/DEBIAN"
	cat >"$w/stub/DEBIAN/control" <<EOF
Package: lbbench-delta-base
Version: 1.0
Architecture: $arch
Maintainer: lifeboat bench <bench@invalid>
${provides:+Provides: $provides
}Description: stand-in for the dependencies of $name in the delta benchmark
 No files.
EOF
	dpkg-deb --build --root-owner-group -Zgzip "$w/stub" "$w/pool/lbbench-delta-base_1.0_$arch.deb" >/dev/null
	rm -rf "$w/old" "$w/stub"
	printf 'Serial: 1\nPackages: %s (= %s), lbbench-delta-base (= 1.0)\n' \
		"$name" "$(dpkg-deb -f "$old" Version)" >"$w/pool/desired"
	mv "$w/pool" "$P/pool"
	rm -rf "$w"
}

# --- lifeboat's columns ----------------------------------------------------------

# lifeboat_cols NAME OLD NEW: sets LBD ENC REC RSS NOTE (n/a when the commands are
# missing; FAIL, STATUS=1, when they fail)
lifeboat_cols() {
	local name=$1 old=$2 new=$3 w=$T/$1.$RANDOM ns r
	LBD=n/a ENC=n/a REC=n/a RSS=n/a NOTE=""
	mkdir -p "$w"
	if [ ! -x "$LB_MASTER" ]; then
		NOTE="no $LB_MASTER"
		return 0
	fi
	if ! /usr/bin/time -f '%e %M' -o "$w/enc.time" "$LB_MASTER" delta "$old" "$new" "$w/delta" \
		>"$w/enc.log" 2>"$w/enc.err" || [ ! -f "$w/delta" ]; then
		if grep -qiE 'unknown command|usage' "$w/enc.log" "$w/enc.err"; then
			NOTE="lifeboat-master has no delta command"
		else
			LBD=FAIL NOTE="delta: $(cat "$w/enc.log" "$w/enc.err" | tail -n 1)" STATUS=1
		fi
		return 0
	fi
	if head -n 1 "$w/enc.log" | grep -q "^$w/delta"; then
		NOTE="delta $(head -n 1 "$w/enc.log" | grep -o 'files: [^;]*' || true)"
	else
		say "WARNING: $name: delta's first line does not start with its output path: $(head -n 1 "$w/enc.log")"
	fi
	LBD=$(stat -c %s "$w/delta")
	ENC=$(tail -n 1 "$w/enc.time" | cut -d' ' -f1)
	# the device
	if ! device_pool "$name" "$old"; then
		REC=FAIL NOTE="building the device's pool failed" STATUS=1
		return 0
	fi
	ns=$(find "$P/pool" -name "${name}_*.deb" | head -n 1)
	if ! "$LB_MASTER" delta "$ns" "$new" "$w/delta2" >"$w/enc2.log" 2>&1; then
		REC=FAIL NOTE="delta from the script-less OLD: $(tail -n 1 "$w/enc2.log")" STATUS=1
		return 0
	fi
	NOTE="${NOTE:+$NOTE; }script-less delta $(stat -c %s "$w/delta2") B"
	mkdir -p "$w/root" "$w/state"
	if ! "$LB" --root "$w/root" --state "$w/state" apply --pool "$P/pool" "$P/pool/desired" >"$w/apply.log" 2>&1; then
		REC=FAIL NOTE="$NOTE; apply of OLD: $(tail -n 1 "$w/apply.log")" STATUS=1
		return 0
	fi
	if ! /usr/bin/time -f '%e %M' -o "$w/rec.time" "$LB" --root "$w/root" --state "$w/state" \
		patch "$w/delta2" "$w/result.deb" >"$w/rec.log" 2>&1; then
		if grep -qiE 'unknown command|usage' "$w/rec.log"; then
			NOTE="$NOTE; lifeboat has no patch command"
		else
			REC=FAIL NOTE="$NOTE; patch: $(tail -n 1 "$w/rec.log")" STATUS=1
		fi
		return 0
	fi
	read -r REC r < <(tail -n 1 "$w/rec.time")
	RSS=$(awk -v k="$r" 'BEGIN { printf "%.1f", k / 1024 }')
	if cmp -s "$w/result.deb" "$new"; then
		NOTE="$NOTE; RESULT.deb = NEW.deb byte for byte"
	elif same_content "$new" "$w/result.deb" "$w/res"; then
		NOTE="$NOTE; RESULT.deb has NEW's content (files, control, modes, owners, mtimes; $(ar t "$w/result.deb" | grep '^data' || true))"
	else
		REC="$REC FAIL" NOTE="$NOTE; RESULT.deb's content DIFFERS from NEW.deb (see $w)" STATUS=1
		trap '' EXIT # keep the evidence
		say "$name: RESULT.deb differs from NEW.deb; kept $T"
		return 0
	fi
	rm -rf "$w"
}

# listing DEB: the data tar's entries (mode, numeric owner, size, mtime, path, link
# target), the root "./" left out
listing() {
	dpkg-deb --fsys-tarfile "$1" | tar --numeric-owner -tvf - | grep -v ' \./$'
}

# same_content NEW RESULT DIR: whether RESULT holds NEW's files and control (P/new,
# NEW unpacked) with the same metadata; unpacks RESULT into DIR
same_content() {
	unpack "$2" "$3" &&
		diff -r --no-dereference "$P/new/data" "$3/data" >&2 &&
		diff -r "$P/new/control" "$3/control" >&2 &&
		diff <(listing "$1") <(listing "$2") >&2
}

# --- main ------------------------------------------------------------------------
start=$(date +%s)
deps
T=$(cd "$(mktemp -d "${BENCH_TMPDIR:-build/bench-tmp}/pkgdelta.XXXXXX")" && pwd)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM HUP
STATUS=0
: >"$T/rows"
: >"$T/notes"
: >"$T/dropped"

while read -r name oldv newv; do
	if [ -n "${PKGDELTA_PAIRS:-}" ] && [[ " $PKGDELTA_PAIRS " != *" $name "* ]]; then continue; fi
	if ! fetch "$name" "$oldv" || ! fetch "$name" "$newv"; then
		say "WARNING: dropping $name $oldv -> $newv"
		echo "$name $oldv -> $newv" >>"$T/dropped"
		continue
	fi
	old=$(deb_of "$name" "$oldv")
	new=$(deb_of "$name" "$newv")
	baseline "$name" "$old" "$new"
	read -r full zd bd zf bf nch chb nnew newb empty same <"$P/base"
	say "$name $oldv -> $newv: lifeboat delta"
	lifeboat_cols "$name" "$old" "$new"
	# the control member, which lifeboat's delta carries as the .deb has it
	ctl=$(ar tv "$new" | awk '$NF ~ /^control\.tar/ { print $3 }')
	printf '%s\t%s → %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$oldv" "$newv" \
		"$full" "$zd" "$bd" "$zf" "$bf" "$LBD" "$ctl" "$ENC" "$REC" "$RSS" >>"$T/rows"
	n="$name $oldv → $newv: $nch changed files ($chb B in NEW), $same unchanged, $nnew new files ($newb B) not in the per-file columns"
	[ "$empty" = 0 ] || n="$n; $empty empty sides replaced by 1 byte for bsdiff"
	[ -z "$NOTE" ] || n="$n; lifeboat: $NOTE"
	echo "$n" >>"$T/notes"
done <<<"$PAIRS"

[ -s "$T/rows" ] || { say "no pair left"; exit 1; }

echo "## Package deltas: bytes to upgrade one .deb ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "Debian 12 packages from apt-get download (cache: ${CACHE#"$top"/}/debs). Columns, in bytes:"
echo "full = NEW .deb; zstd-deb = \`zstd -$LEVEL --patch-from=OLD.deb NEW.deb\`; bsdiff-deb = \`bsdiff OLD.deb NEW.deb\`;"
echo "zstd-files / bsdiff-files = the same per file, summed over the **changed files only** (regular files in"
echo "both OLD and NEW, data and control, whose content differs; files new in NEW and all metadata not counted);"
echo "lifeboat = \`lifeboat-master delta OLD.deb NEW.deb\`, of which control = NEW's control member, sent as it is;"
echo "encode s = its wall time; reconstruct s / peak RSS ="
echo "\`lifeboat patch\` on a root with the script-less rebuild of OLD installed (/usr/bin/time %e %M)."
printf '%s; bsdiff %s.\n' "$(zstd --version | sed 's/^\*\*\* //; s/ \*\*\*$//; s/, by .*//')" "$(dpkg-query -W -f='${Version}' bsdiff)"
echo
awk -F '\t' '
	function c(n,   s) { if (n !~ /^[0-9]+$/) return n; s = ""; while (length(n) > 3) { s = "," substr(n, length(n) - 2) s; n = substr(n, 1, length(n) - 3) } return n s }
	function num(x) { return x ~ /^[0-9.]+$/ }
	BEGIN {
		print "| package | old → new | full | zstd-deb | bsdiff-deb | zstd-files | bsdiff-files | lifeboat | of it control | lifeboat % of full | encode s | reconstruct s | reconstruct peak RSS MiB |"
		print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
		lbok = 1
	}
	{
		pct = num($8) ? sprintf("%.1f", 100 * $8 / $3) : "n/a"
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, c($3), c($4), c($5), c($6), c($7), c($8), c($9), pct, $10, $11, $12
		for (i = 3; i <= 7; i++) if (num($i)) t[i] += $i; else bad[i] = 1
		if (num($8)) { t[8] += $8; t[9] += $9; nlb++; if ($8 < $6 && $8 < $7) below++; if ($8 - $9 < $6 && $8 - $9 < $7) belowdata++ } else lbok = 0
		n++
	}
	END {
		lt = lbok ? c(t[8]) : "n/a"
		pct = lbok ? sprintf("%.1f", 100 * t[8] / t[3]) : "n/a"
		for (i = 3; i <= 7; i++) tt[i] = bad[i] ? "FAIL" : c(t[i])
		printf "| **TOTAL** | %d pairs | %s | %s | %s | %s | %s | %s | %s | %s | | | |\n", n, tt[3], tt[4], tt[5], tt[6], tt[7], lt, c(t[9]), pct
		print ""
		if (!lbok) {
			printf "lifeboat: n/a for %d of %d pairs (no delta yet), so no comparison of totals.\n", n - nlb, n
		} else {
			split("full zstd-deb bsdiff-deb zstd-files bsdiff-files", nm, " ")
			s = "lifeboat total " c(t[8]) " is"
			for (i = 3; i <= 7; i++) s = s sprintf("%s %s %s (%s)", i > 3 ? "," : "", t[8] < t[i] ? "below" : "NOT below", nm[i - 2], c(t[i]))
			print s "."
			printf "Per pair: lifeboat is below both per-file columns (zstd-files and bsdiff-files) in %d of %d pairs;\n", below, n
			printf "lifeboat without its control member, against per-file columns that include the diffs of changed control files: below both in %d of %d.\n", belowdata, n
		}
	}' "$T/rows"
echo
echo "Notes:"
sed 's/^/- /' "$T/notes"
if [ -s "$T/dropped" ]; then
	echo "Dropped (not downloadable now):"
	sed 's/^/- /' "$T/dropped"
fi
say "total $(($(date +%s) - start)) s; exit status $STATUS"
exit $STATUS
