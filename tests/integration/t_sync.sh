# lifeboat sync against a real HTTP server (nginx on loopback) serving a tree
# published by lifeboat-master; misbehaving servers from tests/fetch/server.py.

LIFEBOAT_MASTER=${LIFEBOAT_MASTER:-$PWD/build/lifeboat-master}

# a pool, a key, a published tree served by nginx, a device configured for it
sync_setup() {
	mkpkg libfoo 1.0 -f usr/lib/libfoo=1.0
	mkpkg libfoo 2.0 -f usr/lib/libfoo=2.0
	mkpkg app 1.0 -d "libfoo (>= 1.0)" -f usr/bin/app=1.0
	mkpkg app 2.0 -d "libfoo (>= 2.0)" -f usr/bin/app=2.0
	mkpkg extra 1.0 -f usr/share/extra=x
	"$LIFEBOAT_MASTER" keygen "$T/key" >/dev/null
	TREE=$T/tree
	publish "Group: stable\nPackages: app (= 1.0), extra\n\nDevice: dev-1\nGroup: stable\n"
	start_nginx "$TREE"
	mkdir -p "$ROOT/etc/lifeboat"
	cp "$T/key.pub" "$ROOT/etc/lifeboat/master.pub"
	printf 'Master: %s\nDevice-Id: dev-1\n' "$HTTP_URL" >"$ROOT/etc/lifeboat.conf"
}

publish() {
	# a server's ETag changes with the file's mtime, which has one-second steps
	[ ! -d "$TREE/groups" ] || sleep 1.05
	printf "$1" >"$T/conf"
	"$LIFEBOAT_MASTER" publish --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" \
		${2:-} 2>"$T/publish.err" || { cat "$T/publish.err"; fail "publish failed"; }
}

requests() { # requests logged since mark_log
	tail -n +$((MARK + 1)) "$HTTP_LOG" | wc -l
}
mark_log() {
	MARK=$(wc -l <"$HTTP_LOG")
}

test_first_sync_installs_the_groups_closure() {
	sync_setup
	lb sync 2>"$T/err" || fail "sync: $(cat "$T/err")"
	assert_list "app 1.0 extra 1.0 libfoo 2.0"
	lb verify >/dev/null
}

test_group_change_upgrades_downgrades_removes() {
	sync_setup
	lb sync 2>/dev/null
	publish "Group: stable\nPackages: app (= 2.0)\n\nDevice: dev-1\nGroup: stable\n"
	lb sync 2>"$T/err" || fail "sync: $(cat "$T/err")"
	assert_list "app 2.0 libfoo 2.0"
	assert_no_file usr/share/extra
	publish "Group: stable\nPackages: app (= 1.0), libfoo (= 1.0)\n\nDevice: dev-1\nGroup: stable\n"
	lb sync 2>"$T/err" || fail "sync: $(cat "$T/err")"
	assert_list "app 1.0 libfoo 1.0"
	assert_file usr/lib/libfoo 1.0
}

test_canary_moved_by_its_pointer() {
	sync_setup
	publish "Group: stable\nPackages: app (= 1.0)\n\nGroup: canary\nPackages: app (= 2.0)\n\nDevice: dev-1\nGroup: canary\n"
	lb sync 2>"$T/err" || fail "sync: $(cat "$T/err")"
	assert_list "app 2.0 libfoo 2.0"
}

test_unchanged_state_costs_two_requests() {
	sync_setup
	lb sync 2>/dev/null
	mark_log
	lb sync 2>"$T/err" || fail "sync: $(cat "$T/err")"
	assert_eq "$(requests)" 2 "requests of a no-op sync"
	tail -n 2 "$HTTP_LOG" | grep -v ' 304 ' && fail "not answered 304: $(tail -n 2 "$HTTP_LOG")"
	grep -q "(unchanged)" "$T/err" || fail "$(cat "$T/err")"
}

