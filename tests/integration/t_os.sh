# OS images: lifeboat-master publishes one with a group's state as content-defined
# chunks (TREE/chunks/XX/<sha256>.zst, TREE/images/<sha256>.pack and .index),
# `lifeboat os write` writes it from nginx onto a slot (a regular file standing in
# for the block device; block devices and UBI volumes are tested in QEMU), fetching
# only the chunks that the slot, --source and the cache lack; `os fetch` fetches
# them ahead; `os status` shows the record.

# the master built beside $LIFEBOAT unless given
LIFEBOAT_MASTER=${LIFEBOAT_MASTER:-$(dirname "$LIFEBOAT")/lifeboat-master}

# an ext4 image of 3 MiB from a small directory; PATCH is written in place into the
# middle of its one big file (a second version with the same layout: into a 1 KiB block
# that is not all zeros, since mkfs.ext4 -d leaves those out, and filling one would
# move the blocks after it)
mkimage() { # mkimage FILE [TEXT [PATCH]]
	mkdir -p "$T/imgroot/etc"
	echo "${2:-version 1}" >"$T/imgroot/etc/os-release"
	head -c 1500000 "$LIFEBOAT" >"$T/imgroot/lifeboat"
	[ -z "${3:-}" ] || python3 - "$T/imgroot/lifeboat" "$3" <<'PY' || fail "patch"
import sys
with open(sys.argv[1], 'r+b') as f:
    d = f.read()
    at = next(b for b in range(700416, len(d) - 1024, 1024) if any(d[b:b + 1024]))
    f.seek(at + 100)
    f.write(sys.argv[2].encode())
PY
	rm -f "$1"
	mkfs.ext4 -q -F -d "$T/imgroot" -U 11111111-2222-3333-4444-555555555555 -E hash_seed=11111111-2222-3333-4444-555555555555 "$1" 3M ||
		fail "mkfs.ext4"
}

os_publish() { # os_publish CONF-TEXT [OPTIONS...]
	[ ! -d "$TREE/groups" ] || sleep 1.05 # one-second ETag steps
	printf "$1" >"$T/conf"
	shift
	"$LIFEBOAT_MASTER" publish --image-deltas 0 --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" \
		"$@" 2>"$T/publish.err" || { cat "$T/publish.err"; fail "publish failed"; }
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

oswj() { # oswj ARGS...: the same with --json
	"$LIFEBOAT" --json --state "$STATE" os write --slot "$SLOT" --config "$T/lifeboat.conf" \
		--pubkey "$T/key.pub" "$@"
}

state_field() { # state_field NAME: a field of the group's published state
	sed -n "s/^$1: //p" "$TREE/groups/stable/state"
}

assert_slot_holds() { # assert_slot_holds IMAGE
	cmp -n "$(stat -c %s "$1")" "$1" "$SLOT" || fail "the slot does not hold $1"
}

# v1 written onto the slot, then v2 published: the same files, two of them changed in
# place (os-release, a few bytes in the middle of the big one)
os_v2() {
	osw 2>"$T/err" || fail "os write of 1.0: $(cat "$T/err")"
	IDX1=$TREE/$(state_field Image-Index)
	mkimage "$T/img2" "version 2" "a few bytes changed in the middle of the big file"
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n"
	IDX2=$TREE/$(state_field Image-Index)
	PACK2=$TREE/$(state_field Image)
}

# new_frames INDEX [OLD-INDEX [SLOT [any]]]: "offset length" in the pack of the frame
# of each distinct chunk of INDEX that OLD-INDEX lacks; with SLOT (the slot before the
# write), what os write fetches: chunks neither at their offset in SLOT nor in the
# image of OLD-INDEX at or after it (the slot's old content), or at any offset with
# "any" (a --source) (the index format: lib/chunk.h)
new_frames() {
	python3 - "$@" <<'PY'
import hashlib, struct, sys
def chunks(path):
    b = open(path, 'rb').read()
    assert b[:8] == b'LBCHUNK1', path
    n, = struct.unpack_from('<I', b, 24)
    assert len(b) == 72 + 40 * n, path
    out, off, coff = [], 0, 0
    for i in range(n):
        e = 72 + 40 * i
        ln, clen = struct.unpack_from('<II', b, e + 32)
        out.append((b[e:e + 32], off, ln, coff, clen))
        off += ln
        coff += clen
    return out
old = {}
for c in chunks(sys.argv[2]) if len(sys.argv) > 2 else []:
    old.setdefault(c[0], []).append(c[1])
slot = open(sys.argv[3], 'rb').read() if len(sys.argv) > 3 else None
seen = set()
for sha, off, ln, coff, clen in chunks(sys.argv[1]):
    if slot is None and sha in old:
        continue
    if slot is not None and (hashlib.sha256(slot[off:off + ln]).digest() == sha or
                             any(o >= off or len(sys.argv) > 4 for o in old.get(sha, []))):
        continue
    if sha not in seen:
        seen.add(sha)
        print(coff, clen)
PY
}

sum_frames() { # sum_frames INDEX [OLD-INDEX [SLOT [any]]]: the bytes of new_frames
	new_frames "$@" | awk '{s += $2} END {print s + 0}'
}

# json_field FILE EVENT FIELD: FIELD of the JSON line of EVENT in FILE
json_field() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("event") == sys.argv[2]:
        print(d[sys.argv[3]])
        break
else:
    sys.exit("no %s event in %s" % (sys.argv[2], sys.argv[1]))
' "$@" || fail "$(cat "$1")"
}

