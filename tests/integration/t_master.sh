# lifeboat-master: keygen, publish (pool, Packages, resolution with libsolv, signed
# states and device pointers), unchanged files kept, the device reading the result.

LIFEBOAT_MASTER=${LIFEBOAT_MASTER:-$PWD/build/lifeboat-master}

master() {
	if [ ! -x "$LIFEBOAT_MASTER" ]; then
		make -s build/lifeboat-master >/dev/null 2>&1 || fail "$LIFEBOAT_MASTER: not built"
	fi
	"$LIFEBOAT_MASTER" "$@"
}

# publish [ARGS...]: publish $POOL with $T/conf and $T/key into $T/tree
publish() {
	master publish --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$T/tree" "$@"
}

# the Packages line of a published state
packages_of() {
	grep '^Packages:' "$T/tree/groups/$1/state"
}

# mtime and content of the signed files, to compare before and after a publish
fingerprint() {
	(cd "$T/tree" && find groups devices -type f -printf '%T@ %p\n' | LC_ALL=C sort |
		while read -r m p; do echo "$m $p $(sha256sum <"$p" | cut -c1-64)"; done)
}

# a pool with a meta package, alternatives, a virtual package, a versioned dependency
# and a package pinned to a lower version
closure_pool() {
	mkpkg libc 1.0 -f usr/lib/libc=1.0
	mkpkg libc 1.1 -f usr/lib/libc=1.1
	mkpkg libz 1.0 -d "libc (>= 1.0)" -f usr/lib/libz=1
	mkpkg libz 2.0 -d "libc (>= 1.0)" -f usr/lib/libz=2
	mkpkg libz 3.0 -d "libc (>= 1.0)" -f usr/lib/libz=3
	mkpkg tools 1.0 -d "libz (>= 2.0)" -f usr/bin/tools=1
	# libsolv alone would choose alpha-mta (name order); Debian prefers the first
	mkpkg zeta-mta 1.0 -f usr/sbin/zeta=1
	mkpkg alpha-mta 1.0 -f usr/sbin/alpha=1
	mkpkg app 1.0 -d "zeta-mta | alpha-mta" -f usr/bin/app=1
	mkpkg tinyhttpd 1.0 -P httpd -f usr/sbin/httpd=1
	mkpkg meta 1.0 -d "app, tools, httpd"
	mkpkg unrelated 1.0
	cat >"$T/conf" <<-EOF
	Group: stable
	Packages: meta, libc (= 1.0)

	Device: dev-0001
	Group: stable
	EOF
}

test_master_keygen() {
	master keygen "$T/key" >"$T/out"
	[ -s "$T/key" ] && [ -s "$T/key.pub" ] || fail "key files missing"
	assert_eq "$(stat -c %a "$T/key")" 600 "secret key mode"
	assert_eq "$(stat -c %a "$T/key.pub")" 644 "public key mode"
	grep -q "^untrusted comment: minisign public key" "$T/key.pub" || fail "public key format"
	# minisign reads both: it signs with the secret key, verifies with the public one
	echo hello >"$T/msg"
	minisign -S -s "$T/key" -m "$T/msg" </dev/null >/dev/null || fail "minisign cannot use the key"
	minisign -Vqm "$T/msg" -p "$T/key.pub" || fail "minisign cannot verify"
	cp "$T/key.pub" "$T/pub.1"
	expect_fail 2 "exists" master keygen "$T/key"
	cmp -s "$T/key.pub" "$T/pub.1" || fail "existing key replaced"
	master keygen --force "$T/key" >/dev/null
	cmp -s "$T/key.pub" "$T/pub.1" && fail "--force did not replace the key"
	expect_fail 2 "usage" master keygen
}

