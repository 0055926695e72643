# The state lock, and lifeboat killed with -9 in the middle of a transaction.

LOCK_REL=var/lib/lifeboat/lock

# wait_for FILE PID ERRFILE: until FILE exists (5 s at most) while PID runs
wait_for() {
	local i
	for i in $(seq 1 250); do
		[ -e "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || fail "lifeboat exited before $1 appeared: $(cat "$3")"
		sleep 0.02
	done
	fail "timed out waiting for $1: $(cat "$3")"
}

# a script body that says it started (with its pid) and waits while /tmp/hold exists
# (only /bin/sh and /bin/busybox in the root)
HOLD='echo $$ >/tmp/started.tmp; busybox mv /tmp/started.tmp /tmp/started
while [ -e /tmp/hold ]; do busybox sleep 0.02; done'

# release: let a holding script go and wait until it is gone
release() {
	local spid
	spid=$(cat "$ROOT/tmp/started" 2>/dev/null || true)
	rm -f "$ROOT/tmp/hold"
	if [ -n "$spid" ]; then
		# gone, or a zombie waiting for init to reap it
		while [ -e "/proc/$spid" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$spid/stat" 2>/dev/null; do
			sleep 0.02
		done
	fi
	rm -f "$ROOT/tmp/started"
}

# now_ms: milliseconds since the epoch
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

test_second_lifeboat_refused_at_once() {
	base_root
	mkpkg slow 1.0 -s "postinst=$HOLD"
	touch "$ROOT/tmp/hold"
	desired "$T/d1" 1 base-sh=1.0 slow=1.0
	"$LIFEBOAT" --root "$ROOT" apply --pool "$POOL" "$T/d1" 2>"$T/holder.err" &
	local pid=$! t0 rc=0
	wait_for "$ROOT/tmp/started" "$pid" "$T/holder.err"
	t0=$(now_ms)
	expect_fail 3 "$ROOT/var/lib/lifeboat is in use by another lifeboat (pid $pid); use --wait" lb list
	expect_fail 3 "in use by another lifeboat (pid $pid)" lb apply --pool "$POOL" "$T/d1"
	expect_fail 3 "in use by another lifeboat (pid $pid)" lb recover
	[ $(($(now_ms) - t0)) -lt 1000 ] || fail "refusing took $(($(now_ms) - t0)) ms"
	release
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || fail "holder exited $rc: $(cat "$T/holder.err")"
	assert_list "base-sh 1.0 slow 1.0"
}

test_wait_option_waits_for_the_lock() {
	base_root
	mkpkg app 1.0 -f usr/bin/app=1
	local lock="$ROOT/$LOCK_REL" t0 took
	flock "$lock" sleep 1 &
	local fpid=$!
	while flock -n "$lock" true; do sleep 0.01; done
	desired "$T/d1" 1 base-sh=1.0 app=1.0
	expect_fail 3 "in use by another lifeboat" lb apply --pool "$POOL" "$T/d1"
	t0=$(now_ms)
	lb --wait apply --pool "$POOL" "$T/d1" 2>"$T/err" || fail "--wait apply: $(cat "$T/err")"
	took=$(($(now_ms) - t0))
	grep -q "waiting for another lifeboat to release" "$T/err" || fail "no waiting message: $(cat "$T/err")"
	[ "$took" -ge 500 ] || fail "--wait returned after $took ms, while the lock was held"
	wait "$fpid"
	assert_list "app 1.0 base-sh 1.0"
}

test_lock_released_when_holder_killed() {
	base_root
	mkpkg slow 1.0 -s "postinst=$HOLD"
	touch "$ROOT/tmp/hold"
	desired "$T/d1" 1 base-sh=1.0 slow=1.0
	"$LIFEBOAT" --root "$ROOT" apply --pool "$POOL" "$T/d1" 2>"$T/holder.err" &
	local pid=$!
	wait_for "$ROOT/tmp/started" "$pid" "$T/holder.err"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	# the script lifeboat was running still runs: it must not hold the lock
	flock -n "$ROOT/$LOCK_REL" true || fail "lock still held after kill -9 (inherited by the script?)"
	release
	[ -e "$ROOT/$LOCK_REL" ] || fail "lock file gone"
	# nothing deleted by hand: the next lifeboat just runs (and finishes the transaction)
	lb list >"$T/out" 2>"$T/err" || fail "list after kill -9: $(cat "$T/err")"
	grep -q "finished interrupted transaction" "$T/err" || fail "no recovery: $(cat "$T/err")"
	assert_list "base-sh 1.0 slow 1.0"
}

# snapshot without the marker of the holding script
snap() {
	snapshot "$ROOT" | grep -v ' ./tmp/started '
}

# the transaction of the kill tests: old state A, new state B
kill_fixture() {
	local script=$1 # preinst or postinst of app 2.0 holds
	mkpkg base-sh 1.0 -Z none -F "bin/sh=@$BUSYBOX" -F "bin/busybox=@$BUSYBOX" -D tmp
	mkpkg lib 1.0 -f usr/lib/libx=1
	mkpkg app 1.0 -d lib -f usr/bin/app=1 -f usr/share/app/old=o -f etc/app.conf=c1 -C etc/app.conf \
		-s "postinst=: >/tmp/app-configured"
	mkpkg app 2.0 -f usr/bin/app=2 -f usr/share/app/new=n -f etc/app.conf=c2 -C etc/app.conf \
		-s "$script=$HOLD" -s "prerm=true" -s "postrm=true"
	mkpkg extra 1.0 -f usr/share/extra/e=e -D var/lib/extra
	# the reference roots
	local real=$ROOT
	ROOT=$T/ref
	mkdir "$ROOT"
	apply 0 base-sh=1.0 >/dev/null 2>&1
	apply 1 base-sh=1.0 lib=1.0 app=1.0 >/dev/null 2>&1
	snap >"$T/old"
	apply 2 base-sh=1.0 app=2.0 extra=1.0 >/dev/null 2>&1 || fail "reference apply B failed"
	snap >"$T/new"
	cmp -s "$T/old" "$T/new" && fail "fixture: old and new are the same"
	ROOT=$real
	apply 0 base-sh=1.0 >/dev/null 2>&1
	apply 1 base-sh=1.0 lib=1.0 app=1.0 >/dev/null 2>&1
	snap >"$T/now"
	diff "$T/old" "$T/now" >&2 || fail "fixture: root A differs from the reference"
	desired "$T/d2" 2 base-sh=1.0 app=2.0 extra=1.0
}

# kill_during: run apply B, kill -9 it while the held script runs
kill_during() {
	touch "$ROOT/tmp/hold"
	"$LIFEBOAT" --root "$ROOT" apply --pool "$POOL" "$T/d2" 2>"$T/killed.err" &
	local pid=$!
	wait_for "$ROOT/tmp/started" "$pid" "$T/killed.err"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	release
}

# is_state NAME: the root equals the reference snapshot NAME (old or new)
is_state() {
	snap >"$T/now"
	diff "$T/$1" "$T/now" >&2 || fail "root is not the $1 state"
}

test_kill_before_commit_then_recover_is_old_state() {
	kill_fixture preinst
	kill_during
	lb recover 2>"$T/err" || fail "recover: $(cat "$T/err")"
	grep -q "rolled back interrupted transaction" "$T/err" || fail "recover said: $(cat "$T/err")"
	is_state old
	lb apply --pool "$POOL" "$T/d2" 2>"$T/err" || fail "apply after recover: $(cat "$T/err")"
	is_state new
	lb verify >/dev/null || fail verify
}

test_kill_after_commit_then_apply_is_new_state() {
	kill_fixture postinst
	kill_during
	lb apply --pool "$POOL" "$T/d2" 2>"$T/err" || fail "apply after kill: $(cat "$T/err")"
	grep -q "finished interrupted transaction" "$T/err" || fail "apply said: $(cat "$T/err")"
	is_state new
	lb verify >/dev/null || fail verify
}

test_kill_before_commit_then_apply_is_new_state() {
	kill_fixture preinst
	kill_during
	lb apply --pool "$POOL" "$T/d2" 2>"$T/err" || fail "apply after kill: $(cat "$T/err")"
	grep -q "rolled back interrupted transaction" "$T/err" || fail "apply said: $(cat "$T/err")"
	is_state new
}

test_kill_after_commit_then_recover_is_new_state() {
	kill_fixture postinst
	kill_during
	lb recover 2>"$T/err" || fail "recover: $(cat "$T/err")"
	is_state new
	lb apply --pool "$POOL" "$T/d2" 2>"$T/err" || fail "apply after recover: $(cat "$T/err")"
	is_state new
}

test_status_reports_interrupted_transaction() {
	# status is a query: it says a transaction was interrupted, and changes nothing
	kill_fixture preinst
	kill_during
	snapshot "$ROOT" >"$T/before"
	lb status >"$T/out" 2>"$T/err" || fail "status: $(cat "$T/err")"
	snapshot "$ROOT" >"$T/after"
	grep -q "transaction: *interrupted" "$T/out" || fail "status: $(cat "$T/out") $(cat "$T/err")"
	diff "$T/before" "$T/after" || fail "status changed the root"
}

test_lock_message_names_no_stale_pid() {
	# the lock file keeps the pid of the last lifeboat that ran; when something
	# else holds the lock, that pid (long gone) is not the holder
	mkpkg app 1.0
	apply 1 app=1.0 2>/dev/null
	local old
	old=$(cat "$ROOT/$LOCK_REL")
	kill -0 "$old" 2>/dev/null && fail "fixture: pid $old still alive"
	flock "$ROOT/$LOCK_REL" sleep 1 &
	local fpid=$!
	while flock -n "$ROOT/$LOCK_REL" true; do sleep 0.01; done
	expect_fail 3 "is in use by another lifeboat" lb list
	wait "$fpid"
	grep -q "pid $old)" "$T/err" && fail "names pid $old, a process that has exited: $(cat "$T/err")"
	true
}
