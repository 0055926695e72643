#!/bin/sh
# VM smoke test of the rescue initramfs: build it, boot it in QEMU (TCG) with
# lifeboat.smoketest, and check that the console shows the marker and lifeboat's
# version and that the guest powered off by itself within the timeout.
# Prints the boot time to the marker; the last line is "vm: N passed, N failed".
#
# Environment: SYSROOT [build/sysroot] (skips scripts/fetch-debs.sh when it is set
# and already holds KVER), BUILD [build], VM_TIMEOUT [60], KEEP=1 keeps the log.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VM_TIMEOUT=${VM_TIMEOUT:-60}
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok   $*"; }
nok() { fail=$((fail + 1)); echo "FAIL $*"; }
finish() {
	echo "vm: $pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit
}

TMP=$(mktemp -d /tmp/lifeboat-vm.XXXXXX)
VMPID=""
# shellcheck disable=SC2317 # called from the trap
cleanup() {
	[ -n "$VMPID" ] && kill "$VMPID" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. build ------------------------------------------------------------------
if ! make -s "$BUILD/lifeboat" >"$TMP/build.log" 2>&1; then
	tail -20 "$TMP/build.log"
	nok "build: make $BUILD/lifeboat"
	finish
fi
if [ -n "${SYSROOT:-}" ] && [ -f "$SYSROOT/KVER" ]; then
	echo "     sysroot: $SYSROOT (given; scripts/fetch-debs.sh not run)"
elif [ -x scripts/fetch-debs.sh ]; then
	SYSROOT=${SYSROOT:-build/sysroot}
	if ! scripts/fetch-debs.sh >"$TMP/fetch.log" 2>&1; then
		tail -20 "$TMP/fetch.log"
		nok "build: scripts/fetch-debs.sh"
		finish
	fi
else
	nok "build: scripts/fetch-debs.sh missing and no SYSROOT given"
	finish
fi
export SYSROOT BUILD
# the key the QEMU tests pin (tests/vm/vmlib.sh), so that the image is built once
[ -z "${PUBKEY:-}" ] && [ -f "$BUILD/vm/master.key.pub" ] && PUBKEY=$BUILD/vm/master.key.pub
export PUBKEY
if ! scripts/build-initramfs.sh >"$TMP/initramfs.log" 2>&1; then
	tail -20 "$TMP/initramfs.log"
	nok "build: scripts/build-initramfs.sh"
	finish
fi
sed -n '/^initramfs contents/,$p' "$TMP/initramfs.log"
ok "build: $BUILD/initramfs.cpio.xz"

# 2. every dynamic executable in the image finds its libraries there -----------
# (the image's own ld.so, no ld.so.cache: what the guest will do). Needs root.
if [ "$(id -u)" = 0 ]; then
	missing=""
	for f in $(cd "$BUILD/initramfs" && find . -type f -perm -u+x | sed 's|^\.||'); do
		case $f in /init | /bin/busybox | /lib64/*) continue ;; esac
		# scripts (udhcpc's) have no libraries: only ELF files are checked
		[ "$(head -c 4 "$BUILD/initramfs$f" | od -An -c | tr -d ' ')" = "177ELF" ] || continue
		out=$(chroot "$BUILD/initramfs" /lib64/ld-linux-x86-64.so.2 --list "$f" 2>&1) ||
			missing="$missing $f"
		case $out in *"not found"*) missing="$missing $f" ;; esac
	done
	if [ -z "$missing" ]; then
		ok "image: every executable resolves its libraries inside the image"
	else
		nok "image: unresolved libraries for:$missing"
	fi
else
	echo "skip image library check (needs root for chroot)"
fi

# 3. boot ----------------------------------------------------------------------
LOG=$TMP/console.log
start=$(date +%s%N)
scripts/run-vm.sh -t "$VM_TIMEOUT" -a lifeboat.smoketest -l "$LOG" </dev/null >/dev/null 2>"$TMP/run-vm.err" &
VMPID=$!
marker_at=""
while kill -0 "$VMPID" 2>/dev/null; do
	if [ -z "$marker_at" ] && grep -q "lifeboat rescue: up" "$LOG" 2>/dev/null; then
		marker_at=$(date +%s%N)
	fi
	sleep 0.1
done
wait "$VMPID"
rc=$?
VMPID=""
end=$(date +%s%N)
# seen only after QEMU exited (the guest powers off ~0.1 s after the marker): an upper bound
le=""
[ -z "$marker_at" ] && grep -q "lifeboat rescue: up" "$LOG" 2>/dev/null && marker_at=$end le="<= "
ms() { echo $((($1 - start) / 1000000)); }

if [ -n "$marker_at" ]; then
	ok "console: 'lifeboat rescue: up'"
else
	nok "console: no 'lifeboat rescue: up'"
fi
version=$("$BUILD/lifeboat" --version 2>/dev/null)
if [ -n "$version" ] && tr -d '\r' <"$LOG" | grep -qxF "$version"; then
	ok "console: lifeboat --version printed '$version'"
else
	nok "console: no line '$version' from lifeboat --version"
fi
if [ "$rc" = 0 ]; then
	ok "qemu: guest powered off by itself after $(ms "$end") ms (timeout ${VM_TIMEOUT}s)"
else
	nok "qemu: exit status $rc ($([ "$rc" = 124 ] && echo "timeout ${VM_TIMEOUT}s" || echo error))"
	cat "$TMP/run-vm.err"
fi
if grep -q "lifeboat rescue: modules: [1-9][0-9]* loaded" "$LOG"; then
	ok "console: $(tr -d '\r' <"$LOG" | sed -n 's/.*lifeboat rescue: modules: //p')"
else
	nok "console: no modules loaded"
fi
if [ "$fail" != 0 ]; then
	echo "---- console"
	tr -d '\r' <"$LOG" | tail -40
fi
if [ -n "$marker_at" ]; then
	echo "boot time: $le$(ms "$marker_at") ms from QEMU start to 'lifeboat rescue: up';" \
		"$(tr -d '\r' <"$LOG" | sed -n 's/.*lifeboat rescue: up (\([0-9.]*\) s after.*/\1/p') s of it" \
		"after the kernel started (guest clock); $(ms "$end") ms to power-off"
fi
finish
