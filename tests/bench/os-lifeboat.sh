# lifeboat's rows of the OS-image update benchmark; sourced by os-bench.sh (uses its
# encode, apply, add_row, say, $C, $T, $V1, $V2, $LIFEBOAT, $LIFEBOAT_MASTER, $LEVEL).
#
# lifeboat-master publishes v1 then v2 (chunk store, packs, indexes) into a tree that
# nginx serves on loopback; the device updates
#   A/B:      a blank slot, with the running slot (v1) as --source
#   in place: a single-slot device, v1 rewritten in place: `os fetch` ahead (while v1
#             is intact), then `os write`
# Bytes and requests are counted in nginx's access log after the signed state (the
# chunk index and the pack ranges; the state itself is the same for every method).
# Last, the device's memory while writing a 1 GiB image: peak RSS, and how much of it
# is its own (anonymous) memory rather than mapped shared libraries.

LB_KEY=${LB_KEY:-$C/lifeboat.key}

lb_nginx_start() { # DIR: serve DIR on a free loopback port; sets LB_URL, LB_LOG
	local n=$T/nginx port
	mkdir -p "$n/tmp"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	LB_LOG=$n/access.log
	cat >"$n/nginx.conf" <<NGINX
user root;
worker_processes 1;
pid $n/nginx.pid;
error_log $n/error.log;
events { worker_connections 64; }
http {
	log_format lb '\$request_method \$uri \$status \$body_bytes_sent';
	access_log $LB_LOG lb;
	client_body_temp_path $n/tmp; proxy_temp_path $n/tmp; fastcgi_temp_path $n/tmp;
	uwsgi_temp_path $n/tmp; scgi_temp_path $n/tmp;
	default_type application/octet-stream;
	server { listen 127.0.0.1:$port; root $1; }
}
NGINX
	/usr/sbin/nginx -p "$n" -c "$n/nginx.conf" || { say "nginx did not start"; return 1; }
	for _ in $(seq 50); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
		sleep 0.1
	done
	LB_URL=http://127.0.0.1:$port
}

lb_nginx_stop() {
	[ -f "$T/nginx/nginx.pid" ] && kill "$(cat "$T/nginx/nginx.pid")" 2>/dev/null
	sleep 0.2
}

# lb_publish TREE CHUNK LEVEL IMAGE...: publish each image in turn for group g
lb_publish() {
	local tree=$1 chunk=$2 level=$3 img v=0
	shift 3
	rm -rf "$tree" "$tree.pool"
	mkdir -p "$tree.pool"
	for img in "$@"; do
		v=$((v + 1))
		printf 'Group: g\nPackages:\nImage: %s\nImage-Version: %s\n' "$(realpath "$img")" "$v" >"$tree.conf"
		"$LIFEBOAT_MASTER" publish --pool "$tree.pool" --desired "$tree.conf" --key "$LB_KEY" \
			--out "$tree" --chunk-size "$chunk" --image-level "$level" || return 1
	done
}

# lb_traffic: bytes and requests in nginx's log for the image (index and pack)
lb_traffic() {
	awk '$2 ~ /^\/images\// { b += $4; n++ } END { printf "%d %d\n", b, n }' "$LB_LOG"
}

# lb_device STATE ARGS...: lifeboat against the served tree (for what is not timed)
lb_device() {
	local st=$1
	shift
	"$LIFEBOAT" --state "$st" "$@" --master "$LB_URL" --group g --pubkey "$LB_KEY.pub"
}

# lb_record STATE DEV: the record a device keeps of the image (v1) a slot holds, as
# the factory or an earlier write leaves it (it tells the device which deltas apply)
lb_record() {
	mkdir -p "$1"
	printf 'Slot-Device: %s\nStatus: complete\nImage-Version: 1\nImage-SHA256: %s\nImage-Size: %s\nSerial: 0\n' \
		"$2" "$LB_V1_SHA" "$(stat -c %s "$V1")" >"$1/os"
}

