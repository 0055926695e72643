# OS images: lifeboat-master publishes one with a group's state, `lifeboat os write`
# streams it from nginx onto a slot (a regular file standing in for the block
# device; block devices and UBI volumes are tested in QEMU), `os status` shows the
# record.

# the master built beside $LIFEBOAT unless given
LIFEBOAT_MASTER=${LIFEBOAT_MASTER:-$(dirname "$LIFEBOAT")/lifeboat-master}

# an ext4 image of 3 MiB from a small directory
mkimage() { # mkimage FILE [TEXT]
	mkdir -p "$T/imgroot/etc"
	echo "${2:-version 1}" >"$T/imgroot/etc/os-release"
	head -c 1500000 "$LIFEBOAT" >"$T/imgroot/lifeboat"
	rm -f "$1"
	mkfs.ext4 -q -F -d "$T/imgroot" -U 11111111-2222-3333-4444-555555555555 -E hash_seed=11111111-2222-3333-4444-555555555555 "$1" 3M ||
		fail "mkfs.ext4"
}

os_publish() { # os_publish CONF-TEXT
	[ ! -d "$TREE/groups" ] || sleep 1.05 # one-second ETag steps
	printf "$1" >"$T/conf"
	"$LIFEBOAT_MASTER" publish --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" \
		2>"$T/publish.err" || { cat "$T/publish.err"; fail "publish failed"; }
}

# a key, an image published for group stable, nginx serving the tree, a slot of 8 MiB,
# a device configured for the master (its state in $STATE, as in the rescue system)
os_setup() {
	"$LIFEBOAT_MASTER" keygen "$T/key" >/dev/null
	TREE=$T/tree
	mkimage "$T/img1"
	os_publish "Group: stable\nPackages:\nImage: img1\nImage-Version: 1.0\n\nDevice: dev-1\nGroup: stable\n"
	start_nginx "$TREE"
	STATE=$T/state
	SLOT=$T/slot
	truncate -s 8M "$SLOT"
	printf 'Master: %s\nDevice-Id: dev-1\n' "$HTTP_URL" >"$T/lifeboat.conf"
}

osw() { # osw ARGS...: lifeboat os write onto $SLOT
	"$LIFEBOAT" --state "$STATE" os write --slot "$SLOT" --config "$T/lifeboat.conf" \
		--pubkey "$T/key.pub" "$@"
}

state_field() { # state_field NAME: a field of the group's published state
	sed -n "s/^$1: //p" "$TREE/groups/stable/state"
}

assert_slot_holds() { # assert_slot_holds IMAGE
	cmp -n "$(stat -c %s "$1")" "$1" "$SLOT" || fail "the slot does not hold $1"
}