test_only_missing_packages_are_downloaded() {
	sync_setup
	lb sync 2>/dev/null
	publish "Group: stable\nPackages: app (= 1.0), extra\n\nDevice: dev-1\nGroup: stable\n"
	mark_log
	publish "Group: stable\nPackages: app (= 2.0), extra\n\nDevice: dev-1\nGroup: stable\n"
	lb sync 2>/dev/null
	local debs
	debs=$(tail -n +$((MARK + 1)) "$HTTP_LOG" | grep -Ec '\.(deb|delta) 200')
	assert_eq "$debs" 1 "downloads for one upgraded package (a .deb or a delta)"
}

refused_sync() { # CODE PATTERN: sync fails so, and the root is unchanged
	snapshot "$ROOT" | grep -v ' \./var' >"$T/before"
	expect_fail "$1" "$2" lb sync
	snapshot "$ROOT" | grep -v ' \./var' >"$T/after"
	diff "$T/before" "$T/after" >/dev/null || fail "root changed"
}

test_tampered_state_refused() {
	sync_setup
	sed -i 's/^Serial: .*/&0/' "$TREE/groups/stable/state"
	refused_sync 5 "groups/stable/state: signature"
	assert_list ""
}

test_wrong_key_refused() {
	sync_setup
	"$LIFEBOAT_MASTER" keygen "$T/other" >/dev/null
	cp "$T/other.pub" "$ROOT/etc/lifeboat/master.pub"
	refused_sync 5 "signature"
}

test_replayed_older_state_refused() {
	sync_setup
	cp -a "$TREE/groups/stable" "$T/old-stable"
	sleep 0.01
	publish "Group: stable\nPackages: app (= 2.0)\n\nDevice: dev-1\nGroup: stable\n"
	lb sync 2>/dev/null
	assert_list "app 2.0 libfoo 2.0"
	cp "$T/old-stable/"* "$TREE/groups/stable/"
	refused_sync 4 "older than the .* applied here"
	assert_list "app 2.0 libfoo 2.0"
}

test_expired_state_refused() {
	sync_setup
	publish "Group: stable\nPackages: app (= 2.0)\nExpires-Days: 1\n\nDevice: dev-1\nGroup: stable\n"
	# the device's clock two days later: the master has not published since
	snapshot "$ROOT" | grep -v ' \./var' >"$T/before"
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
		expect_fail 4 "expired" faketime -f '+2d' "$LIFEBOAT" --root "$ROOT" sync
	assert_list ""
}

test_oversized_wrong_and_truncated_artifacts_refused() {
	sync_setup
	local deb
	local sha
	sha=$(awk '$3 == "app_1.0" {print $1}' "$TREE/groups/stable/state")
	deb=$TREE/pool/${sha:0:2}/$sha.deb
	[ -f "$deb" ] || fail "no $deb"
	rm -rf "$ROOT/var/lib/lifeboat/cache"
	cp "$deb" "$T/orig.deb"
	head -c 1000 /dev/zero >>"$deb"
	refused_sync 5 "larger than"
	cp "$T/orig.deb" "$deb"
	printf 'X' | dd of="$deb" bs=1 seek=100 conv=notrunc 2>/dev/null
	refused_sync 5 "sha256"
	head -c 200 "$T/orig.deb" >"$deb"
	refused_sync 5 ""
	cp "$T/orig.deb" "$deb"
	lb sync 2>"$T/err" || fail "sync after repair: $(cat "$T/err")"
	assert_list "app 1.0 extra 1.0 libfoo 2.0"
}

# the misbehaving server: tests/fetch/server.py ROOT PORTFILE LOG, URL prefix = behaviours
start_bad_server() {
	python3 tests/fetch/server.py "$TREE" "$T/port" "$T/badlog" &
	BAD_PID=$!
	local i
	for i in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
	BAD_URL=http://127.0.0.1:$(cat "$T/port")
}

