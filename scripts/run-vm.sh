#!/bin/sh
# Boot the rescue system in QEMU (software emulation, never KVM), as the bootloader
# would: the Debian kernel, build/initramfs.cpio.xz, the serial console on stdout.
#
#   scripts/run-vm.sh [-t SECONDS] [-a "KERNEL ARGS"] [-l LOG] [-- QEMU ARGS...]
#
#   -t  hard timeout; QEMU is killed after it (exit status 124)     [120]
#   -a  extra kernel command line, appended to "console=ttyS0 quiet panic=-1"
#   -l  also write the console to LOG
#   -r  let the guest reboot (a watchdog reset or a kernel's reboot starts the
#       bootloader's kernel + initramfs again, as on a board); default: QEMU exits
#   --  everything after goes to QEMU as is (disks, network, watchdog...)
#
# Environment: SYSROOT [build/sysroot], INITRD [build/initramfs.cpio.xz],
# KERNEL [$SYSROOT/boot/vmlinuz-KVER], MEM [512].
# Exit status: QEMU's (0 when the guest powered off or rebooted, -no-reboot), 124 on
# timeout. QEMU never outlives this script, also on Ctrl-C.
set -eu

SYSROOT=${SYSROOT:-build/sysroot}
INITRD=${INITRD:-build/initramfs.cpio.xz}
MEM=${MEM:-512}
TIMEOUT=120
APPEND_EXTRA=""
LOG=""
NOREBOOT="-no-reboot"

usage() { sed -n '2,18s/^# \{0,1\}//p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	-t) TIMEOUT=$2; shift 2 ;;
	-a) APPEND_EXTRA="$APPEND_EXTRA $2"; shift 2 ;;
	-l) LOG=$2; shift 2 ;;
	-r) NOREBOOT=""; shift ;;
	--) shift; break ;;
	-h | --help) usage ;;
	*) echo "run-vm: unknown option $1" >&2; usage ;;
	esac
done

die() { echo "run-vm: $*" >&2; exit 1; }

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
	echo "run-vm: installing qemu-system-x86" >&2
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		qemu-system-x86 >/dev/null || die "cannot install qemu-system-x86"
fi
if [ -z "${KERNEL:-}" ]; then
	[ -f "$SYSROOT/KVER" ] || die "$SYSROOT/KVER missing: run scripts/fetch-debs.sh"
	KERNEL=$SYSROOT/boot/vmlinuz-$(cat "$SYSROOT/KVER")
fi
[ -f "$KERNEL" ] || die "kernel $KERNEL missing"
[ -f "$INITRD" ] || die "initramfs $INITRD missing: run scripts/build-initramfs.sh"

QPID=""
# shellcheck disable=SC2317 # called from the trap
cleanup() {
	if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
		kill "$QPID" 2>/dev/null || true
		sleep 1
		kill -9 "$QPID" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The serial console (and QEMU's monitor, Ctrl-A c) on stdio; with -l, QEMU also
# logs the console to the file itself, so that the exit status stays QEMU's.
CONSOLE="-nographic"
if [ -n "$LOG" ]; then
	: >"$LOG"
	CONSOLE="-nographic -chardev stdio,id=con0,mux=on,signal=off,logfile=$LOG
		-serial chardev:con0 -mon chardev=con0,mode=readline"
fi
# A terminal on stdin (the rescue shell): timeout must leave QEMU in the terminal's
# process group (--foreground). Otherwise stdin goes to the guest's console as it
# is (a test can pipe commands in) and timeout kills the whole group. QEMU runs in
# the background so that a signal to this script runs cleanup at once.
exec 3<&0
TIMEOUT_OPTS=""
[ -t 0 ] && TIMEOUT_OPTS="--foreground"
# shellcheck disable=SC2086
timeout $TIMEOUT_OPTS -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg -m "$MEM" \
	$CONSOLE $NOREBOOT -kernel "$KERNEL" -initrd "$INITRD" \
	-append "console=ttyS0 quiet panic=-1$APPEND_EXTRA" "$@" <&3 &
QPID=$!
set +e
wait "$QPID"
rc=$?
QPID=""
[ $rc -eq 124 ] && echo "run-vm: timeout after ${TIMEOUT}s, QEMU killed" >&2
exit $rc