flip() { # flip FILE OFFSET [COUNT]: invert COUNT (1) bytes of FILE from OFFSET
	python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(int(sys.argv[3]))
    f.seek(int(sys.argv[2]))
    f.write(bytes(x ^ 0xff for x in b))
' "$1" "$2" "${3:-1}"
}

# nginx's access log gets the Range header of each request as a fifth field
nginx_log_ranges() {
	sed -i "s/log_format lbfmt '\(.*\)';/log_format lbfmt '\1 \$http_range';/" "$T/nginx/nginx.conf"
	/usr/sbin/nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -s reload 2>/dev/null ||
		fail "nginx -s reload"
	local i
	for i in $(seq 50); do
		python3 -c "import urllib.request as u; u.urlopen(u.Request('$HTTP_URL/devices/dev-1', headers={'Range': 'bytes=0-0'})).read()"
		grep -q ' bytes=0-0$' "$HTTP_LOG" && return 0
		sleep 0.1
	done
	fail "nginx did not take the new log format"
}

# start_plain_http DIR: Python's http.server (which ignores Range) serving DIR; sets
# PLAIN_URL and PLAIN_LOG; stopped by teardown
start_plain_http() {
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	PLAIN_LOG=$T/plain.log
	(cd "$1" && exec python3 -m http.server --bind 127.0.0.1 "$port") >"$PLAIN_LOG" 2>&1 &
	PLAIN_PID=$!
	local i
	for i in $(seq 50); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" \
			2>/dev/null && break
		sleep 0.1
	done
	PLAIN_URL=http://127.0.0.1:$port
}

eval "testlib_$(declare -f teardown)"
teardown() {
	[ -z "${PLAIN_PID:-}" ] || kill "$PLAIN_PID" 2>/dev/null || true
	testlib_teardown
}

