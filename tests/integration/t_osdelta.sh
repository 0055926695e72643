# OS image deltas (lib/chunk.h, "Deltas"; docs/os-update.md): lifeboat-master
# publishes with a new image, for the older images of the tree, the chunks they lack
# compressed against their bytes (images/<V2>.from-<V1>.delta and .dindex, listed in
# the state's Image-Deltas); `os write` onto a slot that holds V1 (in place) or with
# a --source that does fetches those frames instead of the plain ones.

# the helpers of t_os.sh (os_setup, osw, mkimage, sum_frames, json_field, flip...),
# not its tests
source tests/integration/t_os.sh
for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	unset -f "$f"
done

# the state's Image-Deltas lines
delta_lines() {
	sed -n '/^Image-Deltas:$/,/^[^ ]/p' "$TREE/groups/stable/state" | grep '^ '
}

# v1 written onto the slot, v2 published: the big file patched in a few places, each
# a few bytes, so that its chunks change but stay alike
osdelta_v2() {
	os_setup
	osw 2>"$T/err" || fail "os write of 1.0: $(cat "$T/err")"
	SHA1=$(sha256sum "$T/img1" | cut -c1-64)
	mkimage "$T/img2" "version 2" "a few bytes changed in the middle of the big file"
	python3 - "$T/img2" <<'PY' || fail "patch"
import sys
with open(sys.argv[1], 'r+b') as f:
    d = bytearray(f.read())
    # more patches inside the big file's data (non-zero 1 KiB blocks)
    for at in range(900000, 2300000, 150000):
        b = next(b for b in range(at - at % 1024, len(d) - 1024, 1024) if any(d[b:b + 1024]))
        d[b + 200:b + 206] = b'PATCH!'
    f.seek(0)
    f.write(d)
PY
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n" \
		--image-deltas 1
	SHA2=$(sha256sum "$T/img2" | cut -c1-64)
	IDX1=$TREE/images/$SHA1.index
	IDX2=$TREE/$(state_field Image-Index)
	DELTA=$TREE/images/$SHA2.from-$SHA1.delta
	DINDEX=$TREE/images/$SHA2.from-$SHA1.dindex
	PLAIN=$(sum_frames "$IDX2" "$IDX1")
}

test_publish_writes_the_delta() {
	osdelta_v2
	[ -s "$DELTA" ] || fail "no $DELTA: $(ls "$TREE/images")"
	[ -s "$DINDEX" ] || fail "no $DINDEX"
	local line base index isize isha path size
	line=$(delta_lines)
	assert_eq "$(echo "$line" | wc -l)" 1 "Image-Deltas lines: $line"
	read -r base index isize isha path size <<<"$line"
	assert_eq "$base" "$SHA1"
	assert_eq "$index" "images/$SHA2.from-$SHA1.dindex"
	assert_eq "$path" "images/$SHA2.from-$SHA1.delta"
	assert_eq "$isize" "$(stat -c %s "$DINDEX")"
	assert_eq "$isha" "$(sha256sum "$DINDEX" | cut -c1-64)"
	assert_eq "$size" "$(stat -c %s "$DELTA")"
	[ $((size * 4)) -lt "$PLAIN" ] || fail "delta $size bytes, plain frames $PLAIN"
	# a republish keeps it
	local before
	before=$(stat -c %Y.%i "$DELTA")
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n" \
		--image-deltas 3
	assert_eq "$(stat -c %Y.%i "$DELTA")" "$before" "the delta rewritten"
	assert_eq "$(delta_lines)" "$line"
	# with --image-deltas 0 (the default is 2): none listed
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n" \
		--image-deltas 0
	assert_eq "$(delta_lines || true)" ""
}

