#!/bin/sh
# Check lb_vercmp against the real dpkg on real Debian versions: take a
# deterministic sample of the versions in this machine's apt lists and dpkg
# status, sort it with lb_vercmp, and have dpkg confirm every adjacent pair of
# the sorted list (so the whole order is dpkg's, by transitivity) and some
# random pairs. All pairs go through `dpkg --compare-versions`; when
# libdpkg-perl is installed, many more random pairs go through Dpkg::Version.
# Exit 0 if all agree, 1 on any disagreement, 77 if dpkg is missing.
# Environment: VERSIONS (sample size, default 2500), CC, BUILD.
set -eu
cd "$(dirname "$0")/../.."
N=${VERSIONS:-2500}
CC=${CC:-cc}
command -v dpkg >/dev/null || { echo "version-pairs: SKIP: no dpkg"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$CC -std=gnu11 -O2 -D_GNU_SOURCE -Ilib -o "$tmp/pairs" tests/unit/version-pairs.c \
	lib/version.c lib/error.c

# Versions of packages and the versions named in their relations.
{
	for f in /var/lib/apt/lists/*_Packages* /var/lib/dpkg/status; do
		[ -f "$f" ] || continue
		case $f in
		*.lz4 | *.gz | *.xz | *.zst | *.bz2)
			/usr/lib/apt/apt-helper cat-file "$f" 2>/dev/null || true ;;
		*) cat "$f" ;;
		esac
	done
} | awk '
/^Version:/ { print $2 }
/^(Pre-)?Depends:/ {
	s = $0
	while (match(s, /\([<>=]+ *[^)]*\)/)) {
		v = substr(s, RSTART, RLENGTH)
		sub(/^\([<>=]+ */, "", v)
		sub(/ *\)$/, "", v)
		print v
		s = substr(s, RSTART + RLENGTH)
	}
}' | sort -u >"$tmp/all"
total=$(wc -l <"$tmp/all")
[ "$total" -ge 100 ] || { echo "version-pairs: only $total versions found (run apt-get update)"; exit 1; }
awk 'BEGIN { srand(42) } { print rand() "\t" $0 }' "$tmp/all" | sort -n | head -n "$N" |
	cut -f2 >"$tmp/sample"

# Adjacent pairs and 500 random pairs for the dpkg binary.
"$tmp/pairs" 500 <"$tmp/sample" >"$tmp/bin" || { echo "version-pairs: FAIL (see above)"; exit 1; }
nbin=$(wc -l <"$tmp/bin")
# dpkg --compare-versions exits non-zero when the relation does not hold; run
# them in parallel and, on any failure, again one by one to name the pair.
if ! xargs -n 3 -P "$(nproc)" dpkg --compare-versions <"$tmp/bin" 2>/dev/null; then
	while read -r a op b; do
		dpkg --compare-versions "$a" "$op" "$b" 2>/dev/null ||
			echo "version-pairs: DISAGREE: lb_vercmp says $a $op $b, dpkg does not"
	done <"$tmp/bin"
	exit 1
fi

nperl=0
if perl -MDpkg::Version -e 1 2>/dev/null; then
	"$tmp/pairs" 100000 <"$tmp/sample" >"$tmp/perl"
	nperl=$(wc -l <"$tmp/perl")
	perl -MDpkg::Version -ne '
		my ($a, $op, $b) = split;
		my $c = version_compare($a, $b);
		my $want = $op eq "lt" ? -1 : $op eq "gt" ? 1 : 0;
		next if ($c <=> 0) == $want;
		print "version-pairs: DISAGREE: lb_vercmp says $a $op $b, Dpkg::Version does not\n";
		$bad = 1;
		END { exit($bad ? 1 : 0) }' "$tmp/perl" || exit 1
fi
echo "version-pairs: $(wc -l <"$tmp/sample") of $total real versions: $nbin pairs agree with" \
	"dpkg --compare-versions, $nperl with Dpkg::Version"
