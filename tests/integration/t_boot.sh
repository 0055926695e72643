# lifeboat boot: counting boots with fake watchdog sysfs and pstore directories,
# the rescue decisions, mark-good, rescue requests, reset, status, A/B tries (try,
# commit, fall back, try-failed), the U-Boot environment backend (checked with
# fw_printenv), the watchdog, and power cuts at every state-changing call of
# `boot count` (docs/boot.md).

boot_setup() {
	STATE=$T/state
	WD=$T/sysfs-watchdog
	PSTORE=$T/pstore
	mkdir -p "$WD/watchdog0" "$PSTORE"
	echo 0 >"$WD/watchdog0/bootstatus"
}

lbs() { # lifeboat with the throwaway state
	"$LIFEBOAT" --root "$ROOT" --state "$STATE" "$@"
}

# count [ARGS]: one `boot count` as the rescue system runs it; the decision goes
# to $T/decision, the explanation to $T/why
count() {
	lbs boot count --pstore "$PSTORE" --watchdog-sysfs "$WD" "$@" >"$T/decision" 2>"$T/why" ||
		fail "boot count exited $?: $(cat "$T/why")"
	[ "$(wc -l <"$T/decision")" = 1 ] || fail "boot count printed: $(cat "$T/decision")"
	[ "$(wc -l <"$T/why")" = 1 ] || fail "boot count explained: $(cat "$T/why")"
}

expect_count() { # DECISION [ARGS]
	local want=$1
	shift
	count "$@"
	assert_eq "$(cat "$T/decision")" "$want" "decision ($(cat "$T/why"))"
}

field() { # FIELD: its value in STATE/boot
	sed -n "s/^$1: *//p" "$STATE/boot"
}

watchdog_reset() { echo 32 >"$WD/watchdog0/bootstatus"; }
power_on() { echo 0 >"$WD/watchdog0/bootstatus"; }
panic_record() { # a kernel panic that ramoops kept
	printf 'Panic#1 Part1\n<0>[    2.5] Kernel panic - not syncing: %s\n' "$1" \
		>"$PSTORE/dmesg-ramoops-0"
}

test_first_count_works_without_anything_installed() {
	boot_setup
	rm -rf "$STATE"
	expect_count "boot a"
	assert_eq "$(field Attempts)" 1 "attempts"
	assert_eq "$(field Failures)" 0 "failures"
	assert_eq "$(field Format)" 1 "format"
	[ ! -e "$STATE/db" ] || fail "boot count created a package database"
	# a damaged package journal does not stop the boot decision
	echo garbage >"$STATE/journal"
	expect_count "boot a"
	assert_eq "$(field Attempts)" 2 "attempts"
}

test_failures_reach_rescue_failures() {
	boot_setup
	expect_count "boot a"
	grep -q "boot 1 of slot a" "$T/why" || fail "$(cat "$T/why")"
	watchdog_reset
	expect_count "boot a"
	grep -q "previous boot failed (watchdog reset)" "$T/why" || fail "$(cat "$T/why")"
	grep -q "1 failures of 3" "$T/why" || fail "$(cat "$T/why")"
	assert_eq "$(field Failures)/$(field Attempts)" 1/2 "failures/attempts"
	power_on
	panic_record "Attempted to kill init!"
	expect_count "boot a"
	grep -q "kernel panic: Kernel panic - not syncing: Attempted to kill init!" "$T/why" ||
		fail "$(cat "$T/why")"
	[ ! -e "$PSTORE/dmesg-ramoops-0" ] || fail "the panic record was not deleted"
	assert_eq "$(field Failures)/$(field Attempts)" 2/3 "failures/attempts"
	# an unexplained reset in between counts as an attempt only
	expect_count "boot a"
	grep -q "without evidence" "$T/why" || fail "$(cat "$T/why")"
	assert_eq "$(field Failures)/$(field Attempts)" 2/4 "failures/attempts"
	watchdog_reset
	expect_count "rescue failures"
	grep -q "rescue (failures)" "$T/why" || fail "$(cat "$T/why")"
	assert_eq "$(field Failures)/$(field Attempts)" 3/5 "failures/attempts"
	# rescue until the rescue system resets the state
	power_on
	expect_count "rescue failures"
	lbs boot reset 2>/dev/null
	assert_eq "$(field Failures)/$(field Attempts)" 0/0 "after reset"
	expect_count "boot a"
}

