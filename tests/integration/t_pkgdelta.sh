# Package deltas (lib/pkgdelta.h): the master publishes them, a device upgrades or
# downgrades through them against its installed files, and falls back to the
# full package when a delta cannot be used. Real nginx on loopback.

LIFEBOAT_MASTER=${LIFEBOAT_MASTER:-$PWD/build/lifeboat-master}

# gen FILE SIZE SEED [EDIT-SEED]: SIZE bytes of mildly compressible data, the same
# for the same SEED; EDIT-SEED changes a few spots, inserts and deletes bytes
gen() {
	python3 - "$@" <<'PY'
import random, sys
path, size, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
words = [bytes(r.randrange(256) for _ in range(r.randrange(4, 24))) for _ in range(400)]
out = bytearray()
while len(out) < size:
    out += r.choice(words)
out = out[:size]
if len(sys.argv) > 4:
    e = random.Random(int(sys.argv[4]))
    for _ in range(12):
        p = e.randrange(len(out))
        out[p:p + 4] = bytes(e.randrange(256) for _ in range(e.choice((0, 4, 9))))
open(path, 'wb').write(out)
PY
}

# app VERSION EDIT: a package whose library changes a little from version to
# version, whose docs change, with a file that never changes, a versioned
# library name, a symlink, an executable and a file only some versions have
app() {
	local v=$1 e=$2 d=$T/data.$1
	mkdir -p "$d"
	gen "$d/lib" 300000 7 "$e"
	gen "$d/same" 50000 8
	gen "$d/versioned" 80000 9 "$e"
	seq 1 3000 | sed "s/^/line $e /" >"$d/doc"
	local extra=""
	[ "$e" -lt 3 ] || { gen "$d/new" 20000 "$e"; extra="-F usr/share/app/new=@$d/new"; }
	# shellcheck disable=SC2086
	mkpkg app "$v" -Z xz -F "usr/lib/libapp.so=@$d/lib" -F "usr/share/app/same=@$d/same" \
		-F "usr/lib/libver.so.$e=@$d/versioned" -F "usr/share/doc/app/changes=@$d/doc" \
		-l "usr/lib/libapp.so.1=libapp.so" -f "usr/bin/app=#!/bin/sh" \
		-f "etc/app.conf=setting=1" -C etc/app.conf $extra
}

pd_setup() {
	app 1.0 1
	app 2.0 2
	app 3.0 3
	"$LIFEBOAT_MASTER" keygen "$T/key" >/dev/null
	TREE=$T/tree
	start_nginx "$TREE"
	mkdir -p "$ROOT/etc/lifeboat"
	cp "$T/key.pub" "$ROOT/etc/lifeboat/master.pub"
	printf 'Master: %s\nGroup: stable\n' "$HTTP_URL" >"$ROOT/etc/lifeboat.conf"
}

publish() { # VERSION [ARGS...]: the group stable at app VERSION
	local v=$1
	shift
	[ ! -d "$TREE/groups" ] || sleep 1.05 # ETags have one-second steps
	printf 'Group: stable\nPackages: app (= %s)\n' "$v" >"$T/conf"
	"$LIFEBOAT_MASTER" publish --pool "$POOL" --desired "$T/conf" --key "$T/key" \
		--out "$TREE" "$@" 2>"$T/publish.err" || { cat "$T/publish.err"; fail "publish"; }
}

sync_ok() { # sync ROOT (default $ROOT)
	"$LIFEBOAT" --root "${1:-$ROOT}" sync 2>"$T/err" || fail "sync: $(cat "$T/err")"
}

# a second device that gets the same version with full packages only
fresh_root() { # VERSION
	local r=$T/fresh.$1
	mkdir -p "$r/etc/lifeboat"
	cp "$ROOT/etc/lifeboat/master.pub" "$r/etc/lifeboat/"
	cp "$ROOT/etc/lifeboat.conf" "$r/etc/"
	sync_ok "$r"
	echo "$r"
}

# the roots hold the same files, modes, owners and contents (lifeboat's state aside)
same_root() { # ROOT1 ROOT2
	snapshot "$1" | grep -v ' \./var/lib/lifeboat' >"$T/s1"
	snapshot "$2" | grep -v ' \./var/lib/lifeboat' >"$T/s2"
	diff "$T/s1" "$T/s2" >&2 || fail "the roots differ"
}