test_server_errors_are_retried() {
	sync_setup
	start_bad_server
	printf 'Master: %s/fail=1\nDevice-Id: dev-1\nRetries: 3\n' "$BAD_URL" >"$ROOT/etc/lifeboat.conf"
	lb sync 2>"$T/err" || { kill $BAD_PID; fail "sync: $(cat "$T/err")"; }
	assert_list "app 1.0 extra 1.0 libfoo 2.0"
	printf 'Master: %s/status=500\nDevice-Id: dev-1\nRetries: 1\n' "$BAD_URL" >"$ROOT/etc/lifeboat.conf"
	rm -rf "$ROOT/var/lib/lifeboat/sync"
	expect_fail 6 "500" lb sync
	kill $BAD_PID
}

test_dropped_connection_resumes_with_range() {
	sync_setup
	mkpkg big 1.0 -F "usr/share/big=@$LIFEBOAT"
	publish "Group: stable\nPackages: big\n\nDevice: dev-1\nGroup: stable\n"
	start_bad_server
	printf 'Master: %s/cut=50000\nDevice-Id: dev-1\n' "$BAD_URL" >"$ROOT/etc/lifeboat.conf"
	lb sync 2>"$T/err" || { kill $BAD_PID; fail "sync: $(cat "$T/err")"; }
	kill $BAD_PID
	assert_list "big 1.0"
	grep '\.deb' "$T/badlog" | grep -q 'bytes=50000-' || fail "no resumed request: $(cat "$T/badlog")"
}

test_server_without_range_still_works() {
	sync_setup
	mkpkg big 1.0 -F "usr/share/big=@$LIFEBOAT"
	publish "Group: stable\nPackages: big\n\nDevice: dev-1\nGroup: stable\n"
	start_bad_server
	printf 'Master: %s/norange,cut=50000\nDevice-Id: dev-1\n' "$BAD_URL" >"$ROOT/etc/lifeboat.conf"
	lb sync 2>"$T/err" || { kill $BAD_PID; fail "sync: $(cat "$T/err")"; }
	kill $BAD_PID
	assert_list "big 1.0"
}

test_disk_full_in_the_cache() {
	sync_setup
	mkpkg big 1.0 -F "usr/share/big=@$LIFEBOAT"
	publish "Group: stable\nPackages: big\n\nDevice: dev-1\nGroup: stable\n"
	mkdir -p "$ROOT/var/lib/lifeboat/cache"
	mount -t tmpfs -o size=64k tmpfs "$ROOT/var/lib/lifeboat/cache" || fail "cannot mount tmpfs"
	refused_sync 6 "No space left"
	umount "$ROOT/var/lib/lifeboat/cache"
	assert_list ""
}

test_sync_from_a_directory_with_file_urls() {
	sync_setup
	printf 'Master: file://%s\nDevice-Id: dev-1\n' "$TREE" >"$ROOT/etc/lifeboat.conf"
	lb sync 2>"$T/err" || fail "sync: $(cat "$T/err")"
	assert_list "app 1.0 extra 1.0 libfoo 2.0"
}

test_json_events() {
	sync_setup
	lb --json sync >"$T/out" 2>/dev/null
	grep -q '"event":"download"' "$T/out" || fail "$(cat "$T/out")"
	grep -q '"event":"synced"' "$T/out" || fail "$(cat "$T/out")"
}

# key rotation: the master moves from $T/key (old) to a new key; the device pins only the old
rotate_key() { # rotate_key KEYLIST_SIGNER [keylist args...]: list old + new, publish with new
	local signer=$1
	shift
	"$LIFEBOAT_MASTER" keygen "$T/new" >/dev/null
	"$LIFEBOAT_MASTER" keylist --key "$signer" --out "$TREE" "$@" "$T/key.pub" "$T/new.pub" \
		2>"$T/keylist.err" || fail "keylist: $(cat "$T/keylist.err")"
	cp "$T/key" "$T/old"
	cp "$T/key.pub" "$T/old.pub"
	cp "$T/new" "$T/key"
	cp "$T/new.pub" "$T/key.pub"
	publish "Group: stable\nPackages: app (= 2.0)\n\nDevice: dev-1\nGroup: stable\n"
}