test_in_place_write_fetches_the_delta() {
	osdelta_v2
	: >"$HTTP_LOG"
	oswj >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	local n bytes
	n=$(json_field "$T/out" plan deltas)
	bytes=$(json_field "$T/out" os-written fetch_bytes)
	[ "$n" -ge 1 ] || fail "no chunk as a delta: $(cat "$T/out")"
	[ $((bytes * 4)) -lt "$PLAIN" ] || fail "$bytes bytes fetched, plain frames $PLAIN"
	assert_eq "$(json_field "$T/out" os-written refetched)" 0 "chunks fetched again"
	grep -q '\.delta ' "$HTTP_LOG" || fail "the delta was not fetched: $(cat "$HTTP_LOG")"
	grep -q "^Image-Version: 2.0$" "$STATE/os" || fail "$(cat "$STATE/os")"
}

test_blank_slot_with_source_fetches_the_delta() {
	osdelta_v2
	# the slot that holds v1 becomes the source; the target is blank
	cp "$SLOT" "$T/slot-a"
	sed -i "s|^Slot-Device: .*|Slot-Device: $T/slot-a|" "$STATE/os"
	rm -f "$SLOT"
	truncate -s 8M "$SLOT"
	oswj --source "$T/slot-a" >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	local bytes
	bytes=$(json_field "$T/out" os-written fetch_bytes)
	[ "$(json_field "$T/out" plan deltas)" -ge 1 ] || fail "no delta: $(cat "$T/out")"
	[ $((bytes * 4)) -lt "$PLAIN" ] || fail "$bytes bytes fetched, plain frames $PLAIN"
}

test_prefetch_applies_deltas_into_the_cache() {
	osdelta_v2
	"$LIFEBOAT" --json --state "$STATE" os fetch --slot "$SLOT" --config "$T/lifeboat.conf" \
		--pubkey "$T/key.pub" >"$T/out" 2>"$T/err" || fail "os fetch: $(cat "$T/err")"
	assert_eq "$(json_field "$T/out" os-fetched complete)" True "os fetch complete"
	local bytes
	bytes=$(json_field "$T/out" os-fetched bytes)
	[ $((bytes * 4)) -lt "$PLAIN" ] || fail "$bytes bytes fetched, plain frames $PLAIN"
	assert_slot_holds "$T/img1"
	# the write then needs nothing from the master
	: >"$HTTP_LOG"
	oswj >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	assert_eq "$(json_field "$T/out" plan fetch)" 0 "chunks to fetch after os fetch"
	! grep -q '\.\(pack\|delta\) ' "$HTTP_LOG" || fail "fetched: $(cat "$HTTP_LOG")"
}

test_damaged_delta_frame_falls_back_to_the_plain_frame() {
	osdelta_v2
	# the delta file is not signed byte by byte: a frame that does not decode to its
	# chunk's sha256 is replaced by the plain frame
	flip "$DELTA" 20 4
	oswj >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	[ "$(json_field "$T/out" os-written refetched)" -ge 1 ] || fail "$(cat "$T/out")"
}

test_base_not_v1_uses_the_plain_frames() {
	osdelta_v2
	# the record says v1, the slot holds something else (changed since): every delta
	# chunk fails its sha256 and is fetched plain
	truncate -s 0 "$SLOT"
	truncate -s 8M "$SLOT"
	oswj >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	# a record naming another image: no delta used at all
	sed -i "s|^Image-SHA256: .*|Image-SHA256: $(printf '0%.0s' $(seq 64))|" "$STATE/os"
	truncate -s 0 "$SLOT"
	truncate -s 8M "$SLOT"
	: >"$HTTP_LOG"
	oswj >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	! grep -q '"deltas"' "$T/out" || fail "deltas without the base: $(cat "$T/out")"
	! grep -q '\.delta' "$HTTP_LOG" || fail "fetched a delta: $(cat "$HTTP_LOG")"
}

test_damaged_delta_index_is_refused() {
	osdelta_v2
	flip "$DINDEX" 100
	oswj >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	grep -q "no deltas" "$T/err" || fail "$(cat "$T/err")"
	! grep -q '"deltas"' "$T/out" || fail "deltas from a damaged index: $(cat "$T/out")"
}