test_unexplained_resets_reach_rescue_attempts() {
	boot_setup
	printf 'Boot-Max-Attempts: 4\nBoot-Max-Failures: 2\n' >"$T/lifeboat.conf"
	local i
	for i in 1 2 3 4; do
		expect_count "boot a" --config "$T/lifeboat.conf"
	done
	grep -q "boot 4 of slot a (4 allowed" "$T/why" || fail "$(cat "$T/why")"
	expect_count "rescue attempts" --config "$T/lifeboat.conf"
	assert_eq "$(field Failures)/$(field Attempts)" 0/5 "failures/attempts"
	# the same from ROOT/etc/lifeboat.conf
	mkdir -p "$ROOT/etc"
	printf 'Boot-Max-Attempts: 5\n' >"$ROOT/etc/lifeboat.conf"
	expect_count "rescue attempts"
	grep -q "6 of slot a (5 allowed" "$T/why" || fail "$(cat "$T/why")"
	printf 'Boot-Max-Attempts: 50\n' >"$ROOT/etc/lifeboat.conf"
	expect_count "boot a"
	printf 'Boot-Max-Attempts: many\n' >"$ROOT/etc/lifeboat.conf"
	expect_fail 4 "Boot-Max-Attempts" lbs boot count --watchdog-sysfs "$WD" --pstore "$PSTORE"
	printf 'Boot-State: grub\n' >"$ROOT/etc/lifeboat.conf"
	expect_fail 4 "Boot-State" lbs boot status
}

test_mark_good_resets_and_writes_only_on_change() {
	boot_setup
	count
	watchdog_reset
	count
	assert_eq "$(field Failures)/$(field Attempts)" 1/2 "failures/attempts"
	lbs boot rescue 2>/dev/null
	lbs boot set-bad-serial 7 2>/dev/null
	lbs boot mark-good 2>"$T/err" || fail "mark-good: $(cat "$T/err")"
	assert_eq "$(field Failures)/$(field Attempts)" 0/0 "after mark-good"
	assert_eq "$(field Good-Slot)" a "good slot"
	assert_eq "$(field Rescue)/$(field Bad-Serial)" requested/7 "mark-good clears nothing else"
	# already good: the file is not rewritten (flash wear)
	local before
	before=$(stat -c '%i %Y' "$STATE/boot")
	sleep 1.05
	lbs boot mark-good 2>"$T/err" || fail "mark-good: $(cat "$T/err")"
	grep -q "nothing written" "$T/err" || fail "$(cat "$T/err")"
	assert_eq "$(stat -c '%i %Y' "$STATE/boot")" "$before" "the file was rewritten"
	# evidence left by a boot that was marked good is not held against the slot
	lbs boot reset 2>/dev/null
	count
	lbs boot mark-good 2>/dev/null
	expect_count "boot a"
	assert_eq "$(field Failures)" 0 "failures"
	grep -q "first boot since mark-good" "$T/why" || fail "$(cat "$T/why")"
}

test_rescue_request_rebuild_and_reset() {
	boot_setup
	expect_count "boot a"
	lbs boot rescue 2>/dev/null
	assert_eq "$(field Rescue)" requested "rescue field"
	expect_count "rescue requested"
	lbs boot rescue rebuild 2>/dev/null
	expect_count "rescue rebuild"
	grep -q "must be rebuilt" "$T/why" || fail "$(cat "$T/why")"
	expect_fail 2 "requested' or 'rebuild" lbs boot rescue now
	lbs boot mark-good 2>/dev/null
	lbs boot reset --slot b 2>"$T/err" || fail "reset: $(cat "$T/err")"
	assert_eq "$(field Slot)/$(field Rescue)/$(field Attempts)/$(field Good-Slot)" "b//0/" "after reset"
	expect_count "boot b"
	expect_fail 2 "slot name" lbs boot reset --slot 'B!'
	expect_fail 2 "needs a value" lbs boot reset --slot
	assert_eq "$(field Slot)" b "slot after refused resets"
}