test_published_image_fields() {
	os_setup
	local sha size pack index
	sha=$(sha256sum "$T/img1" | cut -c1-64)
	size=$(stat -c %s "$T/img1")
	assert_eq "$(state_field Image-Version)" "1.0"
	assert_eq "$(state_field Image-SHA256)" "$sha"
	assert_eq "$(state_field Image-Size)" "$size"
	assert_eq "$(state_field Image)" "images/$sha.pack"
	assert_eq "$(state_field Image-Index)" "images/$sha.index"
	pack=$TREE/images/$sha.pack
	index=$TREE/images/$sha.index
	assert_eq "$(state_field Image-Compressed-Size)" "$(stat -c %s "$pack")"
	assert_eq "$(state_field Image-Index-Size)" "$(stat -c %s "$index")"
	assert_eq "$(state_field Image-Index-SHA256)" "$(sha256sum "$index" | cut -c1-64)"
	[ ! -e "$TREE/images/$sha.img.zst" ] || fail "the old layout's .img.zst is there"
	# the pack is a .zst of the image
	zstd -qdc "$pack" | cmp - "$T/img1" || fail "the pack is not a .zst of the image"
	minisign -Vqm "$TREE/groups/stable/state" -p "$T/key.pub" || fail "state not signed"
	# the index: the default chunker (64 KiB), the image's size and sha256; each chunk's
	# frame is in the store and at its place in the pack, and decodes to the chunk
	python3 - "$index" "$pack" "$T/img1" "$TREE/chunks" <<'PY' || fail "index, pack and store disagree"
import hashlib, os, struct, subprocess, sys
index, pack, img, store = sys.argv[1:]
b, p, im = (open(f, 'rb').read() for f in (index, pack, img))
assert b[:8] == b'LBCHUNK1'
isize, psize, n, mn, avg, mx = struct.unpack_from('<QQIIII', b, 8)
assert (isize, psize) == (len(im), len(p)), (isize, psize)
assert (mn, avg, mx) == (16384, 65536, 262144), (mn, avg, mx)
assert b[40:72] == hashlib.sha256(im).digest()
assert len(b) == 72 + 40 * n and n > 1
off = coff = 0
for i in range(n):
    e = 72 + 40 * i
    sha = b[e:e + 32]
    ln, cl = struct.unpack_from('<II', b, e + 32)
    assert hashlib.sha256(im[off:off + ln]).digest() == sha, i
    frame = open(os.path.join(store, sha.hex()[:2], sha.hex() + '.zst'), 'rb').read()
    assert frame == p[coff:coff + cl], i
    out = subprocess.run(['zstd', '-qdc'], input=frame, capture_output=True, check=True)
    assert out.stdout == im[off:off + ln], i
    off += ln
    coff += cl
assert (off, coff) == (len(im), len(p))
PY
	# unchanged: the pack, the index and the state stay as they are
	local before
	before=$(stat -c '%i %Y' "$pack" "$index" "$TREE/groups/stable/state")
	os_publish "Group: stable\nPackages:\nImage: img1\nImage-Version: 1.0\n\nDevice: dev-1\nGroup: stable\n"
	assert_eq "$(stat -c '%i %Y' "$pack" "$index" "$TREE/groups/stable/state")" "$before" "kept files"
	grep -q " 0 files written" "$T/publish.err" || fail "$(cat "$T/publish.err")"
	# a new version of the same image is a new state, the pack and index are kept
	os_publish "Group: stable\nPackages:\nImage: img1\nImage-Version: 1.1\n\nDevice: dev-1\nGroup: stable\n"
	assert_eq "$(state_field Image-Version)" "1.1"
	assert_eq "$(stat -c '%i %Y' "$pack" "$index")" "$(echo "$before" | head -n 2)" "kept image"
	# --image for groups without their own
	os_publish "Group: stable\nPackages:\n\nGroup: other\nPackages:\nImage: img1\nImage-Version: 9\n"
	[ -z "$(state_field Image)" ] || fail "stable has an image"
	[ -z "$(state_field Image-Index)" ] || fail "stable has an image index"
	"$LIFEBOAT_MASTER" publish --image-deltas 0 --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" \
		--image "$T/img1" --image-version 2.0 2>"$T/publish.err" || fail "$(cat "$T/publish.err")"
	assert_eq "$(state_field Image-Version)" "2.0"
	assert_eq "$(state_field Image-Index)" "images/$sha.index"
	grep -q "^Image-Version: 9$" "$TREE/groups/other/state" || fail "other: $(cat "$TREE/groups/other/state")"
	# another chunk size: another index (and pack), and a device writes it
	sleep 1.05
	"$LIFEBOAT_MASTER" publish --image-deltas 0 --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" \
		--image "$T/img1" --image-version 2.1 --chunk-size 16384 --image-level 3 \
		2>"$T/publish.err" || fail "$(cat "$T/publish.err")"
	python3 -c "
import struct, sys
b = open('$index', 'rb').read()
assert struct.unpack_from('<III', b, 28) == (4096, 16384, 65536), b[28:40]
" || fail "--chunk-size 16384: $(od -A d -t u4 -j 28 -N 12 "$index")"
	zstd -qdc "$pack" | cmp - "$T/img1" || fail "the pack is not a .zst of the image"
	assert_eq "$(state_field Image-Index-SHA256)" "$(sha256sum "$index" | cut -c1-64)"
	osw --group stable 2>"$T/err" || fail "os write of 16 KiB chunks: $(cat "$T/err")"
	assert_slot_holds "$T/img1"
	# bad input: nothing published
	printf 'Group: stable\nPackages:\nImage: img1\n' >"$T/conf"
	expect_fail 4 "Image and Image-Version go together" \
		"$LIFEBOAT_MASTER" publish --image-deltas 0 --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE"
	printf 'Group: stable\nPackages:\nImage: missing\nImage-Version: 1\n' >"$T/conf"
	expect_fail 6 "missing: No such file" \
		"$LIFEBOAT_MASTER" publish --image-deltas 0 --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE"
	printf 'Group: stable\nPackages:\nImage: img1\nImage-Version: 1/2\n' >"$T/conf"
	expect_fail 4 "Image-Version: '1/2'" \
		"$LIFEBOAT_MASTER" publish --image-deltas 0 --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE"
	printf 'Group: stable\nPackages:\n' >"$T/conf"
	expect_fail 2 "go together" "$LIFEBOAT_MASTER" publish --image-deltas 0 --pool "$POOL" --desired "$T/conf" \
		--key "$T/key" --out "$TREE" --image "$T/img1"
	expect_fail 2 "--chunk-size 60000: not a power of two" "$LIFEBOAT_MASTER" publish --image-deltas 0 \
		--pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" --chunk-size 60000
	# an average of 2048 would make min 512, an index every device refuses
	expect_fail 2 "--chunk-size 2048: not a power of two from 4096" "$LIFEBOAT_MASTER" publish --image-deltas 0 \
		--pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" --chunk-size 2048
	expect_fail 2 "--image-level 23: not 1 to 22" "$LIFEBOAT_MASTER" publish --image-deltas 0 \
		--pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$TREE" --image-level 23
}