# lb_rows CHUNK: the A/B and in-place rows for one chunk size
lb_rows() {
	local chunk=$1 k=$(($1 / 1024)) tree=$C/lifeboat-$(($1 / 1024))k bytes req fb fr
	# timed as a command of its own: the publish function in a bash of its own
	encode "lifeboat-$k" env LIFEBOAT_MASTER="$LIFEBOAT_MASTER" LB_KEY="$LB_KEY" \
		bash -c 'source "$0" && lb_publish "$@"' "$here/os-lifeboat.sh" \
		"$tree" "$chunk" "$LEVEL" "$V1" "$V2"
	lb_nginx_start "$tree" || return 1
	# A/B: a blank slot, the running slot (v1) as the source
	truncate -s "$(stat -c %s "$V2")" "$T/slot"
	lb_record "$T/st-ab" "$V1"
	: >"$LB_LOG"
	apply "lifeboat-ab-$k" "$T/slot" "$LIFEBOAT" --state "$T/st-ab" os write --slot "$T/slot" \
		--source "$V1" --master "$LB_URL" --group g --pubkey "$LB_KEY.pub"
	read -r bytes req < <(lb_traffic)
	add_row "lifeboat A/B, $k KiB chunks" "$bytes" "$req" \
		"chunk index, delta index, merged ranges of the delta and the pack; v1 (the running slot) the source"
	# in place: os fetch ahead while v1 is intact, then the rescue system's os write
	cp --sparse=always "$V1" "$T/slot"
	lb_record "$T/st-ip" "$T/slot"
	: >"$LB_LOG"
	lb_device "$T/st-ip" os fetch --slot "$T/slot" >"$T/fetch.log" 2>&1 ||
		{ cat "$T/fetch.log" >&2; say "lifeboat os fetch failed"; }
	read -r fb fr < <(lb_traffic)
	local cache
	cache=$(du -sk "$T/st-ip/cache/chunks" | cut -f1)
	: >"$LB_LOG"
	apply "lifeboat-ip-$k" "$T/slot" "$LIFEBOAT" --state "$T/st-ip" os write --slot "$T/slot" \
		--master "$LB_URL" --group g --pubkey "$LB_KEY.pub"
	read -r bytes req < <(lb_traffic)
	add_row "lifeboat in place, $k KiB" "$((fb + bytes))" "$((fr + req))" \
		"single slot: os fetch ahead ($((cache / 1024)) MiB of cache), then os write"
	lb_nginx_stop
}

# the device's memory writing a 1 GiB image (v2 padded with zeros), v1 as the source:
# peak RSS and its anonymous part, sampled from /proc
lb_memory() {
	local img=$T/big.img tree=$T/big-tree pid peak=0 anon=0 rss a
	cp --sparse=always "$V2" "$img"
	truncate -s 1G "$img"
	lb_publish "$tree" 65536 3 "$img" >"$T/big-publish.log" 2>&1 ||
		{ cat "$T/big-publish.log" >&2; say "publish of the 1 GiB image failed"; return 1; }
	lb_nginx_start "$tree" || return 1
	truncate -s 1G "$T/big-slot"
	"$LIFEBOAT" --state "$T/st-big" --quiet os write --slot "$T/big-slot" --source "$V1" \
		--master "$LB_URL" --group g --pubkey "$LB_KEY.pub" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		read -r rss a < <(awk '/^VmRSS/ { r = $2 } /^RssAnon/ { a = $2 } END { print r + 0, a + 0 }' \
			"/proc/$pid/status" 2>/dev/null || echo "0 0")
		[ "$rss" -gt "$peak" ] && peak=$rss
		[ "$a" -gt "$anon" ] && anon=$a
		sleep 0.05
	done
	wait "$pid" || { say "os write of the 1 GiB image failed"; lb_nginx_stop; return 1; }
	cmp -s "$img" "$T/big-slot" || { say "the 1 GiB slot is not the image"; lb_nginx_stop; return 1; }
	lb_nginx_stop
	rm -f "$img" "$T/big-slot"
	LB_MEMORY="writing a 1 GiB image (v2 padded with zeros, 64 KiB chunks, v1 as the source): peak RSS $((peak / 1024)).$((peak % 1024 * 10 / 1024)) MiB, of which anonymous (heap, stacks, buffers) $((anon / 1024)).$((anon % 1024 * 10 / 1024)) MiB; the rest is mapped shared libraries (libcurl's closure, libc)"
}

lifeboat_rows() {
	[ -f "$LB_KEY" ] || "$LIFEBOAT_MASTER" keygen "$LB_KEY" >/dev/null
	LB_V1_SHA=$(sha256sum "$V1" | cut -c1-64)
	lb_rows 65536
	lb_rows 16384
	lb_memory || LB_MEMORY="memory: not measured (see above)"
}