test_published_image_fields() {
	os_setup
	local sha size zst
	sha=$(sha256sum "$T/img1" | cut -c1-64)
	size=$(stat -c %s "$T/img1")
	assert_eq "$(state_field Image-Version)" "1.0"
	assert_eq "$(state_field Image-SHA256)" "$sha"
	assert_eq "$(state_field Image-Size)" "$size"
	assert_eq "$(state_field Image)" "images/$sha.img.zst"
	zst=$TREE/images/$sha.img.zst
	assert_eq "$(state_field Image-Compressed-Size)" "$(stat -c %s "$zst")"
	zstd -qdc "$zst" | cmp - "$T/img1" || fail "the .zst does not hold the image"
	minisign -Vqm "$TREE/groups/stable/state" -p "$T/key.pub" || fail "state not signed"
	# unchanged: the .zst and the state stay as they are
	local before
	before=$(stat -c '%i %Y' "$zst" "$TREE/groups/stable/state")
	os_publish "Group: stable\nPackages:\nImage: img1\nImage-Version: 1.0\n\nDevice: dev-1\nGroup: stable\n"
	assert_eq "$(stat -c '%i %Y' "$zst" "$TREE/groups/stable/state")" "$before" "kept files"
	grep -q " 0 files written" "$T/publish.err" || fail "$(cat "$T/publish.err")"
	# a new version of the same image is a new state, the .zst is kept
	os_publish "Group: stable\nPackages:\nImage: img1\nImage-Version: 1.1\n\nDevice: dev-1\nGroup: stable\n"
	assert_eq "$(state_field Image-Version)" "1.1"
	assert_eq "$(stat -c '%i %Y' "$zst")" "$(echo "$before" | head -n 1)" "kept image"
	# --image for groups without their own
	os_publish "Group: stable\nPackages:\n\nGroup: other\nPackages:\nImage: img1\nImage-Version: 9\n"
	[ -z "$(state_field Image)" ] || fail "stable has an image"
	"$LIFEBOAT_MASTER" publish --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" \
		--image "$T/img1" --image-version 2.0 2>"$T/publish.err" || fail "$(cat "$T/publish.err")"
	assert_eq "$(state_field Image-Version)" "2.0"
	grep -q "^Image-Version: 9$" "$TREE/groups/other/state" || fail "other: $(cat "$TREE/groups/other/state")"
	# bad input: nothing published
	printf 'Group: stable\nPackages:\nImage: img1\n' >"$T/conf"
	expect_fail 4 "Image and Image-Version go together" \
		"$LIFEBOAT_MASTER" publish --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE"
	printf 'Group: stable\nPackages:\nImage: missing\nImage-Version: 1\n' >"$T/conf"
	expect_fail 6 "missing: No such file" \
		"$LIFEBOAT_MASTER" publish --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE"
	printf 'Group: stable\nPackages:\nImage: img1\nImage-Version: 1/2\n' >"$T/conf"
	expect_fail 4 "Image-Version: '1/2'" \
		"$LIFEBOAT_MASTER" publish --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE"
	printf 'Group: stable\nPackages:\n' >"$T/conf"
	expect_fail 2 "go together" "$LIFEBOAT_MASTER" publish --pool "$POOL" --desired "$T/conf" \
		--key "$T/key" --out "$TREE" --image "$T/img1"
}

test_write_then_rewrite_skips_every_block() {
	os_setup
	osw 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img1"
	local blocks=24 # 3 MiB in blocks of 128 KiB
	grep -q "^lifeboat: os: wrote 1.0 to $SLOT (3.0 MiB, [0-9]* blocks already right)$" "$T/err" ||
		fail "$(cat "$T/err")"
	grep -q "(3.0 MiB, $blocks blocks already right)" "$T/err" && fail "nothing was written"
	[ "$(stat -c %s "$SLOT")" = 8388608 ] || fail "the slot changed size"
	grep -q "^Status: complete$" "$STATE/os" || fail "$(cat "$STATE/os")"
	local before
	before=$(stat -c %y "$SLOT")
	osw 2>"$T/err" || fail "second os write: $(cat "$T/err")"
	grep -q "(3.0 MiB, $blocks blocks already right)$" "$T/err" || fail "$(cat "$T/err")"
	assert_eq "$(stat -c %y "$SLOT")" "$before" "the slot's mtime"
}

test_changed_image_writes_only_changed_blocks() {
	os_setup
	osw 2>/dev/null || fail "os write"
	cp "$T/img1" "$T/img2"
	printf 'changed' | dd of="$T/img2" bs=1 seek=$((1024 * 1024 + 5)) conv=notrunc 2>/dev/null
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n"
	osw 2>"$T/err" || fail "os write: $(cat "$T/err")"
	grep -q "wrote 2.0 to $SLOT (3.0 MiB, 23 blocks already right)" "$T/err" || fail "$(cat "$T/err")"
	assert_slot_holds "$T/img2"
	grep -q "^Image-Version: 2.0$" "$STATE/os" || fail "$(cat "$STATE/os")"
}

