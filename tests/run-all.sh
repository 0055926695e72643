#!/bin/bash
# `make test`: the whole suite. Builds the normal, fault-injection and
# ASan/UBSan variants, then runs: cmocka unit tests, version ordering against
# dpkg, fuzz-corpus replay, integration tests on throwaway roots, the
# crash-point sweep; the rescue kernel config check against Debian's kernel and
# a QEMU boot of the rescue initramfs and the boot-flow cases in QEMU;
# and unit + replay + integration again under ASan/UBSan.
# The last line counts every test: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
total_pass=0 total_fail=0 failed_stages=""

count() { # STAGE PASSED FAILED
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	[ "$3" = 0 ] || failed_stages="$failed_stages $1"
}

build() { # BUILD-DIR MAKE-ARGS...
	local dir=$1
	shift
	echo "== build $dir"
	if ! make -s -j"$JOBS" BUILD="$dir" "$@" "$dir/lifeboat" "$dir/lifeboat-master" \
		$(ls tests/unit/test_*.c | sed "s|tests/unit/\(.*\)\.c|$dir/tests/\1|") \
		$(ls tests/fuzz/fuzz_*.c | sed "s|tests/fuzz/\(.*\)\.c|$dir/replay/\1|") >/dev/null; then
		echo "build of $dir failed"
		count "build:$dir" 0 1
		return 1
	fi
}

unit() { # BUILD-DIR
	local p=0 f=0 t out rc
	for t in "$1"/tests/test_*; do
		out=$("$t" 2>&1)
		rc=$?
		local np nf
		np=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -1)
		nf=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -1)
		np=${np:-0} nf=${nf:-0}
		[ $rc = 0 ] || [ "$nf" != 0 ] || nf=1 # crashed without a summary
		[ "$np" != 0 ] || [ "$nf" != 0 ] || nf=1 # ran nothing
		[ "$nf" = 0 ] || { echo "$out" | tail -30; echo "FAILED: $t"; }
		echo "unit $(basename "$t"): $np passed, $nf failed"
		p=$((p + np)) f=$((f + nf))
	done
	count "unit:$1" $p $f
}

replay() { # BUILD-DIR
	local p=0 f=0 t name
	for t in "$1"/replay/fuzz_*; do
		name=$(basename "$t")
		name=${name#fuzz_}
		if "$t" "tests/fuzz/corpus/$name" >/dev/null 2>&1; then p=$((p + 1)); else
			echo "FAILED: $t tests/fuzz/corpus/$name"; f=$((f + 1)); fi
	done
	echo "fuzz corpus replay ($1): $p passed, $f failed"
	count "replay:$1" $p $f
}

integration() { # BUILD-DIR
	local out
	out=$(LIFEBOAT=$PWD/$1/lifeboat LIFEBOAT_MASTER=$PWD/$1/lifeboat-master \
		tests/integration/run.sh 2>&1)
	echo "$out" | grep -v '^ok - '
	local line
	line=$(tail -1 <<<"$out")
	count "integration:$1" "$(sed 's/.*: \([0-9]*\) passed.*/\1/' <<<"$line")" \
		"$(sed 's/.* \([0-9]*\) failed.*/\1/' <<<"$line")"
}

vm_stage() { # NAME SCRIPT: a QEMU suite whose last line is "NAME: N passed, N failed"
	local out line
	out=$("$2" 2>&1)
	echo "$out" | grep -vE '^ok ' | tail -80
	line=$(tail -1 <<<"$out")
	if [[ $line =~ ^$1:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		count "$1" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	else
		count "$1" 0 1
	fi
}

scripts/install-deps.sh || exit 1
if scripts/lint.sh; then count lint 1 0; else count lint 0 1; fi
build build && {
	unit build
	if tests/unit/version-pairs.sh; then count version-pairs 1 0; else count version-pairs 0 1; fi
	replay build
	integration build
}
build build/fi FI=1 && {
	out=$(tests/crash/sweep.sh 2>&1)
	echo "$out" | grep -v '^#' | tail -20
	line=$(tail -1 <<<"$out")
	count crashsweep "$(sed 's/.*: \([0-9]*\) passed.*/\1/' <<<"$line")" \
		"$(sed 's/.* \([0-9]*\) failed.*/\1/' <<<"$line")"
}
# The rescue kernel's requirements against Debian's kernel (downloads it once
# into build/debs, unpacks build/sysroot; see scripts/fetch-debs.sh).
if scripts/fetch-debs.sh >/tmp/lifeboat-fetch.log 2>&1; then
	out=$(tests/kernel-config/test.sh 2>&1)
	echo "$out" | grep -A20 '^FAILED' | head -40
	echo "$out" | tail -3
	line=$(tail -1 <<<"$out")
	if [[ $line =~ ^kernel-config:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		count kernel-config "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	else
		echo "kernel-config: no summary line"
		count kernel-config 0 1
	fi
	# the rescue initramfs, built from it, boots in QEMU (TCG) and runs lifeboat
	out=$(SYSROOT=build/sysroot tests/vm/smoke.sh 2>&1)
	echo "$out" | grep -E '^(ok|not ok|FAIL|boot time|build-initramfs:)' | tail -12
	line=$(tail -1 <<<"$out")
	if [[ $line =~ ^vm:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		count vm "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	else
		echo "$out" | tail -20
		count vm 0 1
	fi
	# the boot flow: counting, kexec, panics, hangs, corruption, a master that is
	# down, power cycles, the serial shell, UBI (~13 min of TCG)
	vm_stage vm-boot tests/vm/boot.sh
	# OS updates: A/B (success, fallback), single slot through the rescue system
	vm_stage vm-update tests/vm/update.sh
	# power cuts while writing a slot: block device and UBI volume
	vm_stage vm-powercut tests/vm/powercut.sh
	# factory provisioning from a USB stick: a blank disk, refusals, a power cut
	vm_stage vm-provision tests/vm/provision.sh
else
	tail -20 /tmp/lifeboat-fetch.log
	echo "kernel-config: scripts/fetch-debs.sh failed (log: /tmp/lifeboat-fetch.log)"
	count kernel-config 0 1
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build build/asan SAN=1 && {
	unit build/asan
	replay build/asan
	integration build/asan
}
[ -z "$failed_stages" ] || echo "failed stages:$failed_stages"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