fetched() { # PATTERN: requests since mark_log that match
	tail -n +$((MARK + 1)) "$HTTP_LOG" | grep -c "$1" || true
}
mark_log() {
	MARK=$(wc -l <"$HTTP_LOG")
}

deltas_in_state() {
	sed -n '/^Package-Deltas:/,/^[^ ]/p' "$TREE/groups/stable/state" | grep -c '^ ' || true
}

test_upgrade_through_a_delta_reaches_the_same_root() {
	pd_setup
	publish 1.0
	sync_ok
	publish 2.0
	assert_eq "$(deltas_in_state)" 1 "deltas in the state"
	mark_log
	sync_ok
	assert_list "app 2.0"
	assert_eq "$(fetched '\.delta 200')" 1 "delta downloads"
	assert_eq "$(fetched '\.deb 200')" 0 "full downloads"
	lb verify >/dev/null || fail "verify after a delta upgrade"
	same_root "$ROOT" "$(fresh_root 2.0)"
	# the package database names the signed .deb: the next sync has nothing to do
	mark_log
	sync_ok
	assert_eq "$(fetched ' 200')" 0 "downloads of a no-op sync"
	# the delta is smaller than the package
	local dsize deb
	dsize=$(find "$TREE/deltas" -name '*.delta' -printf '%s\n')
	deb=$(stat -c %s "$POOL/app_2.0_all.deb")
	[ "$dsize" -lt "$deb" ] || fail "delta $dsize not smaller than the package $deb"
}

test_downgrade_through_a_delta() {
	pd_setup
	publish 2.0
	sync_ok
	publish 1.0 # from the 2.0 that the state named
	mark_log
	sync_ok
	assert_list "app 1.0"
	assert_eq "$(fetched '\.delta 200')" 1 "delta downloads"
	assert_eq "$(fetched '\.deb 200')" 0 "full downloads"
	same_root "$ROOT" "$(fresh_root 1.0)"
}

test_deltas_from_the_last_states_reach_devices_behind() {
	pd_setup
	publish 1.0
	sync_ok
	publish 2.0
	publish 3.0 # from 2.0 and, carried over, from 1.0
	assert_eq "$(deltas_in_state)" 2 "deltas in the state"
	mark_log
	sync_ok # the device still has 1.0
	assert_list "app 3.0"
	assert_eq "$(fetched '\.delta 200')" 1 "delta downloads"
	assert_eq "$(fetched '\.deb 200')" 0 "full downloads"
	same_root "$ROOT" "$(fresh_root 3.0)"
}

test_delta_from_a_version_the_device_lacks_is_not_used() {
	pd_setup
	publish 1.0
	sync_ok
	publish 2.0 --package-deltas 0
	publish 3.0 --package-deltas 1 # from 2.0 only
	assert_eq "$(deltas_in_state)" 1 "deltas in the state"
	mark_log
	sync_ok
	assert_list "app 3.0"
	assert_eq "$(fetched '\.delta')" 0 "delta requests"
	assert_eq "$(fetched '\.deb 200')" 1 "full downloads"
}

test_locally_modified_file_falls_back_to_the_package() {
	pd_setup
	publish 1.0
	sync_ok
	publish 2.0
	printf 'patched by hand' >>"$ROOT/usr/lib/libapp.so"
	mark_log
	sync_ok
	grep -q "delta not used.*usr/lib/libapp.so differs from app 1.0 as installed" "$T/err" ||
		fail "no fallback message: $(cat "$T/err")"
	assert_list "app 2.0"
	assert_eq "$(fetched '\.deb 200')" 1 "full downloads"
	lb verify >/dev/null || fail "verify"
	same_root "$ROOT" "$(fresh_root 2.0)"
}

test_locally_changed_conffile_does_not_stop_the_delta() {
	pd_setup
	publish 1.0
	sync_ok
	publish 2.0
	echo "setting=2 # by hand" >"$ROOT/etc/app.conf"
	mark_log
	sync_ok
	assert_list "app 2.0"
	assert_eq "$(fetched '\.delta 200')" 1 "delta downloads"
	assert_eq "$(fetched '\.deb 200')" 0 "full downloads"
	assert_file etc/app.conf "setting=2 # by hand"
}