test_key_rotation_followed() {
	sync_setup
	lb sync 2>/dev/null
	rotate_key "$T/key"
	minisign -Vqm "$TREE/keys" -p "$T/old.pub" || fail "minisign cannot verify the key list"
	grep -q "^ $(tail -n 1 "$T/new.pub")\$" "$TREE/keys" || fail "new key not listed: $(cat "$TREE/keys")"
	minisign -Vqm "$TREE/groups/stable/state" -p "$T/new.pub" || fail "state not signed by the new key"
	lb sync 2>"$T/err" || fail "sync: $(cat "$T/err")"
	assert_list "app 2.0 libfoo 2.0"
	# the accepted list persists: later runs trust the new key without the master's list
	[ -f "$ROOT/var/lib/lifeboat/sync/keys" ] || fail "key list not kept"
	rm "$TREE/keys" "$TREE/keys.minisig"
	publish "Group: stable\nPackages: app (= 1.0), libfoo (= 1.0)\n\nDevice: dev-1\nGroup: stable\n"
	lb sync 2>"$T/err" || fail "second sync: $(cat "$T/err")"
	assert_list "app 1.0 libfoo 1.0"
}

test_key_list_by_unknown_key_refused() {
	sync_setup
	lb sync 2>/dev/null
	"$LIFEBOAT_MASTER" keygen "$T/rogue" >/dev/null
	rotate_key "$T/rogue"
	refused_sync 5 "/keys: signature: made by unknown key"
	assert_list "app 1.0 extra 1.0 libfoo 2.0"
	[ ! -e "$ROOT/var/lib/lifeboat/sync/keys" ] || fail "a refused key list was kept"
}

test_expired_key_list_not_trusted() {
	sync_setup
	rotate_key "$T/key" --expires 1
	# two days later the list has expired; the states (30 days) have not
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
		expect_fail 4 "keys: expired" faketime -f '+2d' "$LIFEBOAT" --root "$ROOT" sync
	assert_list ""
	# accepted while valid, the kept list stops making its keys trusted when it expires
	lb sync 2>"$T/err" || fail "sync: $(cat "$T/err")"
	assert_list "app 2.0 libfoo 2.0"
	rm "$TREE/keys" "$TREE/keys.minisig"
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
		expect_fail 5 "unknown key" faketime -f '+2d' "$LIFEBOAT" --root "$ROOT" sync
}

test_replayed_older_key_list_refused() {
	sync_setup
	rotate_key "$T/key"
	cp "$TREE/keys" "$TREE/keys.minisig" "$T/"
	lb sync 2>/dev/null
	# a newer list (signed by the old key, still pinned) adds a third key, then the
	# master moves to it; the device accepts that list
	"$LIFEBOAT_MASTER" keygen "$T/third" >/dev/null
	"$LIFEBOAT_MASTER" keylist --key "$T/old" --out "$TREE" "$T/old.pub" "$T/new.pub" \
		"$T/third.pub" 2>/dev/null
	cp "$T/third" "$T/key"
	publish "Group: stable\nPackages: app (= 1.0)\n\nDevice: dev-1\nGroup: stable\n"
	lb sync 2>"$T/err" || fail "sync: $(cat "$T/err")"
	assert_list "app 1.0 libfoo 2.0"
	# the older list served again, with states by a key it does not list
	cp "$T/keys" "$T/keys.minisig" "$TREE/"
	"$LIFEBOAT_MASTER" keygen "$T/fourth" >/dev/null
	cp "$T/fourth" "$T/key"
	publish "Group: stable\nPackages: app (= 2.0)\n\nDevice: dev-1\nGroup: stable\n"
	refused_sync 4 "keys: serial .* a replayed key list is refused"
	assert_list "app 1.0 libfoo 2.0"
}