test_status_and_json() {
	boot_setup
	count
	watchdog_reset
	count
	lbs boot set-bad-serial 42 2>/dev/null
	expect_fail 2 "serial" lbs boot set-bad-serial 4x2
	expect_fail 2 "argument is missing" lbs boot set-bad-serial
	lbs boot status --watchdog-sysfs "$WD" >"$T/status" || fail "status failed"
	grep -q "^backend: *file ($STATE/boot)" "$T/status" || fail "$(cat "$T/status")"
	grep -q "^attempts: *2 of 8" "$T/status" || fail "$(cat "$T/status")"
	grep -q "^failures: *1 of 3" "$T/status" || fail "$(cat "$T/status")"
	grep -q "^bad serial: *42" "$T/status" || fail "$(cat "$T/status")"
	grep -q "^watchdog: *watchdog0 bootstatus 0x20 (it reset the machine)" "$T/status" ||
		fail "$(cat "$T/status")"
	lbs --json boot status --watchdog-sysfs "$WD" >"$T/json" || fail "status --json failed"
	python3 - "$T/json" <<'PY' || fail "status --json: $(cat "$T/json")"
import json, sys
s = json.load(open(sys.argv[1]))
want = {"backend": "file", "slot": "a", "good_slot": None, "attempts": 2, "max_attempts": 8,
        "failures": 1, "max_failures": 3, "rescue": None, "bad_serial": 42,
        "try_slot": None, "try_booted": False, "failed_slot": None,
        "watchdogs": [{"name": "watchdog0", "bootstatus": 32, "card_reset": True}]}
assert s == want, s
PY
	# count --json: the same information as the line
	panic_record "json"
	lbs boot count --json --pstore "$PSTORE" --watchdog-sysfs "$WD" >"$T/json" 2>/dev/null ||
		fail "count --json failed"
	python3 - "$T/json" <<'PY' || fail "count --json: $(cat "$T/json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["decision"] == "boot" and s["reason"] is None and s["slot"] == "a", s
assert s["boot_slot"] == "a" and s["try"] is False and s["try_failed"] is None, s
assert s["previous"] == "failed" and s["evidence"] == ["watchdog", "panic"], s
assert s["detail"] == "Kernel panic - not syncing: json", s
assert s["attempts"] == 3 and s["failures"] == 2, s
PY
	lbs --json boot count --pstore "$PSTORE" --watchdog-sysfs "$WD" >"$T/json" 2>/dev/null
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert (s["decision"], s["reason"]) == ("rescue", "failures"), s' "$T/json" ||
		fail "$(cat "$T/json")"
}

test_damaged_state_is_exit_8() {
	boot_setup
	mkdir -p "$STATE"
	printf 'Format: 1\nSlot: a\nAttempts: lots\nFailures: 0\n' >"$STATE/boot"
	expect_fail 8 "$STATE/boot: Attempts" lbs boot count --watchdog-sysfs "$WD" --pstore "$PSTORE"
	[ ! -s "$T/out" ] || fail "a decision was printed: $(cat "$T/out")"
	expect_fail 8 "$STATE/boot" lbs boot mark-good
	: >"$STATE/boot"
	expect_fail 8 "$STATE/boot" lbs boot status
	# the rescue system starts a rebuilt slot from a new state
	lbs boot reset 2>"$T/err" || fail "reset of a damaged state: $(cat "$T/err")"
	grep -q "warning" "$T/err" || fail "$(cat "$T/err")"
	expect_count "boot a"
	# a newer format is not overwritten
	printf 'Format: 2\nSlot: a\nAttempts: 1\nFailures: 0\n' >"$STATE/boot"
	expect_fail 8 "newer" lbs boot count --watchdog-sysfs "$WD" --pstore "$PSTORE"
	expect_fail 8 "newer" lbs boot reset
	grep -q "^Format: 2" "$STATE/boot" || fail "the newer state was overwritten"
}

test_locked_and_usage() {
	boot_setup
	count
	expect_fail 2 "usage" lbs boot
	expect_fail 2 "usage" lbs boot frobnicate
	expect_fail 2 "unknown option" lbs boot count --slot b
	expect_fail 2 "too many" lbs boot mark-good now
	flock "$STATE/lock" sleep 3 &
	sleep 0.3
	expect_fail 3 "in use" lbs boot count --watchdog-sysfs "$WD" --pstore "$PSTORE"
	lbs --wait boot mark-good 2>/dev/null || fail "mark-good --wait"
	wait
}

test_watchdog_missing_device_is_exit_6() {
	boot_setup
	expect_fail 6 "watchdog $T/no-watchdog: No such file" lbs boot watchdog --device "$T/no-watchdog"
	printf 'Watchdog-Device: %s\nWatchdog-Timeout: 30\n' "$T/also-none" >"$T/conf"
	expect_fail 6 "watchdog $T/also-none" lbs boot watchdog --config "$T/conf"
	expect_fail 6 "not a watchdog device" lbs boot watchdog --device /dev/null
	expect_fail 2 "timeout" lbs boot watchdog --device /dev/null --timeout 0
}

# ---- A/B: try a slot once, commit it on mark-good, fall back by itself ----

# a device on slot a whose main OS marked it good, as when it writes slot b
blessed_on_a() {
	boot_setup
	expect_count "boot a"
	lbs boot mark-good --slot a 2>/dev/null || fail "mark-good"
}

try_fields() { # Try-Slot/Try-Booted/Failed-Slot
	echo "$(field Try-Slot)/$(field Try-Booted)/$(field Failed-Slot)"
}