# chunk store reuse: a chunk is compressed once, whatever image or version has it
test_republish_reuses_the_chunk_store() {
	os_setup
	# equal chunks of one image (runs of zeros) are compressed once too
	local n1 distinct1
	n1=$(($(state_field Image-Index-Size) / 40 - 1))
	distinct1=$(new_frames "$TREE/$(state_field Image-Index)" | wc -l)
	[ "$distinct1" -lt "$n1" ] || fail "no equal chunks in the image"
	grep -q "image 1.0: $n1 chunks, $distinct1 compressed, $((n1 - distinct1)) from the store" \
		"$T/publish.err" || fail "$(cat "$T/publish.err")"
	mkimage "$T/img2" "version 2" "a few bytes changed in the middle of the big file"
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n"
	local n new
	n=$(sed -n 's/.*image 2.0: \([0-9]*\) chunks, .*/\1/p' "$T/publish.err")
	new=$(new_frames "$TREE/$(state_field Image-Index)" "$TREE/images/$(sha256sum "$T/img1" | cut -c1-64).index" | wc -l)
	[ "$new" -ge 1 ] && [ "$new" -le 5 ] || fail "$new new chunks"
	grep -q "image 2.0: $n chunks, $new compressed, $((n - new)) from the store" "$T/publish.err" ||
		fail "$(cat "$T/publish.err")"
	# the pack and index gone (a tree cleaned up, or a master cut off before the
	# index): republishing v2 compresses nothing and gives the same bytes
	local pack index
	pack=$TREE/$(state_field Image)
	index=$TREE/$(state_field Image-Index)
	cp "$pack" "$T/pack.before"
	cp "$index" "$T/index.before"
	rm "$pack" "$index"
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n"
	grep -q "image 2.0: $n chunks, 0 compressed, $n from the store" "$T/publish.err" ||
		fail "$(cat "$T/publish.err")"
	cmp "$pack" "$T/pack.before" || fail "another pack"
	cmp "$index" "$T/index.before" || fail "another index"
	# a damaged frame in the store is not used: compressed again
	local sha
	sha=$(python3 -c "print(open('$index', 'rb').read()[72:104].hex())")
	printf 'garbage' >"$TREE/chunks/${sha:0:2}/$sha.zst"
	rm "$pack" "$index"
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n"
	grep -q "image 2.0: $n chunks, 1 compressed, $((n - 1)) from the store" "$T/publish.err" ||
		fail "$(cat "$T/publish.err")"
	cmp "$pack" "$T/pack.before" || fail "another pack"
	zstd -qdc "$TREE/chunks/${sha:0:2}/$sha.zst" | head -c 65536 >/dev/null ||
		fail "the damaged frame is still there"
	osw 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
}

test_write_then_rewrite_skips_every_block() {
	os_setup
	osw 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img1"
	local blocks=24 n # 3 MiB in blocks of 128 KiB
	n=$(($(state_field Image-Index-Size) / 40 - 1)) # chunks (72 + 40 per chunk)
	grep -q "^lifeboat: os: image 1.0: $n chunks: [0-9]* already in the slot, 0 copied from this device, 0 cached, [0-9]* to fetch ([0-9.]* MiB)$" "$T/err" ||
		fail "$(cat "$T/err")"
	grep -q "^lifeboat: os: wrote 1.0 to $SLOT (3.0 MiB, [0-9]* blocks already right; [0-9]* of $n chunks fetched, [0-9.]* MiB in 1 requests)$" "$T/err" ||
		fail "$(cat "$T/err")"
	grep -q "(3.0 MiB, $blocks blocks already right" "$T/err" && fail "nothing was written"
	[ "$(stat -c %s "$SLOT")" = 8388608 ] || fail "the slot changed size"
	grep -q "^Status: complete$" "$STATE/os" || fail "$(cat "$STATE/os")"
	local before
	before=$(stat -c %y "$SLOT")
	: >"$HTTP_LOG"
	osw 2>"$T/err" || fail "second os write: $(cat "$T/err")"
	grep -q "image 1.0: $n chunks: $n already in the slot, 0 copied from this device, 0 cached, 0 to fetch (0.0 MiB)$" "$T/err" ||
		fail "$(cat "$T/err")"
	grep -q "(3.0 MiB, $blocks blocks already right; 0 of $n chunks fetched, 0.0 MiB in 0 requests)$" "$T/err" ||
		fail "$(cat "$T/err")"
	assert_eq "$(stat -c %y "$SLOT")" "$before" "the slot's mtime"
	grep -q '\.pack' "$HTTP_LOG" && fail "the pack was fetched: $(cat "$HTTP_LOG")"
	return 0
}

test_changed_image_writes_only_changed_blocks() {
	os_setup
	osw 2>/dev/null || fail "os write"
	cp "$T/img1" "$T/img2"
	printf 'changed' | dd of="$T/img2" bs=1 seek=$((1024 * 1024 + 5)) conv=notrunc 2>/dev/null
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n"
	osw 2>"$T/err" || fail "os write: $(cat "$T/err")"
	grep -q "wrote 2.0 to $SLOT (3.0 MiB, 23 blocks already right; [12] of [0-9]* chunks fetched" "$T/err" ||
		fail "$(cat "$T/err")"
	assert_slot_holds "$T/img2"
	grep -q "^Image-Version: 2.0$" "$STATE/os" || fail "$(cat "$STATE/os")"
}