test_master_publish_closure() {
	closure_pool
	master keygen "$T/key" >/dev/null
	publish 2>"$T/err" || fail "publish: $(cat "$T/err")"
	assert_eq "$(packages_of stable)" \
		"Packages: app (= 1.0), libc (= 1.0), libz (= 3.0), meta (= 1.0), tinyhttpd (= 1.0), tools (= 1.0), zeta-mta (= 1.0)"
	grep -q "packages read.*groups resolved.*files written.* s$" "$T/err" || fail "no timing line"
	# minisign verifies the state and the pointer
	minisign -Vqm "$T/tree/groups/stable/state" -p "$T/key.pub" || fail "state signature"
	minisign -Vqm "$T/tree/devices/dev-0001" -p "$T/key.pub" || fail "pointer signature"
	grep -q "^trusted comment: timestamp:[0-9]* file:groups/stable/state serial:[0-9]*$" \
		"$T/tree/groups/stable/state.minisig" || fail "trusted comment"
	# the pointer names its group; state and pointer carry the same serial
	grep -qx "Group: stable" "$T/tree/devices/dev-0001" || fail "pointer lacks its group"
	grep -qx "Device: dev-0001" "$T/tree/devices/dev-0001" || fail "pointer lacks its id"
	assert_eq "$(grep '^Serial' "$T/tree/devices/dev-0001")" \
		"$(grep '^Serial' "$T/tree/groups/stable/state")" "serials"
	grep -q "^Expires: [0-9-]*T[0-9:]*Z$" "$T/tree/groups/stable/state" || fail "Expires"
	# every package of the pool is in the tree under its sha256, and in Packages
	assert_eq "$(grep -c '^Package:' "$T/tree/Packages")" 12 "Packages entries"
	grep '^Filename:' "$T/tree/Packages" | while read -r _ f; do
		sha=$(sha256sum "$T/tree/$f" | cut -c1-64)
		assert_eq "$f" "pool/${sha:0:2}/$sha.deb" "pool file name"
	done
	# the device accepts the state
	lb plan --pool "$POOL" "$T/tree/groups/stable/state" >"$T/plan" ||
		fail "plan refused the state"
	grep -q "^install *zeta-mta 1.0" "$T/plan" || fail "plan: $(cat "$T/plan")"
}

test_master_state_applies() {
	closure_pool
	master keygen "$T/key" >/dev/null
	publish 2>/dev/null
	lb apply --pool "$POOL" "$T/tree/groups/stable/state" 2>/dev/null
	assert_list "app 1.0 libc 1.0 libz 3.0 meta 1.0 tinyhttpd 1.0 tools 1.0 zeta-mta 1.0"
	assert_file usr/lib/libc 1.0
}

test_master_unsatisfiable_missing_dep() {
	mkpkg app 1.0 -d "libmissing (>= 1)"
	mkpkg other 1.0
	printf 'Group: good\nPackages: other\n\nGroup: broken\nPackages: app\n' >"$T/conf"
	master keygen "$T/key" >/dev/null
	expect_fail 4 "group broken: cannot be resolved: .*libmissing.*app" publish
	[ ! -e "$T/tree/groups" ] || fail "a tree was written"
}

test_master_unsatisfiable_conflict() {
	mkpkg lib 1.0
	mkpkg lib 2.0
	mkpkg new 1.0 -d "lib (>= 2)"
	mkpkg old 1.0 -d "lib (<< 2)"
	mkpkg enemy 1.0 -c "new"
	master keygen "$T/key" >/dev/null
	printf 'Group: g\nPackages: new, enemy\n' >"$T/conf"
	expect_fail 4 "group g: cannot be resolved: .*enemy.*new" publish
	printf 'Group: g\nPackages: new, old\n' >"$T/conf"
	expect_fail 4 "group g: cannot be resolved: .*lib" publish
	# a pin that contradicts a dependency
	printf 'Group: g\nPackages: new, lib (= 1.0)\n' >"$T/conf"
	expect_fail 4 "group g: cannot be resolved" publish
	printf 'Group: g\nPackages: nosuchpkg\n' >"$T/conf"
	expect_fail 4 "group g: cannot be resolved: .*nosuchpkg" publish
}