test_try_is_committed_by_mark_good_on_it() {
	blessed_on_a
	lbs boot try b 2>"$T/err" || fail "try: $(cat "$T/err")"
	grep -q "slot b is booted once at the next boot" "$T/err" || fail "$(cat "$T/err")"
	assert_eq "$(try_fields)" "b/no/" "after try"
	# the main OS that asked for it marks its own boot (of a) good: the try waits
	lbs boot mark-good --slot a 2>"$T/err" || fail "mark-good: $(cat "$T/err")"
	grep -q "slot b is still tried at the next boot" "$T/err" || fail "$(cat "$T/err")"
	assert_eq "$(try_fields)" "b/no/" "mark-good of a"
	expect_count "boot b try"
	grep -q "slot b, tried once (slot a again unless b is marked good)" "$T/why" ||
		fail "$(cat "$T/why")"
	assert_eq "$(field Slot)/$(try_fields)/$(field Attempts)" "a/b/yes//1" "the try booted"
	lbs boot status >"$T/status" || fail "status"
	grep -q "^try slot: *b (booted once: mark-good on it commits it" "$T/status" ||
		fail "$(cat "$T/status")"
	lbs boot mark-good --slot b 2>"$T/err" || fail "mark-good: $(cat "$T/err")"
	grep -q "slot b committed" "$T/err" || fail "$(cat "$T/err")"
	assert_eq "$(field Slot)/$(field Good-Slot)/$(field Attempts)" "b/b/0" "committed"
	assert_eq "$(try_fields)" "//" "no try after the commit"
	expect_count "boot b"
	expect_count "boot b"
	lbs --json boot status >"$T/json" || fail "status --json"
	python3 - "$T/json" <<'PY' || fail "status --json: $(cat "$T/json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert (s["slot"], s["good_slot"], s["try_slot"], s["try_booted"], s["failed_slot"]) == \
    ("b", "b", None, False, None), s
PY
}

test_try_that_fails_falls_back_and_records_failed_slot() {
	blessed_on_a
	lbs boot try b 2>/dev/null
	expect_count "boot b try"
	# b hangs: the watchdog resets the board; the next count boots a again
	watchdog_reset
	lbs --json boot count --pstore "$PSTORE" --watchdog-sysfs "$WD" >"$T/json" 2>"$T/why" ||
		fail "count: $(cat "$T/why")"
	grep -q "the try of slot b failed (watchdog reset)" "$T/why" || fail "$(cat "$T/why")"
	python3 - "$T/json" <<'PY' || fail "count --json: $(cat "$T/json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert (s["decision"], s["boot_slot"], s["try"], s["try_failed"]) == ("boot", "a", False, "b"), s
assert (s["slot"], s["try_slot"], s["failed_slot"]) == ("a", None, "b"), s
# b's failure is not held against a; this boot of a took the try's attempt
assert (s["failures"], s["attempts"]) == (0, 1), s
PY
	assert_eq "$(field Slot)/$(try_fields)" "a///b" "after the fallback"
	lbs boot status >"$T/status" || fail "status"
	grep -q "^failed slot: *b (its last try did not reach mark-good)" "$T/status" ||
		fail "$(cat "$T/status")"
	grep -q "^try slot: *none" "$T/status" || fail "$(cat "$T/status")"
	# mark-good on the fallback slot commits nothing; the failed try stays known
	power_on
	lbs boot mark-good --slot a 2>"$T/err" || fail "mark-good: $(cat "$T/err")"
	assert_eq "$(field Slot)/$(field Good-Slot)/$(try_fields)" "a/a///b" "mark-good of a"
	# a power cut during the try is a failed try as well: b is booted once
	lbs boot try b 2>/dev/null
	expect_count "boot b try"
	power_on
	expect_count "boot a"
	grep -q "the try of slot b failed (reset before mark-good)" "$T/why" || fail "$(cat "$T/why")"
	# slot a that fails after a failed try reaches rescue as it always did
	local i
	for i in 1 2; do
		watchdog_reset
		expect_count "boot a"
	done
	watchdog_reset
	expect_count "rescue failures"
	assert_eq "$(field Failures)/$(field Slot)" "3/a" "failures of a"
}

