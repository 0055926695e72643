#!/bin/sh
# Fetch the real-package set for the install benchmark.
#
#   tests/bench/fetch-real-debs.sh CACHEDIR
#
# Downloads (with `apt-get download`, from the configured Debian mirrors) the
# packages listed below into CACHEDIR unless a previous run already did, keeps
# only those without a preinst script (checked with `dpkg-deb -I`), names them
# NAME_VERSION_ARCH.deb and writes CACHEDIR/desired (a lifeboat desired-state
# document listing them). Libraries and data packages; none has an epoch in
# its version, so file names need no %3a escaping.
set -eu

cache=${1:?usage: fetch-real-debs.sh CACHEDIR}

PKGS="libssl3 libxml2 libsqlite3-0 libzstd1 liblzma5 libbz2-1.0 libicu72
libpython3.11-minimal libpython3.11-stdlib python3.11 libstdc++6 libgcc-s1
perl-modules-5.36 libglib2.0-0 libglib2.0-data libxcb1 libgnutls30 libnettle8
libhogweed6 libp11-kit0 libtasn1-6 libunistring2 libidn2-0 libcurl4
libnghttp2-14 libssh2-1 libkrb5-3 libgssapi-krb5-2 libk5crypto3 libkrb5support0
libkeyutils1 libcom-err2 libldap-2.5-0 libsasl2-2 libsasl2-modules-db libpsl5
libbrotli1 libexpat1 libffi8 libncursesw6 libtinfo6 libreadline8
readline-common libedit2 libmd0 libbsd0 libpcre2-8-0 libselinux1 libuuid1
libblkid1 libmount1 libsystemd0 libudev1 liblz4-1 libgcrypt20 libgpg-error0
libjson-c5 libyaml-0-2 libevent-2.1-7 libpng16-16 libfreetype6 libfontconfig1
libpixman-1-0 libcairo2 libharfbuzz0b libgraphite2-3
libfribidi0 libtiff6 libwebp7 libdeflate0 libdb5.3 libgdbm6 manpages
fonts-dejavu-core media-types"

stamp="fetch-real-debs v2 $(echo "$PKGS" | cksum | cut -d' ' -f1)"
if [ -f "$cache/.stamp" ] && [ "$(cat "$cache/.stamp")" = "$stamp" ]; then
	exit 0
fi

rm -rf "$cache"
mkdir -p "$cache/dl"
cache=$(cd "$cache" && pwd)
cd "$cache/dl"
echo "fetch-real-debs: apt-get download of $(echo "$PKGS" | wc -w) packages into $cache" >&2
# shellcheck disable=SC2086
if ! apt-get -q -o APT::Sandbox::User=root download $PKGS >../apt.log 2>&1; then
	echo "fetch-real-debs: apt-get download failed; running apt-get update and retrying" >&2
	apt-get -q update >>../apt.log 2>&1
	# shellcheck disable=SC2086
	apt-get -q -o APT::Sandbox::User=root download $PKGS >>../apt.log 2>&1 || {
		cat ../apt.log >&2
		exit 1
	}
fi

cd "$cache"
kept=""
for deb in dl/*.deb; do
	if dpkg-deb -I "$deb" | grep -qE '^ +[0-9]+ bytes, +[0-9]+ lines +\*? *preinst'; then
		echo "fetch-real-debs: skipping $(basename "$deb"): has a preinst" >&2
		continue
	fi
	name=$(dpkg-deb -f "$deb" Package)
	ver=$(dpkg-deb -f "$deb" Version)
	arch=$(dpkg-deb -f "$deb" Architecture)
	case $ver in *:*)
		echo "fetch-real-debs: skipping $name: version $ver has an epoch" >&2
		continue ;;
	esac
	mv "$deb" "${name}_${ver}_${arch}.deb"
	kept="$kept${kept:+, }$name (= $ver)"
done
rm -rf dl
[ -n "$kept" ] || { echo "fetch-real-debs: no usable package" >&2; exit 1; }

# lifeboat installs only dependency-closed sets, and the closure of these
# packages holds libc6 & co., which have preinst scripts. A file-less stub,
# lbbench-real-base, Provides what the set depends on but lacks (the first
# alternative of each unsatisfied group, at the mirror's version from
# `apt-cache show`), so both installers get the same closed set.
for deb in *.deb; do
	for f in Package Provides; do dpkg-deb -f "$deb" "$f" | sed "s/^/$f /"; done
	for f in Pre-Depends Depends; do dpkg-deb -f "$deb" "$f" | sed 's/^/Depends /'; done
done | awk '
	function bare(s) { gsub(/\(.*\)/, "", s); gsub(/[ \t]/, "", s); sub(/:.*/, "", s); return s }
	$1 == "Package" { have[$2] = 1; next }
	$1 == "Provides" { sub(/^Provides /, ""); n = split($0, a, ","); for (i = 1; i <= n; i++) have[bare(a[i])] = 1; next }
	{ sub(/^Depends /, ""); ng = split($0, g, ","); for (i = 1; i <= ng; i++) groups[++ngroups] = g[i] }
	END {
		for (i = 1; i <= ngroups; i++) {
			na = split(groups[i], alt, "|"); ok = 0
			for (j = 1; j <= na; j++) if (bare(alt[j]) in have) ok = 1
			if (!ok && !(bare(alt[1]) in missing)) { missing[bare(alt[1])] = 1; print bare(alt[1]) }
		}
	}' | sort >missing-deps
provides=""
while read -r dep; do
	v=$(apt-cache show --no-all-versions "$dep" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
	provides="$provides${provides:+, }$dep${v:+ (= $v)}"
done <missing-deps
stub=$(mktemp -d "${TMPDIR:-/tmp}/lb-stub.XXXXXX")
mkdir "$stub/DEBIAN"
cat >"$stub/DEBIAN/control" <<EOF
Package: lbbench-real-base
Version: 1.0
Architecture: $(dpkg --print-architecture)
Maintainer: lifeboat bench <bench@invalid>
Provides: $provides
Description: stand-in for the dependencies outside the lifeboat bench set
 No files. Provides: $(tr '\n' ' ' <missing-deps)
EOF
dpkg-deb --build --root-owner-group -Zgzip "$stub" "lbbench-real-base_1.0_$(dpkg --print-architecture).deb" >/dev/null
rm -rf "$stub"
kept="lbbench-real-base (= 1.0), $kept"
echo "fetch-real-debs: stub lbbench-real-base provides $(wc -l <missing-deps) missing dependencies: $(tr '\n' ' ' <missing-deps)" >&2

printf 'Serial: 1\nPackages: %s\n' "$kept" >desired
echo "$stamp" >.stamp