test_corrupt_image_refused() {
	os_setup
	osw 2>/dev/null || fail "os write"
	cp "$STATE/os" "$T/os.before"
	local zst
	zst=$TREE/$(state_field Image)
	cp "$zst" "$T/zst.orig"
	# not zstd at all: refused before a byte of the slot changes
	printf 'XXXX' | dd of="$zst" bs=1 conv=notrunc 2>/dev/null
	expect_fail 5 "not the image (zstd" osw
	cmp "$STATE/os" "$T/os.before" || fail "the record changed"
	assert_slot_holds "$T/img1"
	# its checksum (the last bytes): every block decodes right, the end does not
	cp "$T/zst.orig" "$zst"
	printf 'XXXX' | dd of="$zst" bs=1 seek=$(($(stat -c %s "$zst") - 4)) conv=notrunc 2>/dev/null
	expect_fail 5 "$HTTP_URL/images/.*not the image" osw
	cmp "$STATE/os" "$T/os.before" || fail "the record changed"
	# a new image whose checksum is damaged: blocks that differ were written before
	# the end showed it, and the record says that the slot holds no complete image
	cp "$T/zst.orig" "$zst"
	cp "$T/img1" "$T/img2"
	head -c 1000000 /dev/urandom | dd of="$T/img2" bs=1k seek=1024 conv=notrunc 2>/dev/null
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n"
	zst=$TREE/$(state_field Image)
	cp "$zst" "$T/zst2.orig"
	printf 'XXXX' | dd of="$zst" bs=1 seek=$(($(stat -c %s "$zst") - 4)) conv=notrunc 2>/dev/null
	expect_fail 5 "$HTTP_URL/images/" osw
	grep -q "^Status: incomplete$" "$STATE/os" || fail "$(cat "$STATE/os")"
	grep -q "^Image-Version: 2.0$" "$STATE/os" || fail "$(cat "$STATE/os")"
	# garbage in the middle
	cp "$T/zst2.orig" "$zst"
	head -c 3000 /dev/urandom | dd of="$zst" bs=1 seek=$(($(stat -c %s "$zst") / 2)) conv=notrunc 2>/dev/null
	expect_fail 5 "$HTTP_URL/images/" osw
	grep -q "^Status: incomplete$" "$STATE/os" || fail "$(cat "$STATE/os")"
	local rc=0
	"$LIFEBOAT" --state "$STATE" os status >"$T/out" 2>&1 || rc=$?
	assert_eq "$rc" 1 "os status of an incomplete write"
	# repaired on the master: the next write completes it
	cp "$T/zst2.orig" "$zst"
	osw 2>"$T/err" || fail "os write after repair: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	grep -q "^Status: complete$" "$STATE/os" || fail "$(cat "$STATE/os")"
}

test_oversized_download_cut_off() {
	os_setup
	local zst
	zst=$TREE/$(state_field Image)
	cat "$zst" "$zst" >"$T/double"
	cp "$T/double" "$zst"
	expect_fail 5 "larger than the .* bytes the signed metadata says" osw
	[ ! -e "$STATE/os" ] || [ "$(grep -c complete "$STATE/os")" = 0 ] || fail "recorded"
}

test_image_larger_than_slot_refused() {
	os_setup
	truncate -s 1M "$SLOT"
	expect_fail 6 "the image (3145728 bytes) is larger than the file (1048576 bytes)" osw
	[ ! -e "$STATE/os" ] || fail "a record was written"
	[ "$(stat -c %s "$SLOT")" = 1048576 ] || fail "the slot changed"
	cmp -n 1048576 "$SLOT" /dev/zero || fail "the slot was written"
	expect_fail 2 "not a UBI volume" "$LIFEBOAT" --state "$STATE" os write --slot /dev/null \
		--config "$T/lifeboat.conf" --pubkey "$T/key.pub"
	expect_fail 2 "not a block device, a regular file or a UBI volume" "$LIFEBOAT" \
		--state "$STATE" os write --slot "$T" --config "$T/lifeboat.conf" --pubkey "$T/key.pub"
	expect_fail 2 "usage: lifeboat os write --slot DEV" "$LIFEBOAT" --state "$STATE" os write \
		--config "$T/lifeboat.conf"
}

test_state_without_image_refused() {
	os_setup
	os_publish "Group: stable\nPackages:\n\nDevice: dev-1\nGroup: stable\n"
	expect_fail 4 "groups/stable/state: serial [0-9]* names no OS image" osw
	[ ! -e "$STATE/os" ] || fail "a record was written"
}

test_signature_and_serial_checked_as_sync_does() {
	os_setup
	"$LIFEBOAT_MASTER" keygen "$T/other" >/dev/null
	expect_fail 5 "signature" "$LIFEBOAT" --state "$STATE" os write --slot "$SLOT" \
		--config "$T/lifeboat.conf" --pubkey "$T/other.pub"
	local serial
	serial=$(state_field Serial)
	expect_fail 4 "serial $serial is not newer than $serial (--newer-than)" osw --newer-than "$serial"
	[ ! -e "$STATE/os" ] || fail "a record was written"
	osw --newer-than $((serial - 1)) 2>"$T/err" || fail "$(cat "$T/err")"
	# a replay: an older state than the one the database applied
	printf 'Lifeboat-Db: 1\nSerial: %s\n' $((serial + 1)) >"$STATE/db"
	expect_fail 4 "a replayed state is refused" osw
}