test_corrupt_or_truncated_delta_falls_back_to_the_package() {
	local how
	for how in corrupt truncate; do
		(
			T=$T/$how && ROOT=$T/root && POOL=$T/pool && mkdir -p "$ROOT" "$POOL" "$T/src"
			pd_setup
			publish 1.0
			sync_ok
			publish 2.0
			local f
			f=$(find "$TREE/deltas" -name '*.delta')
			if [ $how = corrupt ]; then
				printf '\377' | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null
			else
				truncate -s -100 "$f"
			fi
			mark_log
			sync_ok
			grep -q "delta not used" "$T/err" || fail "$how: no fallback: $(cat "$T/err")"
			assert_list "app 2.0"
			assert_eq "$(fetched '\.deb 200')" 1 "$how: full downloads"
			same_root "$ROOT" "$(fresh_root 2.0)"
			stop_nginx
		) || fail "$how"
	done
}

test_delta_bigger_than_the_package_is_not_published() {
	# unrelated, incompressible contents: nothing to gain
	head -c 30000 /dev/urandom >"$T/r1"
	head -c 30000 /dev/urandom >"$T/r2"
	mkpkg tiny 1.0 -F "usr/share/tiny=@$T/r1"
	mkpkg tiny 2.0 -F "usr/share/tiny=@$T/r2"
	"$LIFEBOAT_MASTER" keygen "$T/key" >/dev/null
	TREE=$T/tree
	printf 'Group: g\nPackages: tiny (= 1.0)\n' >"$T/conf"
	"$LIFEBOAT_MASTER" publish --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" 2>/dev/null
	printf 'Group: g\nPackages: tiny (= 2.0)\n' >"$T/conf"
	"$LIFEBOAT_MASTER" publish --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" 2>/dev/null
	grep -q '^Package-Deltas' "$TREE/groups/g/state" && fail "a useless delta was published"
	[ -n "$(find "$TREE/deltas" -name '*.none')" ] || fail "no .none marker"
	[ -z "$(find "$TREE/deltas" -name '*.delta')" ] || fail "a .delta was kept"
}

test_plan_shows_deltas_and_bytes() {
	pd_setup
	publish 1.0
	sync_ok
	publish 2.0
	mark_log
	lb plan >"$T/plan" 2>"$T/err" || fail "plan: $(cat "$T/err")"
	grep -Eq '^upgrade +app +1\.0 -> 2\.0 +delta +[0-9]+ bytes' "$T/plan" || fail "$(cat "$T/plan")"
	grep -Eq '^[0-9]+ bytes to download' "$T/plan" || fail "no total: $(cat "$T/plan")"
	assert_eq "$(fetched '\.delta')" 0 "plan downloaded a delta"
	assert_list "app 1.0"
	lb --json plan >"$T/plan.json" 2>/dev/null || fail "plan --json"
	grep -q '"package":"app".*"delta":true' "$T/plan.json" || fail "$(cat "$T/plan.json")"
}

test_master_delta_and_patch_by_hand() {
	app 1.0 1
	app 2.0 2
	apply 1 app=1.0 >/dev/null 2>&1 || fail "apply 1.0"
	"$LIFEBOAT_MASTER" delta "$POOL/app_1.0_all.deb" "$POOL/app_2.0_all.deb" "$T/d" >"$T/out" ||
		fail "delta"
	grep -q "files: 2 same, [0-9]* zstd, [0-9]* bsdiff, 1 literal" "$T/out" || fail "$(cat "$T/out")"
	lb patch "$T/d" "$T/rebuilt.deb" >"$T/out" 2>"$T/err" || fail "patch: $(cat "$T/err")"
	# (owners by number: the rebuilt tar carries no user names; no "./" entry)
	dpkg-deb -c "$T/rebuilt.deb" | awk '$6 != "./" {print $1, $3, $6, $7, $8}' >"$T/c1"
	dpkg-deb -c "$POOL/app_2.0_all.deb" | awk '$6 != "./" {print $1, $3, $6, $7, $8}' >"$T/c2"
	diff "$T/c1" "$T/c2" >&2 || fail "the rebuilt package lists other entries"
	mkdir "$T/x1" "$T/x2"
	dpkg-deb -x "$T/rebuilt.deb" "$T/x1"
	dpkg-deb -x "$POOL/app_2.0_all.deb" "$T/x2"
	diff -r "$T/x1" "$T/x2" >&2 || fail "the rebuilt package has other content"
	# from a package that is not installed: refused
	"$LIFEBOAT_MASTER" delta "$POOL/app_2.0_all.deb" "$POOL/app_1.0_all.deb" "$T/d2" >/dev/null
	expect_fail 4 "is not installed" lb patch "$T/d2" "$T/x.deb"
}