test_master_republish_keeps_unchanged_files() {
	closure_pool
	master keygen "$T/key" >/dev/null
	publish 2>/dev/null
	find "$T/tree/groups" "$T/tree/devices" -type f -exec touch -d 2001-01-01 {} +
	fingerprint >"$T/before"
	publish 2>"$T/err"
	fingerprint >"$T/after"
	diff "$T/before" "$T/after" || fail "unchanged files were rewritten"
	grep -q " 0 files written" "$T/err" || fail "$(cat "$T/err")"
}

test_master_change_rewrites_one_group() {
	mkpkg liba 1.0
	mkpkg libb 1.0
	master keygen "$T/key" >/dev/null
	printf 'Group: a\nPackages: liba\n\nGroup: b\nPackages: libb\n\nDevice: d-a\nGroup: a\n\nDevice: d-b\nGroup: b\n' >"$T/conf"
	publish 2>/dev/null
	find "$T/tree/groups" "$T/tree/devices" -type f -exec touch -d 2001-01-01 {} +
	old=$(grep '^Serial:' "$T/tree/groups/b/state" | cut -d' ' -f2)
	cp "$T/tree/groups/a/state" "$T/a.state"
	mkpkg libb 2.0
	publish 2>/dev/null
	assert_eq "$(packages_of b)" "Packages: libb (= 2.0)"
	new=$(grep '^Serial:' "$T/tree/groups/b/state" | cut -d' ' -f2)
	[ "$new" -gt "$old" ] || fail "serial $new not above $old"
	cmp -s "$T/a.state" "$T/tree/groups/a/state" || fail "group a rewritten"
	for f in groups/a/state groups/a/state.minisig devices/d-a devices/d-a.minisig; do
		assert_eq "$(stat -c %Y "$T/tree/$f")" "$(date -d 2001-01-01 +%s)" "$f mtime"
	done
	for f in groups/b/state groups/b/state.minisig devices/d-b devices/d-b.minisig; do
		[ "$(stat -c %Y "$T/tree/$f")" != "$(date -d 2001-01-01 +%s)" ] || fail "$f kept"
	done
	assert_eq "$(grep '^Serial' "$T/tree/devices/d-b")" "Serial: $new" "pointer serial"
	minisign -Vqm "$T/tree/groups/b/state" -p "$T/key.pub" || fail "signature"
	# moving a device to another group rewrites its pointer only
	sed -i 's/^Device: d-b$/Device: d-b\nX-Note: moved/; $s/^Group: b$/Group: a/' "$T/conf"
	publish 2>/dev/null
	grep -qx "Group: a" "$T/tree/devices/d-b" || fail "pointer not moved"
	cmp -s "$T/a.state" "$T/tree/groups/a/state" || fail "group a rewritten"
}

test_master_serial_above_existing() {
	mkpkg liba 1.0
	master keygen "$T/key" >/dev/null
	printf 'Group: a\nPackages: liba\n\nGroup: b\nPackages: liba\n' >"$T/conf"
	publish 2>/dev/null
	# a serial from the future (a clock that went back) must still be exceeded
	sed -i 's/^Serial: .*/Serial: 99999999999999/' "$T/tree/groups/b/state"
	mkpkg liba 2.0
	publish 2>/dev/null
	assert_eq "$(grep '^Serial' "$T/tree/groups/a/state")" "Serial: 100000000000000"
	assert_eq "$(grep '^Serial' "$T/tree/groups/b/state")" "Serial: 100000000000000"
}