test_os_status() {
	os_setup
	local rc=0
	"$LIFEBOAT" --state "$STATE" os status >"$T/out" 2>"$T/err" || rc=$?
	assert_eq "$rc" 1 "os status without a record"
	grep -q "no image written here" "$T/err" || fail "$(cat "$T/err")"
	osw 2>/dev/null || fail "os write"
	"$LIFEBOAT" --state "$STATE" os status >"$T/out" || fail "os status"
	grep -q "^Slot-Device: $SLOT$" "$T/out" || fail "$(cat "$T/out")"
	grep -q "^Image-Version: 1.0$" "$T/out" || fail "$(cat "$T/out")"
	grep -q "^Image-SHA256: $(sha256sum "$T/img1" | cut -c1-64)$" "$T/out" || fail "$(cat "$T/out")"
	grep -q "^Image-Size: 3145728$" "$T/out" || fail "$(cat "$T/out")"
	grep -q "^Serial: $(state_field Serial)$" "$T/out" || fail "$(cat "$T/out")"
	grep -q "^Written: 20[0-9-]*T[0-9:]*Z$" "$T/out" || fail "$(cat "$T/out")"
	"$LIFEBOAT" --state "$STATE" --json os status >"$T/out" || fail "os status --json"
	python3 -c "
import json, sys
d = json.load(open('$T/out'))
assert d['status'] == 'complete' and d['version'] == '1.0' and d['size'] == 3145728, d
assert d['slot'] == '$SLOT', d
" || fail "$(cat "$T/out")"
	"$LIFEBOAT" --state "$STATE" --json os write --slot "$SLOT" --config "$T/lifeboat.conf" \
		--pubkey "$T/key.pub" >"$T/out" 2>"$T/err" || fail "$(cat "$T/err")"
	grep -q '^{"event":"download","image":"1.0","bytes":[0-9]*}$' "$T/out" || fail "$(cat "$T/out")"
	grep -q '^{"event":"os-written",.*"blocks":24,"written":0,"skipped":24}$' "$T/out" ||
		fail "$(cat "$T/out")"
}

# the rescue system's sequence: os write --reset-db, then sync into the new root
test_reset_db_then_sync_installs_every_package() {
	os_setup
	mkpkg app 1.0 -f usr/bin/app=1.0
	os_publish "Group: stable\nPackages: app\nImage: img1\nImage-Version: 1.0\n\nDevice: dev-1\nGroup: stable\n"
	cp "$T/key.pub" "$T/pub"
	"$LIFEBOAT" --root "$ROOT" --state "$STATE" sync --config "$T/lifeboat.conf" \
		--pubkey "$T/pub" 2>"$T/err" || fail "sync: $(cat "$T/err")"
	assert_list_state() { # the package list of $STATE
		assert_eq "$("$LIFEBOAT" --root "$1" --state "$STATE" list | tr '\n' ' ')" "$2" "packages"
	}
	assert_list_state "$ROOT" "app 1.0 "
	local serial
	serial=$("$LIFEBOAT" --root "$ROOT" --state "$STATE" status | sed -n 's/^serial: *//p')
	echo "L 0 x" >"$STATE/journal" # an interrupted transaction of the old root
	osw --reset-db 2>"$T/err" || fail "os write: $(cat "$T/err")"
	[ ! -e "$STATE/journal" ] || fail "the journal of the old root is still there"
	assert_list_state "$ROOT" ""
	assert_eq "$("$LIFEBOAT" --root "$ROOT" --state "$STATE" status | sed -n 's/^serial: *//p')" \
		"$serial" "the serial applied (kept against replays)"
	mkdir -p "$T/new"
	"$LIFEBOAT" --root "$T/new" --state "$STATE" sync --config "$T/lifeboat.conf" \
		--pubkey "$T/pub" 2>"$T/err" || fail "sync into the new root: $(cat "$T/err")"
	assert_list_state "$T/new" "app 1.0 "
	[ "$(cat "$T/new/usr/bin/app")" = 1.0 ] || fail "app not installed in the new root"
}

