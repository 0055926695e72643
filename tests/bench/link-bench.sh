#!/bin/sh
# Link benchmark: what lifeboat sync costs on the wire, and what
# lifeboat-master publish costs for a large pool and fleet.
# Run at the end of tests/bench/run.sh (`make bench`); see tests/bench/README.md.
# Environment:
#   LINK_NPKGS, LINK_NFILES    synced set (default 300 x 20 files, gen-debs.sh's pool)
#   PUB_NAMES                  publish pool: names x 2 versions (default 1000 -> 2000 .debs)
#   PUB_DEVICES, PUB_GROUPS    publish CONF (default 5000 devices over 10 groups)
#   LIFEBOAT, LIFEBOAT_MASTER  binaries (default build/lifeboat, build/lifeboat-master)
#   BENCH_CACHE                pools (default build/bench-cache)
#   BENCH_TMPDIR               trees, roots, nginx (default build/bench-tmp)
set -eu
umask 022
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top"

npkgs=${LINK_NPKGS:-300}
nfiles=${LINK_NFILES:-20}
pnames=${PUB_NAMES:-1000}
pdevs=${PUB_DEVICES:-5000}
pgroups=${PUB_GROUPS:-10}
cache=${BENCH_CACHE:-build/bench-cache}
tmpdir=${BENCH_TMPDIR:-build/bench-tmp}
# `make bench` builds only build/lifeboat
if [ -z "${LIFEBOAT_MASTER:-}" ] && command -v make >/dev/null; then
	make -s build/lifeboat-master >&2 || { echo "link-bench: make build/lifeboat-master failed" >&2; exit 1; }
fi
lifeboat=$(realpath "${LIFEBOAT:-build/lifeboat}")
master=$(realpath "${LIFEBOAT_MASTER:-build/lifeboat-master}")

for t in "$lifeboat" "$master" /usr/sbin/nginx /usr/bin/time; do
	[ -x "$t" ] || { echo "link-bench: $t is missing (make build/lifeboat build/lifeboat-master; apt-get install nginx time)" >&2; exit 1; }
done
for t in python3 dpkg-deb awk; do
	command -v "$t" >/dev/null || { echo "link-bench: $t is missing" >&2; exit 1; }
done