# a new version on a slot holding the old one: only its new chunks are fetched, in
# one request for many ranges of the pack
test_new_version_fetches_only_changed_chunks() {
	os_setup
	os_v2
	local n want pack_size
	n=$(new_frames "$IDX2" "$IDX1" "$T/img1" | wc -l)
	want=$(sum_frames "$IDX2" "$IDX1" "$T/img1")
	pack_size=$(state_field Image-Compressed-Size)
	[ "$n" -ge 2 ] && [ "$n" -le 5 ] || fail "$n new chunks: $(new_frames "$IDX2" "$IDX1" "$T/img1")"
	[ $((want * 5)) -lt "$pack_size" ] || fail "$want bytes of $pack_size are new"
	nginx_log_ranges
	: >"$HTTP_LOG"
	oswj >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	assert_eq "$(json_field "$T/out" plan fetch)" "$n" "chunks to fetch"
	assert_eq "$(json_field "$T/out" plan fetch_bytes)" "$want" "bytes to fetch"
	assert_eq "$(json_field "$T/out" plan local)" 0 "chunks copied"
	assert_eq "$(json_field "$T/out" os-written fetched)" "$n" "chunks fetched"
	assert_eq "$(json_field "$T/out" os-written refetched)" 0 "chunks fetched again"
	assert_eq "$(json_field "$T/out" os-written fetch_bytes)" "$want" "bytes fetched"
	assert_eq "$(json_field "$T/out" os-written requests)" 1 "requests for the pack"
	# one request for the pack, for several ranges (multipart/byteranges), each new
	# frame inside one of them, and far fewer bytes than the pack
	assert_eq "$(grep -c '\.pack ' "$HTTP_LOG")" 1 "pack requests: $(cat "$HTTP_LOG")"
	local line method uri status sent range
	line=$(grep '\.pack ' "$HTTP_LOG")
	read -r method uri status sent range <<<"$line"
	assert_eq "$method $status" "GET 206" "the pack request ($uri)"
	new_frames "$IDX2" "$IDX1" "$T/img1" | python3 -c '
import sys
rng = [tuple(map(int, r.split("-"))) for r in sys.argv[1][len("bytes="):].split(",")]
assert len(rng) >= 2, rng
assert sum(b - a + 1 for a, b in rng) * 5 < int(sys.argv[2]), rng
for line in sys.stdin:
    off, n = map(int, line.split())
    assert any(a <= off and off + n - 1 <= b for a, b in rng), (off, n, rng)
' "$range" "$pack_size" || fail "the Range of the pack request: $line"
	[ "$sent" -lt $((pack_size / 4)) ] || fail "$sent bytes sent for the pack"
	"$LIFEBOAT" --state "$STATE" os status >"$T/out" || fail "os status: $(cat "$T/out")"
	grep -q "^Status: complete$" "$T/out" || fail "$(cat "$T/out")"
	grep -q "^Image-Version: 2.0$" "$T/out" || fail "$(cat "$T/out")"
}

# the smallest --chunk-size (4096: its min, 1024, is the smallest a device accepts),
# and a new version with more than 128 ranges to fetch: several requests for the pack
# (an image of random bytes: no frame between two changed chunks is small enough for
# their ranges to be merged)
test_more_than_128_ranges_take_several_requests() {
	"$LIFEBOAT_MASTER" keygen "$T/key" >/dev/null
	TREE=$T/tree
	python3 -c "import random, sys; random.seed(1); sys.stdout.buffer.write(random.randbytes(3 << 20))" >"$T/img1"
	os_publish "Group: stable\nPackages:\nImage: img1\nImage-Version: 1.0\n\nDevice: dev-1\nGroup: stable\n" \
		--chunk-size 4096 --image-level 1
	start_nginx "$TREE"
	STATE=$T/state
	SLOT=$T/slot
	truncate -s 8M "$SLOT"
	printf 'Master: %s\nDevice-Id: dev-1\n' "$HTTP_URL" >"$T/lifeboat.conf"
	osw 2>"$T/err" || fail "os write of 1.0: $(cat "$T/err")"
	assert_slot_holds "$T/img1"
	IDX1=$TREE/$(state_field Image-Index)
	# a byte changed every 8000
	python3 - "$T/img1" "$T/img2" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
for off in range(4000, len(d), 8000):
    d[off] ^= 0x5a
open(sys.argv[2], 'wb').write(d)
PY
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n" \
		--chunk-size 4096 --image-level 1
	IDX2=$TREE/$(state_field Image-Index)
	cp "$SLOT" "$T/slot1"
	nginx_log_ranges
	: >"$HTTP_LOG"
	oswj >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	assert_eq "$(json_field "$T/out" os-written fetched)" \
		"$(new_frames "$IDX2" "$IDX1" "$T/slot1" | wc -l)" "chunks fetched"
	assert_eq "$(json_field "$T/out" os-written fetch_bytes)" \
		"$(sum_frames "$IDX2" "$IDX1" "$T/slot1")" "bytes fetched"
	local requests
	requests=$(json_field "$T/out" os-written requests)
	[ "$requests" -ge 2 ] || fail "$requests request(s) for the pack"
	grep '\.pack ' "$HTTP_LOG" >"$T/packlog"
	assert_eq "$(wc -l <"$T/packlog")" "$requests" "pack requests in the log"
	assert_eq "$(awk '$1 != "GET" || $3 != 206' "$T/packlog")" "" "pack requests not GET 206"
	assert_eq "$(head -n 1 "$T/packlog" | awk '{print $5}' | tr ',' '\n' | wc -l)" 128 \
		"ranges in the first request"
}