test_master_removed_group_and_device() {
	mkpkg liba 1.0
	master keygen "$T/key" >/dev/null
	printf 'Group: a\nPackages: liba\n\nGroup: b\nPackages:\n\nDevice: d1\nGroup: b\n' >"$T/conf"
	publish 2>/dev/null
	assert_eq "$(packages_of b)" "Packages:"
	lb plan --pool "$POOL" "$T/tree/groups/b/state" >/dev/null || fail "empty state refused"
	printf 'Group: a\nPackages: liba\n' >"$T/conf"
	publish 2>/dev/null
	[ ! -e "$T/tree/groups/b" ] && [ ! -e "$T/tree/devices/d1" ] &&
		[ ! -e "$T/tree/devices/d1.minisig" ] || fail "stale files left"
	[ -e "$T/tree/groups/a/state" ] || fail "group a removed"
}

test_master_bad_input() {
	mkpkg liba 1.0
	echo "not a deb" >"$POOL/junk_1.0_all.deb"
	master keygen "$T/key" >/dev/null
	printf 'Group: a\nPackages: liba\n' >"$T/conf"
	publish 2>"$T/err" || fail "publish: $(cat "$T/err")"
	grep -q "warning: .*junk_1.0_all.deb: .*skipped" "$T/err" || fail "no warning: $(cat "$T/err")"
	# keys
	expect_fail 5 "key" master publish --pool "$POOL" --desired "$T/conf" \
		--key "$T/key.pub" --out "$T/tree"
	expect_fail 5 "nokey" master publish --pool "$POOL" --desired "$T/conf" \
		--key "$T/nokey" --out "$T/tree"
	# CONF
	printf 'Group: a\nPackagez: liba\n' >"$T/conf"
	expect_fail 4 "line 1: unknown field 'Packagez'" publish
	printf 'Group: a\nPackages: liba | libb\n' >"$T/conf"
	expect_fail 4 "alternatives" publish
	printf 'Group: a\nPackages: liba\n\nDevice: d\nGroup: nope\n' >"$T/conf"
	expect_fail 4 "device d: no group 'nope'" publish
	printf 'Group: ../x\nPackages: liba\n' >"$T/conf"
	expect_fail 4 "bad name" publish
	printf 'Group: a\nPackages: liba\nExpires-Days: 0\n' >"$T/conf"
	expect_fail 4 "Expires-Days" publish
	# usage
	printf 'Group: a\nPackages: liba\n' >"$T/conf"
	expect_fail 2 "usage" master publish --pool "$POOL"
	expect_fail 2 "expires" publish --expires soon
	expect_fail 2 "unknown command" master frobnicate
	expect_fail 6 "nopool" master publish --pool "$T/nopool" --desired "$T/conf" \
		--key "$T/key" --out "$T/tree"
}

test_master_expires() {
	mkpkg liba 1.0
	master keygen "$T/key" >/dev/null
	printf 'Group: a\nPackages: liba\n\nGroup: b\nPackages: liba\nExpires-Days: 2\n' >"$T/conf"
	publish --expires 10 2>/dev/null
	exp_a=$(date -d "$(sed -n 's/^Expires: //p' "$T/tree/groups/a/state")" +%s)
	exp_b=$(date -d "$(sed -n 's/^Expires: //p' "$T/tree/groups/b/state")" +%s)
	now=$(date +%s)
	[ $((exp_a - now)) -gt $((10 * 86400 - 60)) ] && [ $((exp_a - now)) -le $((10 * 86400)) ] ||
		fail "group a expires in $((exp_a - now)) s"
	[ $((exp_b - now)) -gt $((2 * 86400 - 60)) ] && [ $((exp_b - now)) -le $((2 * 86400)) ] ||
		fail "group b expires in $((exp_b - now)) s"
	# a state with less than half its validity left is signed again
	sed -i "s/^Expires: .*/Expires: $(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)/" \
		"$T/tree/groups/a/state"
	publish --expires 10 2>/dev/null
	minisign -Vqm "$T/tree/groups/a/state" -p "$T/key.pub" || fail "not re-signed"
	exp_a=$(date -d "$(sed -n 's/^Expires: //p' "$T/tree/groups/a/state")" +%s)
	[ $((exp_a - now)) -gt $((9 * 86400)) ] || fail "expiry not renewed"
}