# the rescue system runs an older lifeboat than the main OS had: a database it cannot
# read (damaged, or of a newer format) is replaced by --reset-db, and refused without
test_reset_db_replaces_an_unreadable_database() {
	os_setup
	mkdir -p "$STATE"
	printf 'Lifeboat-Db: 99\nSerial: 5\n' >"$STATE/db"
	expect_fail 8 "newer than this lifeboat understands" osw
	osw --reset-db 2>"$T/err" || fail "os write: $(cat "$T/err")"
	grep -q "warning: package database db: format 99 is newer .*; --reset-db replaces it" \
		"$T/err" || fail "$(cat "$T/err")"
	grep -q "^Serial: $(state_field Serial)$" "$STATE/db" || fail "$(cat "$STATE/db")"
	echo garbage >"$STATE/db"
	osw --reset-db 2>"$T/err" || fail "os write: $(cat "$T/err")"
	grep -q "^Lifeboat-Db: 1$" "$STATE/db" || fail "$(cat "$STATE/db")"
	expect_fail 2 "--newer-than 'x1' is not a serial" osw --newer-than x1
}

# the image streams through the misbehaving server: a cut connection resumes with
# Range, a server without Range is read again from the start
os_bad_server() {
	python3 tests/fetch/server.py "$TREE" "$T/port" "$T/badlog" &
	BAD_PID=$!
	local i
	for i in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
	BAD_URL=http://127.0.0.1:$(cat "$T/port")
}

test_interrupted_download_resumes() {
	os_setup
	os_bad_server
	printf 'Master: %s/cut=50000\nDevice-Id: dev-1\n' "$BAD_URL" >"$T/lifeboat.conf"
	osw 2>"$T/err" || { kill $BAD_PID; fail "os write: $(cat "$T/err")"; }
	assert_slot_holds "$T/img1"
	grep '\.img\.zst' "$T/badlog" | grep -q 'bytes=50000-' || { kill $BAD_PID; fail "no resumed request: $(cat "$T/badlog")"; }
	truncate -s 0 "$SLOT"
	truncate -s 8M "$SLOT"
	printf 'Master: %s/norange,cut=70000\nDevice-Id: dev-1\n' "$BAD_URL" >"$T/lifeboat.conf"
	osw 2>"$T/err" || { kill $BAD_PID; fail "os write without Range: $(cat "$T/err")"; }
	kill $BAD_PID
	assert_slot_holds "$T/img1"
}

# the main OS's sync meets a new image: it asks the rescue system to write it (a
# single slot cannot be rewritten by the system running from it) and leaves the
# packages alone; the same image again, or no record of the slot, changes nothing
test_sync_with_new_image_requests_a_rebuild() {
	os_setup
	mkpkg app 1.0 -f usr/bin/app=1.0
	mkpkg app 2.0 -f usr/bin/app=2.0
	cp "$T/key.pub" "$T/pub"
	syncd() {
		"$LIFEBOAT" --root "$ROOT" --state "$STATE" sync --config "$T/lifeboat.conf" \
			--pubkey "$T/pub" 2>"$T/err" || fail "sync: $(cat "$T/err")"
	}
	rescue() { "$LIFEBOAT" --root "$ROOT" --state "$STATE" boot status --json | sed -n 's/.*"rescue":\([^,]*\).*/\1/p'; }
	os_publish "Group: stable\nPackages: app (= 1.0)\nImage: img1\nImage-Version: 1.0\n\nDevice: dev-1\nGroup: stable\n"
	syncd # no record of the slot: the factory's image is left as it is
	assert_eq "$(rescue)" null "rescue request without a record of the slot"
	osw 2>"$T/err" || fail "os write: $(cat "$T/err")"
	syncd # the slot holds the image the state names
	assert_eq "$(rescue)" null "rescue request with the same image"
	assert_eq "$(cat "$ROOT/usr/bin/app")" 1.0 "app"
	mkimage "$T/img2" "version 2"
	os_publish "Group: stable\nPackages: app (= 2.0)\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n"
	syncd
	grep -q "OS 2.0 replaces 1.0: the rescue system writes it at the next boot" "$T/err" ||
		fail "$(cat "$T/err")"
	assert_eq "$(rescue)" '"rebuild"' "rescue request"
	assert_eq "$(cat "$ROOT/usr/bin/app")" 1.0 "app (the packages wait for the new OS)"
}