test_try_of_a_failing_slot_then_rescue() {
	blessed_on_a
	# slot a fails twice; its main OS wrote b and asked for a try before dying
	expect_count "boot a"
	watchdog_reset
	expect_count "boot a"
	lbs boot try b 2>/dev/null
	expect_count "boot b try"
	assert_eq "$(field Failures)" 2 "a's failures"
	expect_count "boot a" # b failed too (the watchdog again)
	assert_eq "$(field Failures)/$(field Failed-Slot)" 2/b "after the failed try"
	expect_count "rescue failures"
	# the rescue system rebuilds slot a and resets: no try is left, b stays failed
	lbs boot try c 2>/dev/null
	lbs boot reset --slot a 2>"$T/err" || fail "reset: $(cat "$T/err")"
	grep -q "or try" "$T/err" || fail "$(cat "$T/err")"
	assert_eq "$(field Slot)/$(try_fields)/$(field Attempts)" "a///b/0" "after reset"
	power_on
	expect_count "boot a"
	# a rescue request comes before a try, which stays pending
	lbs boot try b 2>/dev/null
	lbs boot rescue 2>/dev/null
	expect_count "rescue requested"
	assert_eq "$(try_fields)" "b/no/b" "try after a rescue decision"
	# rebuilding b itself forgets that b failed
	lbs boot reset --slot b 2>/dev/null
	assert_eq "$(field Slot)/$(try_fields)" "b///" "after a reset to b"
}

# the rescue system cannot even start the try (no rootfs-b on a single-slot
# device, a damaged filesystem, no kernel): try-failed, and the committed slot
# boots in the same boot
test_try_failed_when_the_rescue_cannot_start_it() {
	blessed_on_a
	lbs boot try b 2>/dev/null
	expect_count "boot b try"
	lbs boot try-failed >"$T/decision" 2>"$T/why" || fail "try-failed: $(cat "$T/why")"
	assert_eq "$(cat "$T/decision")" "boot a" "try-failed decision"
	grep -q "slot b could not be started" "$T/why" || fail "$(cat "$T/why")"
	assert_eq "$(field Slot)/$(try_fields)/$(field Attempts)" "a///b/1" "this boot was counted once"
	# again (a second call, no try): the same decision, nothing written
	lbs --json boot try-failed >"$T/json" 2>/dev/null || fail "try-failed --json"
	python3 - "$T/json" <<'PY' || fail "try-failed --json: $(cat "$T/json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert (s["decision"], s["boot_slot"], s["try_failed"], s["failed_slot"]) == ("boot", "a", None, "b"), s
PY
	# the next boot is an ordinary boot of a
	expect_count "boot a"
	assert_eq "$(field Attempts)" 2 "attempts"
	# when slot a is out of failures, try-failed says rescue
	lbs boot try b 2>/dev/null
	printf 'Boot-Max-Failures: 1
' >"$T/lifeboat.conf"
	watchdog_reset
	expect_count "boot b try" --config "$T/lifeboat.conf"
	lbs boot try-failed --config "$T/lifeboat.conf" >"$T/decision" 2>/dev/null ||
		fail "try-failed"
	assert_eq "$(cat "$T/decision")" "rescue failures" "try-failed decision"
}

test_try_usage_replace_cancel_and_mark_good_elsewhere() {
	blessed_on_a
	expect_fail 2 "committed slot" lbs boot try a
	expect_fail 2 "a slot to try, or --cancel" lbs boot try
	expect_fail 2 "a slot to try, or --cancel" lbs boot try b --cancel
	expect_fail 2 "slot name" lbs boot try 'B!'
	expect_fail 2 "too many" lbs boot try b c
	expect_fail 2 "slot name" lbs boot mark-good --slot 'B!'
	assert_eq "$(try_fields)" "//" "after refused tries"
	lbs boot try b 2>/dev/null
	lbs boot try c 2>"$T/err" || fail "try: $(cat "$T/err")"
	grep -q "replaces the try of slot b" "$T/err" || fail "$(cat "$T/err")"
	assert_eq "$(try_fields)" "c/no/" "replaced"
	lbs boot try --cancel 2>"$T/err" || fail "cancel: $(cat "$T/err")"
	grep -q "try of slot c is cancelled" "$T/err" || fail "$(cat "$T/err")"
	assert_eq "$(try_fields)" "//" "cancelled"
	lbs boot try --cancel 2>"$T/err" || fail "cancel: $(cat "$T/err")"
	grep -q "nothing written" "$T/err" || fail "$(cat "$T/err")"
	expect_count "boot a"
	# mark-good of a slot that is neither committed nor tried changes nothing
	lbs boot try b 2>/dev/null
	expect_count "boot b try"
	cp "$STATE/boot" "$T/boot.before"
	lbs boot mark-good --slot c 2>"$T/err" || fail "mark-good: $(cat "$T/err")"
	grep -q "warning: slot c is booted, but it is neither" "$T/err" || fail "$(cat "$T/err")"
	cmp -s "$STATE/boot" "$T/boot.before" || fail "mark-good of slot c changed the state"
	# a mark-good that does not know the booted slot (no lifeboat.slot= on this
	# host's command line, no --slot) blesses as before but never commits
	if ! grep -q "lifeboat.slot=" /proc/cmdline; then
		lbs boot mark-good 2>"$T/err" || fail "mark-good: $(cat "$T/err")"
		grep -q "the try of slot b is not committed: the booted slot is not known" "$T/err" ||
			fail "$(cat "$T/err")"
		assert_eq "$(field Slot)/$(try_fields)/$(field Attempts)" "a/b/yes//0" "unknown slot"
		expect_count "boot a"
		grep -q "the try of slot b failed (marked good, but not as that slot)" "$T/why" ||
			fail "$(cat "$T/why")"
		assert_eq "$(field Attempts)/$(field Failed-Slot)" "1/b" "counted after the fallback"
	fi
}