# an empty slot and another device (or file) holding v1: the same chunks fetched
test_source_file_supplies_the_old_chunks() {
	os_setup
	os_v2
	local n want
	rm "$SLOT"
	truncate -s 8M "$SLOT"
	n=$(new_frames "$IDX2" "$IDX1" "$SLOT" any | wc -l)
	want=$(sum_frames "$IDX2" "$IDX1" "$SLOT" any)
	oswj --source "$T/img1" >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	assert_eq "$(json_field "$T/out" os-written fetched)" "$n" "chunks fetched"
	assert_eq "$(json_field "$T/out" os-written fetch_bytes)" "$want" "bytes fetched"
	[ "$(json_field "$T/out" plan local)" -gt 10 ] || fail "copied: $(cat "$T/out")"
	grep -q "^Status: complete$" "$STATE/os" || fail "$(cat "$STATE/os")"
	# a source that cannot be read is a warning: everything else is fetched
	rm "$SLOT"
	truncate -s 8M "$SLOT"
	osw --source "$T/missing" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	grep -q "warning: $T/missing: No such file or directory (not used)" "$T/err" ||
		fail "$(cat "$T/err")"
	assert_slot_holds "$T/img2"
}

# `os write` killed in the middle: the record says incomplete, and the next write
# fetches only what the slot still lacks
test_killed_write_resumes() {
	os_setup
	local rc=0 pid i
	"$LIFEBOAT" --json --state "$STATE" os write --slot "$SLOT" --config "$T/lifeboat.conf" \
		--pubkey "$T/key.pub" --bwlimit 100000 >"$T/out1" 2>"$T/err" &
	pid=$!
	for i in $(seq 200); do # the slot is being written, a second of the download more
		grep -qs "^Status: incomplete$" "$STATE/os" && break
		sleep 0.1
	done
	sleep 1
	kill -KILL "$pid"
	wait "$pid" || rc=$?
	assert_eq "$rc" 137 "the killed os write's status ($(cat "$T/err"))"
	rc=0
	"$LIFEBOAT" --state "$STATE" os status >"$T/out" 2>&1 || rc=$?
	assert_eq "$rc" 1 "os status after the kill"
	grep -q "^Status: incomplete$" "$T/out" || fail "$(cat "$T/out")"
	cmp -s -n "$(stat -c %s "$T/img1")" "$T/img1" "$SLOT" && fail "the slot was complete"
	oswj >"$T/out" 2>"$T/err" || fail "os write after the kill: $(cat "$T/err")"
	assert_slot_holds "$T/img1"
	local first got
	first=$(json_field "$T/out1" plan fetch_bytes)
	got=$(json_field "$T/out" os-written fetch_bytes)
	[ "$got" -gt 0 ] && [ "$got" -lt "$first" ] || fail "fetched $got bytes, $first at first"
	"$LIFEBOAT" --state "$STATE" os status >"$T/out" || fail "os status: $(cat "$T/out")"
	grep -q "^Status: complete$" "$T/out" || fail "$(cat "$T/out")"
}

# a server that ignores Range (Python's http.server answers 200 with the whole file):
# the pack is read once from the start, the frames between the wanted ones passed over
test_server_without_range_support() {
	os_setup
	os_v2
	start_plain_http "$TREE"
	oswj --master "$PLAIN_URL" >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	assert_eq "$(json_field "$T/out" os-written fetched)" "$(new_frames "$IDX2" "$IDX1" "$T/img1" | wc -l)" \
		"chunks fetched"
	grep -c '"GET /images/.*\.pack HTTP/1\.[01]" 200' "$PLAIN_LOG" | grep -qx 1 ||
		fail "not one request for the whole pack: $(cat "$PLAIN_LOG")"
	grep -q "^Status: complete$" "$STATE/os" || fail "$(cat "$STATE/os")"
	# and on an empty slot
	rm "$SLOT"
	truncate -s 8M "$SLOT"
	osw --master "$PLAIN_URL" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
}

# a pack answered longer than the signed Image-Compressed-Size is cut off
test_oversized_download_cut_off() {
	os_setup
	local pack
	pack=$TREE/$(state_field Image)
	cat "$pack" "$pack" >"$T/double"
	cp "$T/double" "$pack"
	start_plain_http "$TREE"
	expect_fail 5 "$PLAIN_URL/images/.*\.pack: larger than the .* bytes the signed metadata says" \
		osw --master "$PLAIN_URL"
	[ ! -e "$STATE/os" ] || [ "$(grep -c complete "$STATE/os")" = 0 ] || fail "recorded"
}

