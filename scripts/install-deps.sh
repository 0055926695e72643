#!/bin/sh
# Install the Debian packages that building and testing lifeboat need, if any is
# missing. Safe to run every time: it does nothing when all are present.
set -eu
PKGS="build-essential pkg-config clang lld libclang-rt-14-dev libarchive-dev libsodium-dev
libcmocka-dev libzstd-dev liblzma-dev zlib1g-dev libbz2-dev liblz4-dev dpkg-dev fakeroot busybox-static zstd xz-utils
python3 cppcheck clang-format util-linux e2fsprogs time
libcurl4-openssl-dev nginx-light minisign faketime libsolv-dev libsolvext-dev
qemu-system-x86 cpio kmod ca-certificates libubootenv-dev libubootenv-tool fdisk socat
libdivsufsort-dev bsdiff dosfstools mtools"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