# ---- the U-Boot environment backend ----

uboot_setup() {
	boot_setup
	printf '%s 0x0 0x2000\n%s 0x0 0x2000\n' "$T/env0" "$T/env1" >"$T/fw_env.config"
	truncate -s 8192 "$T/env0" "$T/env1"
	printf 'Boot-State: uboot\nUboot-Env-Config: %s\nUboot-Initial-Env: %s\n' \
		"$T/fw_env.config" "$T/initial-env" >"$T/lifeboat.conf"
}

uenv() { # VAR: its value as fw_printenv reads it ("" when unset)
	fw_printenv -c "$T/fw_env.config" -n "$1" 2>/dev/null
}

ucount() { count --config "$T/lifeboat.conf"; }

test_uboot_backend_cross_checked_with_fw_printenv() {
	uboot_setup
	# a board's environment, made by fw_setenv (libubootenv-tool)
	: >"$T/empty"
	fw_setenv -c "$T/fw_env.config" -f "$T/empty" bootcmd "run lifeboat_rescue_boot" ||
		fail "fw_setenv"
	ucount
	assert_eq "$(cat "$T/decision")" "boot a" "decision"
	assert_eq "$(uenv bootcount)/$(uenv upgrade_available)/$(uenv bootlimit)" 1/1/8 "counters"
	[ ! -e "$STATE/boot" ] || fail "the file backend was written"
	watchdog_reset
	ucount
	assert_eq "$(uenv bootcount)/$(uenv lifeboat_failures)" 2/1 "after a watchdog reset"
	# redundant environment: the new state went to one copy, the old one is intact
	grep -qa "bootcount=2" "$T/env0" "$T/env1" || fail "no copy with bootcount=2"
	grep -qa "bootcount=1" "$T/env0" "$T/env1" || fail "no copy kept bootcount=1"
	lbs boot mark-good --config "$T/lifeboat.conf" 2>/dev/null || fail "mark-good"
	assert_eq "$(uenv bootcount)/$(uenv upgrade_available)/$(uenv lifeboat_failures)" 0/0/0 \
		"after mark-good"
	assert_eq "$(uenv lifeboat_good_slot)" a "good slot"
	local sums
	sums=$(md5sum "$T/env0" "$T/env1")
	lbs boot mark-good --config "$T/lifeboat.conf" 2>/dev/null || fail "mark-good"
	assert_eq "$(md5sum "$T/env0" "$T/env1")" "$sums" "an unchanged mark-good wrote the env"
	lbs boot rescue rebuild --config "$T/lifeboat.conf" 2>/dev/null
	assert_eq "$(uenv lifeboat_rescue)" rebuild "rescue variable"
	power_on
	ucount
	assert_eq "$(cat "$T/decision")" "rescue rebuild" "decision"
	lbs boot set-bad-serial 12 --config "$T/lifeboat.conf" 2>/dev/null
	lbs boot reset --slot b --config "$T/lifeboat.conf" 2>/dev/null || fail "reset"
	assert_eq "$(uenv lifeboat_slot)/$(uenv lifeboat_rescue)/$(uenv bootcount)" "b//0" "after reset"
	assert_eq "$(uenv lifeboat_bad_serial)" 12 "bad serial"
	assert_eq "$(uenv bootcmd)" "run lifeboat_rescue_boot" "the board's own variables"
	# what fw_setenv writes, lifeboat reads
	fw_setenv -c "$T/fw_env.config" bootcount 5 || fail "fw_setenv"
	lbs --json boot status --config "$T/lifeboat.conf" >"$T/json"
	grep -q '"backend":"uboot","slot":"b".*"attempts":5' "$T/json" || fail "$(cat "$T/json")"
	fw_setenv -c "$T/fw_env.config" lifeboat_failures many || fail "fw_setenv"
	expect_fail 8 "lifeboat_failures" lbs boot count --config "$T/lifeboat.conf"
	# the rescue system writes over a damaged state; the board's variables stay
	lbs boot reset --config "$T/lifeboat.conf" 2>"$T/err" || fail "reset: $(cat "$T/err")"
	grep -q "warning.*lifeboat_failures" "$T/err" || fail "$(cat "$T/err")"
	assert_eq "$(uenv lifeboat_failures)/$(uenv bootcount)" 0/0 "after reset"
	assert_eq "$(uenv bootcmd)" "run lifeboat_rescue_boot" "the board's own variables"
	ucount
	assert_eq "$(cat "$T/decision")" "boot a" "decision"
}