# a damaged frame in the pack: refused naming the pack (exit 5); nothing written when
# it is the first one fetched, else the record says that the slot is incomplete
test_tampered_pack_refused() {
	os_setup
	os_v2
	cp "$PACK2" "$T/pack.orig"
	cp "$STATE/os" "$T/os.before"
	local first last
	new_frames "$IDX2" "$IDX1" "$T/img1" >"$T/frames"
	first=$(head -n 1 "$T/frames")
	last=$(tail -n 1 "$T/frames")
	[ "$first" != "$last" ] || fail "one new chunk only"
	flip "$PACK2" "${first% *}" # its zstd magic number
	expect_fail 5 "$HTTP_URL/$(state_field Image): " osw
	cmp "$STATE/os" "$T/os.before" || fail "the record changed: $(cat "$STATE/os")"
	assert_slot_holds "$T/img1"
	cp "$T/pack.orig" "$PACK2"
	flip "$PACK2" $((${last% *} + ${last#* } / 2)) 8 # the middle of the last new frame
	expect_fail 5 "$HTTP_URL/$(state_field Image): " osw
	grep -q "^Status: incomplete$" "$STATE/os" || fail "$(cat "$STATE/os")"
	grep -q "^Image-Version: 2.0$" "$STATE/os" || fail "$(cat "$STATE/os")"
	local rc=0
	"$LIFEBOAT" --state "$STATE" os status >"$T/out" 2>&1 || rc=$?
	assert_eq "$rc" 1 "os status of an incomplete write"
	# repaired on the master: the next write completes it
	cp "$T/pack.orig" "$PACK2"
	osw 2>"$T/err" || fail "os write after repair: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	grep -q "^Status: complete$" "$STATE/os" || fail "$(cat "$STATE/os")"
}

# an index that is not the signed one: refused before anything is written
test_tampered_index_refused() {
	os_setup
	os_v2
	cp "$SLOT" "$T/slot.before"
	cp "$STATE/os" "$T/os.before"
	cp "$IDX2" "$T/index.orig"
	flip "$IDX2" 100
	expect_fail 5 "$HTTP_URL/$(state_field Image-Index): .* bytes with sha256 .*, the signed state says" osw
	cmp "$SLOT" "$T/slot.before" || fail "the slot changed"
	cmp "$STATE/os" "$T/os.before" || fail "the record changed"
	# longer than Image-Index-Size
	cp "$T/index.orig" "$IDX2"
	printf 'x' >>"$IDX2"
	expect_fail 5 "$HTTP_URL/$(state_field Image-Index): larger than Image-Index-Size" osw
	# the index of another image
	cp "$IDX1" "$IDX2"
	expect_fail 5 "$HTTP_URL/$(state_field Image-Index): " osw
	cmp "$SLOT" "$T/slot.before" || fail "the slot changed"
	cmp "$STATE/os" "$T/os.before" || fail "the record changed"
	[ ! -e "$STATE/cache/chunks" ] || [ -z "$(ls "$STATE/cache/chunks")" ] || fail "cached"
	cp "$T/index.orig" "$IDX2"
	osw 2>"$T/err" || fail "os write after repair: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
}

# A single slot is rewritten in place by the rescue system: `os fetch` puts into
# STATE/cache/chunks what it will need (the new chunks, and the old ones that move to
# later offsets, which the in-place write would overwrite before it reads them); the
# write then needs no byte of the pack (here: a copy of the tree without the pack and
# the chunk store) and empties the cache.
test_prefetch_then_write_without_the_pack() {
	os_setup
	osw 2>"$T/err" || fail "os write of 1.0: $(cat "$T/err")"
	# 30000 new bytes at 1 MiB: what follows moves to later offsets
	{
		head -c 1048576 "$T/img1"
		head -c 30000 /dev/urandom
		tail -c +1048577 "$T/img1" | head -c $((3145728 - 1048576 - 30000))
	} >"$T/img2"
	os_publish "Group: stable\nPackages:\nImage: img2\nImage-Version: 2.0\n\nDevice: dev-1\nGroup: stable\n"
	# no room left for it (--reserve: what the cache must leave free): exit 1
	local rc=0
	"$LIFEBOAT" --state "$STATE" os fetch --slot "$SLOT" --config "$T/lifeboat.conf" \
		--pubkey "$T/key.pub" --reserve 1000000000000000000 2>"$T/err" || rc=$?
	assert_eq "$rc" 1 "os fetch with a full cache ($(cat "$T/err"))"
	grep -q "the cache is full" "$T/err" || fail "$(cat "$T/err")"
	"$LIFEBOAT" --json --state "$STATE" os fetch --slot "$SLOT" --config "$T/lifeboat.conf" \
		--pubkey "$T/key.pub" >"$T/out" 2>"$T/err" || fail "os fetch: $(cat "$T/err")"
	assert_eq "$(json_field "$T/out" os-fetched complete)" True "os fetch complete"
	assert_eq "$(json_field "$T/out" os-fetched requests)" 1 "os fetch requests"
	local cached
	cached=$(find "$STATE/cache/chunks" -regextype posix-extended -regex '.*/[0-9a-f]{64}\.zst' | wc -l)
	[ "$cached" -gt "$(new_frames "$TREE/$(state_field Image-Index)" "$TREE/images/$(sha256sum "$T/img1" | cut -c1-64).index" | wc -l)" ] ||
		fail "$cached chunks cached"
	assert_slot_holds "$T/img1"
	grep -q "^Image-Version: 1.0$" "$STATE/os" || fail "os fetch changed the record"
	# the master without the pack and the chunks
	mkdir -p "$T/nopack/images"
	cp -r "$TREE/devices" "$TREE/groups" "$T/nopack/"
	cp "$TREE/$(state_field Image-Index)" "$T/nopack/images/"
	stop_nginx
	oswj --master "file://$T/nopack" >"$T/out" 2>"$T/err" ||
		fail "os write from the slot and the cache: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	assert_eq "$(json_field "$T/out" plan fetch)" 0 "chunks to fetch"
	assert_eq "$(json_field "$T/out" plan cached)" "$cached" "chunks from the cache"
	assert_eq "$(json_field "$T/out" os-written requests)" 0 "requests for the pack"
	assert_eq "$(ls -A "$STATE/cache/chunks")" "" "the cache after the write"
	"$LIFEBOAT" --state "$STATE" os status >"$T/out" || fail "os status: $(cat "$T/out")"
	grep -q "^Image-Version: 2.0$" "$T/out" || fail "$(cat "$T/out")"
}

# a frame in the cache that does not decode to its chunk is fetched again on its own
test_damaged_cached_frame_fetched_again() {
	os_setup
	os_v2
	"$LIFEBOAT" --state "$STATE" os fetch --slot "$SLOT" --config "$T/lifeboat.conf" \
		--pubkey "$T/key.pub" 2>"$T/err" || fail "os fetch: $(cat "$T/err")"
	local n frame
	n=$(new_frames "$IDX2" "$IDX1" "$T/img1" | wc -l)
	assert_eq "$(find "$STATE/cache/chunks" -name '*.zst' | wc -l)" "$n" "chunks cached"
	frame=$(find "$STATE/cache/chunks" -name '*.zst' | head -n 1)
	flip "$frame" 0 4
	: >"$HTTP_LOG"
	oswj >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img2"
	assert_eq "$(json_field "$T/out" plan cached)" "$n" "chunks planned from the cache"
	assert_eq "$(json_field "$T/out" os-written fetched)" 0 "chunks fetched"
	assert_eq "$(json_field "$T/out" os-written refetched)" 1 "chunks fetched again"
	assert_eq "$(json_field "$T/out" os-written requests)" 1 "requests for the pack"
	assert_eq "$(grep -c '\.pack ' "$HTTP_LOG")" 1 "pack requests: $(cat "$HTTP_LOG")"
	assert_eq "$(ls -A "$STATE/cache/chunks")" "" "the cache after the write"
}

# a state without Image-Index (a tree of an older master): the pack, a .zst of the
# image, is streamed as a whole
test_state_without_index_is_streamed() {
	os_setup
	local state=$TREE/groups/stable/state
	sed -i '/^Image-Index/d' "$state"
	rm "$state.minisig"
	minisign -S -s "$T/key" -m "$state" </dev/null >/dev/null || fail "minisign"
	oswj >"$T/out" 2>"$T/err" || fail "os write: $(cat "$T/err")"
	assert_slot_holds "$T/img1"
	grep -q '^{"event":"download","image":"1.0","bytes":[0-9]*}$' "$T/out" || fail "$(cat "$T/out")"
	grep -q '^{"event":"os-written",.*"blocks":24,"written":[0-9]*,"skipped":[0-9]*}$' "$T/out" ||
		fail "$(cat "$T/out")"
	osw 2>"$T/err" || fail "os write: $(cat "$T/err")"
	grep -q "^lifeboat: os: wrote 1.0 to $SLOT (3.0 MiB, 24 blocks already right)$" "$T/err" ||
		fail "$(cat "$T/err")"
	# its checksum damaged: refused naming it
	local pack
	pack=$TREE/$(state_field Image)
	flip "$pack" $(($(stat -c %s "$pack") / 2)) 16
	expect_fail 5 "$HTTP_URL/images/.*\.pack: " osw
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
	local n
	n=$(($(state_field Image-Index-Size) / 40 - 1))
	grep -q "^{\"event\":\"plan\",\"chunks\":$n,\"right\":$n,\"local\":0,\"cached\":0,\"fetch\":0,\"fetch_bytes\":0}\$" "$T/out" ||
		fail "$(cat "$T/out")"
	grep -q "^{\"event\":\"os-written\",.*\"blocks\":24,\"written\":0,\"skipped\":24,\"chunks\":$n,\"fetched\":0,\"refetched\":0,\"fetch_bytes\":0,\"requests\":0}\$" "$T/out" ||
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
	grep '\.pack' "$T/badlog" | grep -q 'bytes=50000-' || { kill $BAD_PID; fail "no resumed request: $(cat "$T/badlog")"; }
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
