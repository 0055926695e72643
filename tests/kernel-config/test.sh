#!/bin/bash
# tests/kernel-config/test.sh — kernel-config/check-config and the sysroot that
# scripts/fetch-debs.sh builds (run that first).
#  - Debian's kernel in build/sysroot satisfies kernel-config/rescue.config,
#    with and without its modules directory;
#  - the sysroot has the kernel, its config, modules.dep, and dynamic binaries
#    (kexec, mke2fs, e2fsck, ubiformat, ...) whose libraries all resolve in it;
#  - synthetic fragments and configs: an option missing, =m where =y is
#    required, "is not set", a forbidden option set, a missing .ko or
#    dependency must fail naming the option; input errors exit 2.
# Last line: "kernel-config: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 2
CHECK=kernel-config/check-config
pass=0 fail=0
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

ok() { echo "ok - $1"; pass=$((pass + 1)); }
no() { echo "FAILED - $1"; [ -z "${2:-}" ] || echo "$2" | head -20 | sed 's/^/    /'; fail=$((fail + 1)); }

# expect NAME RC PATTERN... -- ARGS: check-config ARGS exits RC and its output
# (stdout+stderr) matches every extended regex PATTERN.
expect() {
	local name=$1 want=$2 out rc p
	shift 2
	local pats=()
	while [ "$1" != -- ]; do pats+=("$1"); shift; done
	shift
	out=$("$CHECK" "$@" 2>&1)
	rc=$?
	[ "$rc" = "$want" ] || { no "$name (exit $rc, expected $want)" "$out"; return; }
	for p in "${pats[@]}"; do
		grep -qE -- "$p" <<<"$out" || { no "$name (no line matching /$p/)" "$out"; return; }
	done
	ok "$name"
}

# --- the Debian kernel in build/sysroot
S=build/sysroot
if [ -s "$S/KVER" ]; then
	K=$(cat "$S/KVER")
	expect "Debian $K satisfies rescue.config (modules checked)" 0 \
		'^[0-9]+ options: [0-9]+ built in, [0-9]+ modules, 0 missing$' 'module \(sd_mod\.ko found\)' -- \
		kernel-config/rescue.config "$S/boot/config-$K" "$S/lib/modules/$K"
	expect "Debian $K satisfies rescue.config (config only)" 0 ' 0 missing$' -- \
		kernel-config/rescue.config "$S/boot/config-$K"
	n=$(grep -c '^CONFIG_' kernel-config/rescue.config)
	expect "the summary counts every option of the fragment ($n)" 0 "^$n options: " -- \
		kernel-config/rescue.config "$S/boot/config-$K"
	gzip -c "$S/boot/config-$K" >"$T/config.gz"
	expect "a gzip-compressed config (/proc/config.gz) is read" 0 ' 0 missing$' -- \
		kernel-config/rescue.config "$T/config.gz"
	for f in "boot/vmlinuz-$K" "boot/config-$K" "lib/modules/$K/modules.dep"; do
		if [ -s "$S/$f" ]; then ok "sysroot has $f"; else no "sysroot has $f"; fi
	done
	# Every NEEDED library of the tools the initramfs carries resolves inside
	# the sysroot (its own loader lists them; nothing is taken from the host).
	for b in sbin/kexec sbin/mke2fs sbin/e2fsck usr/sbin/ubiformat usr/sbin/ubiattach \
		usr/sbin/ubimkvol usr/sbin/ubiupdatevol usr/sbin/flash_erase; do
		if out=$(cd "$S" && lib64/ld-linux-x86-64.so.2 --inhibit-cache \
			--library-path lib/x86_64-linux-gnu:usr/lib/x86_64-linux-gnu --list "$b" 2>&1) &&
			! grep -q 'not found' <<<"$out" && ! grep -q '=> /' <<<"$out"; then
			ok "$b: all libraries in the sysroot"
		else
			no "$b: all libraries in the sysroot" "$out"
		fi
	done
	if "$S/bin/busybox" true 2>/dev/null && ! readelf -d "$S/bin/busybox" | grep -q NEEDED; then
		ok "bin/busybox is static and runs"
	else
		no "bin/busybox is static and runs"
	fi
else
	no "build/sysroot/KVER exists (run scripts/fetch-debs.sh first)"
fi

# --- synthetic fragments and configs
cat >"$T/frag" <<'EOF'
# test fragment
CONFIG_AAA=y
# module: bbb_mod
CONFIG_BBB=m
CONFIG_CCC_FS=m
# CONFIG_DDD is not set
EOF
conf() { printf '%s\n' "$@" >"$T/conf"; }

conf CONFIG_AAA=y CONFIG_BBB=m CONFIG_CCC_FS=y '# CONFIG_DDD is not set'
expect "all met: counts built in, modules, not set" 0 \
	'^ok +CONFIG_AAA=y +built-in$' '^ok +CONFIG_BBB=m +module$' '^ok +CONFIG_CCC_FS=m +built-in$' \
	'^ok +CONFIG_DDD=n +not set$' '^4 options: 2 built in, 1 modules, 0 missing, 1 not set as required$' -- \
	"$T/frag" "$T/conf"