test_uboot_blank_environment() {
	uboot_setup
	# no valid copy and no default environment: refused, never an empty env
	expect_fail 8 "no valid copy" lbs boot count --config "$T/lifeboat.conf"
	expect_fail 8 "no valid copy" lbs boot reset --config "$T/lifeboat.conf"
	cmp -s "$T/env0" <(head -c 8192 /dev/zero) || fail "env0 was written"
	# with U-Boot's default environment (as fw_setenv uses it)
	printf 'bootcmd=run distro_bootcmd\nbootdelay=3\n' >"$T/initial-env"
	ucount
	assert_eq "$(cat "$T/decision")" "boot a" "decision"
	assert_eq "$(uenv bootcount)/$(uenv bootcmd)" "1/run distro_bootcmd" "from the default env"
	printf 'Boot-State: uboot\nUboot-Env-Config: %s\n' "$T/none.config" >"$T/lifeboat.conf"
	expect_fail 6 "none.config" lbs boot count --config "$T/lifeboat.conf"
}

test_uboot_try_falls_back_then_commits() {
	uboot_setup
	printf 'bootcmd=run lifeboat_rescue_boot\n' >"$T/initial-env"
	ucount
	lbs boot mark-good --slot a --config "$T/lifeboat.conf" 2>/dev/null || fail "mark-good"
	lbs boot try b --config "$T/lifeboat.conf" 2>/dev/null || fail "try"
	assert_eq "$(uenv lifeboat_try_slot)/$(uenv lifeboat_try_booted)" "b/" "try variables"
	ucount
	assert_eq "$(cat "$T/decision")" "boot b try" "decision"
	assert_eq "$(uenv lifeboat_try_booted)/$(uenv bootcount)" "1/1" "the try booted"
	watchdog_reset
	ucount
	assert_eq "$(cat "$T/decision")" "boot a" "the fallback"
	assert_eq "$(uenv lifeboat_failed_slot)/$(uenv lifeboat_try_slot)/$(uenv lifeboat_try_booted)" \
		"b//" "after the fallback"
	# (lifeboat_failures and lifeboat_slot unset: their defaults, 0 and a)
	assert_eq "$(uenv lifeboat_failures)/$(uenv bootcount)/$(uenv lifeboat_slot)" "/1/" "counters"
	# a try that works: committed in the environment
	power_on
	lbs boot try b --config "$T/lifeboat.conf" 2>/dev/null || fail "try"
	ucount
	assert_eq "$(cat "$T/decision")" "boot b try" "decision"
	lbs boot mark-good --slot b --config "$T/lifeboat.conf" 2>/dev/null || fail "mark-good"
	assert_eq "$(uenv lifeboat_slot)/$(uenv lifeboat_good_slot)/$(uenv lifeboat_failed_slot)" \
		"b/b/" "committed"
	assert_eq "$(uenv lifeboat_try_slot)/$(uenv lifeboat_try_booted)/$(uenv bootcount)" "//0" \
		"no try"
	ucount
	assert_eq "$(cat "$T/decision")" "boot b" "decision"
	# what fw_setenv writes, lifeboat reads; a bad value is a damaged state
	fw_setenv -c "$T/fw_env.config" lifeboat_try_slot a || fail "fw_setenv"
	ucount
	assert_eq "$(cat "$T/decision")" "boot a try" "a try set with fw_setenv"
	fw_setenv -c "$T/fw_env.config" lifeboat_try_booted yes || fail "fw_setenv"
	expect_fail 8 "lifeboat_try_booted" lbs boot status --config "$T/lifeboat.conf"
	assert_eq "$(uenv bootcmd)" "run lifeboat_rescue_boot" "the board's own variables"
}

# ---- power cuts: fault injection at every state-changing call of boot count ----