mkdir -p "$cache" "$tmpdir"
W=$(mktemp -d "$(realpath "$tmpdir")/link.XXXXXX")
NGINX_PID=
stop_nginx() { # and wait (up to 5 s) for its fast shutdown to end
	[ -n "$NGINX_PID" ] || return 0
	kill "$NGINX_PID" 2>/dev/null || :
	i=0
	while [ $i -lt 50 ] && kill -0 "$NGINX_PID" 2>/dev/null &&
		[ "$(awk '{ print $3 }' "/proc/$NGINX_PID/stat" 2>/dev/null)" != Z ]; do
		i=$((i + 1))
		sleep 0.1
	done
	NGINX_PID=
}
cleanup() {
	stop_nginx
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
start=$(date +%s)
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- pools (cached) --------------------------------------------------------
spool=$cache/gen-${npkgs}x$nfiles
echo "link-bench: sync pool: $npkgs packages x $nfiles files ($spool)" >&2
"$here/gen-debs.sh" "$spool" "$npkgs" "$nfiles"
ppool=$cache/pub-${pnames}x2-${pdevs}d${pgroups}g
echo "link-bench: publish pool: $((pnames * 2)) packages, $pdevs devices, $pgroups groups ($ppool)" >&2
python3 "$here/gen-pub-pool.py" "$ppool" "$pnames" "$pdevs" "$pgroups"

# --- master tree for the sync part, served by our own nginx ----------------
"$master" keygen "$W/key" >/dev/null
pkgs=$(sed -n 's/^Packages: //p' "$spool/desired")
printf 'Group: bench\nPackages: %s\n\nDevice: dev-1\nGroup: bench\n' "$pkgs" >"$W/sync.conf"
"$master" publish --pool "$spool" --desired "$W/sync.conf" --key "$W/key" --out "$W/tree" 2>"$W/publish0.err" ||
	{ cat "$W/publish0.err" >&2; exit 1; }

n=$W/nginx
mkdir -p "$n/tmp"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG=$n/access.log
cat >"$n/nginx.conf" <<NGINX
user root;
worker_processes 1;
pid $n/nginx.pid;
error_log $n/error.log;
events { worker_connections 64; }
http {
	# bytes_sent: the whole response, status line and headers included;
	# request_length: request line, headers and body
	log_format lblink '\$request_method \$uri \$status \$bytes_sent \$body_bytes_sent \$request_length';
	access_log $LOG lblink;
	client_body_temp_path $n/tmp; proxy_temp_path $n/tmp; fastcgi_temp_path $n/tmp;
	uwsgi_temp_path $n/tmp; scgi_temp_path $n/tmp;
	types { application/octet-stream deb; }
	default_type text/plain;
	sendfile on;
	server { listen 127.0.0.1:$port; root $W/tree; etag on; }
}
NGINX
/usr/sbin/nginx -p "$n" -c "$n/nginx.conf"
NGINX_PID=$(cat "$n/nginx.pid")
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || { echo "link-bench: nginx does not answer on 127.0.0.1:$port" >&2; exit 1; }
	sleep 0.1
done

R=$W/root
mkdir -p "$R/etc/lifeboat"
cp "$W/key.pub" "$R/etc/lifeboat/master.pub"
printf 'Master: http://127.0.0.1:%s\nDevice-Id: dev-1\n' "$port" >"$R/etc/lifeboat.conf"

# log_since MARK: the access-log lines written after line MARK, once nginx has
# logged every request of the sync that just ended
log_since() {
	tail -n +$(($1 + 1)) "$LOG"
}
settle_log() {
	a=-1
	while b=$(wc -l <"$LOG") && [ "$a" != "$b" ]; do a=$b; sleep 0.2; done
}
# one sync: $1 = tag; writes $W/$1.{json,err,log} and $W/$1.ms (wall)
do_sync() {
	mark=$(wc -l <"$LOG" 2>/dev/null || echo 0)
	t0=$(now_ms)
	if ! "$lifeboat" --root "$R" --json sync >"$W/$1.json" 2>"$W/$1.err"; then
		echo "link-bench: sync ($1) failed:" >&2
		cat "$W/$1.err" "$W/$1.json" >&2
		exit 1
	fi
	echo $(($(now_ms) - t0)) >"$W/$1.ms"
	settle_log
	log_since "$mark" >"$W/$1.log"
}
# client counters from the final {"event":"synced",...} line
client() { # FILE FIELD
	python3 -c 'import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print([e for e in ev if e.get("event") == "synced"][-1][sys.argv[2]])' "$1" "$2"
}
# sum of a log column, optionally over lines matching a regex
logsum() { # FILE COLUMN [REGEX]
	awk -v c="$2" -v re="${3:-.}" '$0 ~ re { s += $c } END { printf "%d\n", s }' "$1"
}

echo "link-bench: first sync of $npkgs packages" >&2
do_sync first
echo "link-bench: second sync, nothing changed" >&2
do_sync noop

# signed sizes of the packages in the group's state (SHA256: " sha size name_version")
pkgbytes=$(awk '/^SHA256:/ { f = 1; next } f && /^ / { s += $2; n++; next } { f = 0 } END { printf "%d\n", s }' "$W/tree/groups/bench/state")
pkgn=$(awk '/^SHA256:/ { f = 1; next } f && /^ / { n++; next } { f = 0 } END { print n + 0 }' "$W/tree/groups/bench/state")
poolbytes=$(find "$spool" -maxdepth 1 -name '*.deb' -printf '%s\n' | awk '{ s += $1 } END { printf "%d\n", s }')

f_req=$(wc -l <"$W/first.log")
f_debs=$(grep -c '\.deb 200 ' "$W/first.log" || :)
f_resp=$(logsum "$W/first.log" 4)
f_rq=$(logsum "$W/first.log" 6)
f_debbody=$(logsum "$W/first.log" 5 '\.deb 200 ')
f_debhdr=$(($(logsum "$W/first.log" 4 '\.deb 200 ') - f_debbody))
f_meta=$((f_resp - $(logsum "$W/first.log" 4 '\.deb 200 ')))
f_wire=$((f_resp + f_rq))
f_over=$((f_wire - pkgbytes))
f_pct=$(awk -v o="$f_over" -v p="$pkgbytes" 'BEGIN { printf "%.3f", 100 * o / p }')
f_creq=$(client "$W/first.json" requests)
f_cbytes=$(client "$W/first.json" bytes)

n_req=$(wc -l <"$W/noop.log")
n_resp=$(logsum "$W/noop.log" 4)
n_rq=$(logsum "$W/noop.log" 6)
n_status=$(awk '{ print $3 }' "$W/noop.log" | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }')
n_creq=$(client "$W/noop.json" requests)
n_cbytes=$(client "$W/noop.json" bytes)

installed=$("$lifeboat" --root "$R" list | wc -l)
[ "$installed" = "$pkgn" ] || { echo "link-bench: $installed packages installed, the state names $pkgn" >&2; exit 1; }
[ "$f_debs" = "$pkgn" ] || echo "link-bench: warning: $f_debs .debs downloaded, the state names $pkgn" >&2
[ "$pkgbytes" = "$poolbytes" ] || echo "link-bench: warning: state sizes $pkgbytes B != pool files $poolbytes B" >&2

stop_nginx
rm -rf "$R" "$W/tree"

# --- publish: thousands of packages and devices -----------------------------
echo "link-bench: publish $((pnames * 2)) packages for $pdevs devices, then again unchanged" >&2
"$master" keygen "$W/pkey" >/dev/null
ndebs=$(find "$ppool/pool" -maxdepth 1 -name '*.deb' | wc -l)
poolmb=$(du -sm "$ppool/pool" | cut -f1)
publish() { # TAG
	if ! /usr/bin/time -o "$W/$1.time" -f '%e %M' "$master" publish --pool "$ppool/pool" \
		--desired "$ppool/conf" --key "$W/pkey" --out "$W/ptree" 2>"$W/$1.err"; then
		echo "link-bench: publish ($1) failed:" >&2
		cat "$W/$1.err" >&2
		exit 1
	fi
}
sync
publish pub1
publish pub2
p1_s=$(cut -d' ' -f1 "$W/pub1.time"); p1_kb=$(cut -d' ' -f2 "$W/pub1.time")
p2_s=$(cut -d' ' -f1 "$W/pub2.time"); p2_kb=$(cut -d' ' -f2 "$W/pub2.time")
# "..., N files written, M unchanged, ..."
files_of() { sed -n 's/.* \([0-9]*\) files written, \([0-9]*\) unchanged.*/\1 written, \2 unchanged/p' "$1"; }
p1_files=$(files_of "$W/pub1.err")
p2_files=$(files_of "$W/pub2.err")
treefiles=$(find "$W/ptree" -type f | wc -l)
if [ "$(find "$W/ptree/pool" -type f -links +1 | wc -l)" -gt 0 ]; then linked="hard-linked in"; else linked="copied in"; fi

# --- report ----------------------------------------------------------------
row() { printf '%-44s %14s  %s\n' "$1" "$2" "$3"; }
echo
echo "lifeboat link benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "wire: nginx 1 worker on 127.0.0.1, access log \$bytes_sent (response incl. status line + headers),"
echo "  \$body_bytes_sent, \$request_length (request line + headers); TCP/IP framing and TLS not counted."
echo "client: lifeboat --json sync, final {\"event\":\"synced\"} requests and bytes (bodies received)."
echo "packages: sizes signed in groups/bench/state ($pkgn .debs from gen-debs.sh, $nfiles files each, -Zgzip)."
echo "publish: /usr/bin/time -f '%e %M' lifeboat-master publish, tree on $(df -P "$W" | awk 'NR == 2 { print $1 }'),"
echo "  pool $ndebs .debs ($poolmb MB, gen-pub-pool.py) $linked, CONF $pdevs devices in $pgroups groups."
echo
row measurement value source
row "no-op sync: requests" "$n_req" "access log ($n_status)"
row "no-op sync: response bytes" "$n_resp" "access log, bytes_sent"
row "no-op sync: request bytes" "$n_rq" "access log, request_length"
row "no-op sync: bytes on the wire" "$((n_resp + n_rq))" "sum of the two above"
row "no-op sync: client requests / bytes" "$n_creq / $n_cbytes" "--json synced event"
row "no-op sync: wall ms" "$(cat "$W/noop.ms")" "date +%s%N around the sync"
row "first sync: packages / their bytes" "$pkgn / $pkgbytes" "state SHA256 sizes"
row "first sync: requests (.debs)" "$f_req ($f_debs)" "access log"
row "first sync: response bytes" "$f_resp" "access log, bytes_sent"
row "  .deb response headers" "$f_debhdr" "bytes_sent - body_bytes_sent"
row "  pointer/state/signature responses" "$f_meta" "bytes_sent of non-.deb lines"
row "first sync: request bytes" "$f_rq" "access log, request_length"
row "first sync: bytes on the wire" "$f_wire" "response + request bytes"
row "first sync: overhead bytes" "$f_over" "wire - package bytes"
row "first sync: overhead %" "$f_pct" "overhead / package bytes (goal < 1)"
row "first sync: client requests / bytes" "$f_creq / $f_cbytes" "--json synced event"
row "first sync: wall s (download + install)" "$(awk -v m="$(cat "$W/first.ms")" 'BEGIN { printf "%.2f", m / 1000 }')" "date +%s%N around the sync"
row "publish: wall s" "$p1_s" "time %e, fresh tree, $p1_files"
row "publish: peak RSS KiB" "$p1_kb" "time %M"
row "publish again, unchanged: wall s" "$p2_s" "time %e, $p2_files"
row "publish again, unchanged: peak RSS KiB" "$p2_kb" "time %M"
row "published tree: files" "$treefiles" "find TREE -type f"
echo
echo "link-bench: total $(($(date +%s) - start)) s"