conf CONFIG_AAA=y CONFIG_CCC_FS=m
expect "an option absent from the config fails, named" 1 \
	'^MISSING +CONFIG_BBB=m +required built in or a module \(=y or =m\), kernel has absent$' \
	'^4 options: 1 built in, 1 modules, 1 missing' -- "$T/frag" "$T/conf"

conf CONFIG_AAA=m CONFIG_BBB=m CONFIG_CCC_FS=m
expect "=m where =y is required fails, named" 1 \
	'^MISSING +CONFIG_AAA=y +required built in \(=y\), kernel has it as a module \(=m\)$' ' 1 missing' -- \
	"$T/frag" "$T/conf"

conf '# CONFIG_AAA is not set' CONFIG_BBB=y CONFIG_CCC_FS=y
expect "'# CONFIG_X is not set' for a required option fails, named" 1 \
	'^MISSING +CONFIG_AAA=y +required built in \(=y\), kernel has not set$' -- "$T/frag" "$T/conf"

conf '# CONFIG_BBB is not set' '# CONFIG_CCC_FS is not set'
expect "several missing: each named, counted" 1 '^MISSING +CONFIG_AAA=y' '^MISSING +CONFIG_BBB=m' \
	'^MISSING +CONFIG_CCC_FS=m' '^4 options: 0 built in, 0 modules, 3 missing' -- "$T/frag" "$T/conf"

conf CONFIG_AAA=y CONFIG_BBB=y CONFIG_CCC_FS=y CONFIG_DDD=y
expect "an option that must not be set but is fails, named" 1 \
	'^MISSING +CONFIG_DDD=n +must not be set, kernel has =y$' -- "$T/frag" "$T/conf"

conf CONFIG_AAA=y CONFIG_BBB=m CONFIG_CCC_FS=m
mkdir -p "$T/mods/kernel/fs" "$T/mods/kernel/drivers"
: >"$T/mods/kernel/drivers/bbb-mod.ko.xz"
: >"$T/mods/kernel/fs/ccc.ko"
expect "modules found (named by # module:, '-' = '_', .ko.xz; guessed CCC_FS -> ccc.ko)" 0 \
	'^ok +CONFIG_BBB=m +module \(bbb-mod\.ko\.xz found\)$' '^ok +CONFIG_CCC_FS=m +module \(ccc\.ko found\)$' \
	' 2 modules, 0 missing' -- "$T/frag" "$T/conf" "$T/mods"
rm "$T/mods/kernel/drivers/bbb-mod.ko.xz"
expect "a module the kernel has but MODULES_DIR lacks fails, named" 1 \
	'^MISSING +CONFIG_BBB=m +module, but bbb_mod\.ko not in ' -- "$T/frag" "$T/conf" "$T/mods"
: >"$T/mods/kernel/drivers/bbb_mod.ko"
printf '%s\n' 'kernel/drivers/bbb_mod.ko: kernel/lib/helper.ko' 'kernel/fs/ccc.ko:' >"$T/mods/modules.dep"
expect "a module whose modules.dep dependency is absent fails, named" 1 \
	'^MISSING +CONFIG_BBB=m +module bbb_mod\.ko, but its dependencies are not in .*: helper\.ko$' -- \
	"$T/frag" "$T/conf" "$T/mods"
mkdir -p "$T/mods/kernel/lib" && : >"$T/mods/kernel/lib/helper.ko"
expect "... and passes once the dependency is there" 0 ' 0 missing' -- "$T/frag" "$T/conf" "$T/mods"
conf CONFIG_AAA=y CONFIG_BBB=y CONFIG_CCC_FS=y
rm -rf "$T/mods/kernel"
expect "built-in options need no .ko" 0 ' 0 missing' -- "$T/frag" "$T/conf" "$T/mods"

# --- input errors: exit 2 with the reason
expect "usage error" 2 'check-config FRAGMENT KERNEL_CONFIG' --
printf 'CONFIG_AAA=y\nCONFIG_BBB=yes\n' >"$T/bad"
expect "a fragment value other than y/m is refused, with its line" 2 "bad:2: CONFIG_BBB: value must be y or m" -- \
	"$T/bad" "$T/conf"
printf 'CONFIG_AAA=y\nfoo bar\n' >"$T/bad"
expect "a fragment line that is not CONFIG_X=... is refused" 2 "bad:2: not a CONFIG_X=y\|m line" -- "$T/bad" "$T/conf"
printf 'CONFIG_AAA=y\nCONFIG_AAA=m\n' >"$T/bad"
expect "a repeated option is refused" 2 "bad:2: CONFIG_AAA repeated \(first on line 1\)" -- "$T/bad" "$T/conf"
expect "an unreadable config is refused" 2 "nonexistent: No such file" -- "$T/frag" "$T/nonexistent"
printf 'hello\n' >"$T/notconfig"
expect "a file without CONFIG_ lines is not a kernel config" 2 "not a kernel config" -- "$T/frag" "$T/notconfig"

echo "kernel-config: $pass passed, $fail failed"
[ "$fail" = 0 ]