fi_binary() {
	if [ -n "${LIFEBOAT_FI:-}" ]; then
		echo "$LIFEBOAT_FI"
		return
	fi
	make -s BUILD=build/fi FI=1 build/fi/lifeboat >&2 || fail "cannot build build/fi/lifeboat"
	echo "$PWD/build/fi/lifeboat"
}

test_power_cut_during_count_never_loses_or_doubles() {
	boot_setup
	local fi
	fi=$(fi_binary)
	count # attempts 1: the next count classifies the previous boot
	panic_record "power cut test"
	cp -a "$STATE" "$T/state.0"
	cp -a "$PSTORE" "$T/pstore.0"
	"$fi" --root "$ROOT" --state "$STATE" boot count --pstore "$PSTORE" \
		--watchdog-sysfs "$WD" >/dev/null 2>&1
	assert_eq "$(field Failures)/$(field Attempts)" 1/2 "an uninterrupted count"
	rm -rf "$STATE" "$PSTORE"
	cp -a "$T/state.0" "$STATE"
	cp -a "$T/pstore.0" "$PSTORE"
	LIFEBOAT_CRASH_COUNT=$T/n "$fi" --root "$ROOT" --state "$STATE" boot count \
		--pstore "$PSTORE" --watchdog-sysfs "$WD" >/dev/null 2>&1
	local n i rc old=0 new=0
	n=$(cat "$T/n")
	[ "$n" -ge 6 ] || fail "only $n state-changing calls: fault injection is not counting"
	for ((i = 1; i <= n; i++)); do
		rm -rf "$STATE" "$PSTORE"
		cp -a "$T/state.0" "$STATE"
		cp -a "$T/pstore.0" "$PSTORE"
		rc=0
		LIFEBOAT_CRASH_AT=$i "$fi" --root "$ROOT" --state "$STATE" boot count \
			--pstore "$PSTORE" --watchdog-sysfs "$WD" >"$T/out" 2>&1 || rc=$?
		[ $rc = 99 ] || fail "point $i: expected a crash, exit $rc: $(cat "$T/out")"
		[ ! -s "$T/out" ] || fail "point $i: a decision before the state was saved: $(cat "$T/out")"
		case "$(field Failures)/$(field Attempts)" in
		0/1) old=$((old + 1)) ;;
		1/2) new=$((new + 1)) ;;
		*) fail "point $i: neither the old nor the new count: $(cat "$STATE/boot")" ;;
		esac
		# the next boot (a power cut: no watchdog evidence) counts the panic exactly once
		expect_count "boot a"
		assert_eq "$(field Failures)" 1 "point $i: failures after the next count"
		[ ! -e "$PSTORE/dmesg-ramoops-0" ] || fail "point $i: the panic record is still there"
	done
	[ $old -gt 0 ] && [ $new -gt 0 ] || fail "old $old, new $new: the sweep missed a side"
}

# a power cut while the count that starts a try saves the state: the try is either
# still to come or booted (once), never booted without its count
test_power_cut_while_starting_a_try() {
	blessed_on_a
	local fi
	fi=$(fi_binary)
	lbs boot try b 2>/dev/null
	cp -a "$STATE" "$T/state.0"
	LIFEBOAT_CRASH_COUNT=$T/n "$fi" --root "$ROOT" --state "$STATE" boot count \
		--pstore "$PSTORE" --watchdog-sysfs "$WD" >/dev/null 2>&1
	local n i rc old=0 new=0
	n=$(cat "$T/n")
	[ "$n" -ge 3 ] || fail "only $n state-changing calls: fault injection is not counting"
	for ((i = 1; i <= n; i++)); do
		rm -rf "$STATE"
		cp -a "$T/state.0" "$STATE"
		rc=0
		LIFEBOAT_CRASH_AT=$i "$fi" --root "$ROOT" --state "$STATE" boot count \
			--pstore "$PSTORE" --watchdog-sysfs "$WD" >"$T/out" 2>&1 || rc=$?
		[ $rc = 99 ] || fail "point $i: expected a crash, exit $rc: $(cat "$T/out")"
		[ ! -s "$T/out" ] || fail "point $i: a decision before the state was saved: $(cat "$T/out")"
		case "$(field Attempts)/$(try_fields)" in
		0/b/no/)
			old=$((old + 1))
			expect_count "boot b try"
			;;
		1/b/yes/)
			new=$((new + 1))
			expect_count "boot a"
			assert_eq "$(field Failed-Slot)/$(field Failures)" b/0 "point $i: the fallback"
			;;
		*) fail "point $i: neither the old nor the new state: $(cat "$STATE/boot")" ;;
		esac
	done
	[ $old -gt 0 ] && [ $new -gt 0 ] || fail "old $old, new $new: the sweep missed a side"
}
