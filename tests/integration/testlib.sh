# Test helpers for lifeboat's integration tests: build .debs with dpkg-deb, write
# desired states, run the real binary on a throwaway root, compare trees.
# Sourced by run.sh; every test runs in its own subshell with a fresh $T.

: "${LIFEBOAT:=$PWD/build/lifeboat}"
BUSYBOX=${BUSYBOX:-/bin/busybox}

setup() {
	T=$(mktemp -d /tmp/lbtest.XXXXXX)
	ROOT=$T/root
	POOL=$T/pool
	mkdir -p "$ROOT" "$POOL" "$T/src"
}


fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# mkpkg NAME VERSION [-d DEPENDS] [-p PRE-DEPENDS] [-c CONFLICTS] [-b BREAKS]
#       [-r REPLACES] [-P PROVIDES] [-Z gzip|xz|zstd|none]
#       [-f PATH=CONTENT] [-F PATH=@HOSTFILE] [-l PATH=TARGET] [-D DIR]
#       [-s SCRIPT=BODY] [-C CONFFILE-PATH] [-o OUTFILE]
mkpkg() {
	local name=$1 version=$2
	shift 2
	local d="$T/src/${name}_$version.$$.$RANDOM" comp=gzip out=""
	mkdir -p "$d/DEBIAN"
	{
		echo "Package: $name"
		echo "Version: $version"
		echo "Architecture: all"
		echo "Maintainer: lifeboat tests <t@example.invalid>"
	} >"$d/DEBIAN/control"
	local fields="" opt
	while [ $# -gt 0 ]; do
		opt=$1
		shift
		case $opt in
		-d) fields="$fields\nDepends: $1" ;;
		-p) fields="$fields\nPre-Depends: $1" ;;
		-c) fields="$fields\nConflicts: $1" ;;
		-b) fields="$fields\nBreaks: $1" ;;
		-r) fields="$fields\nReplaces: $1" ;;
		-P) fields="$fields\nProvides: $1" ;;
		-Z) comp=$1 ;;
		-o) out=$1 ;;
		-f) mkdir -p "$d/$(dirname "${1%%=*}")"
		    printf '%s\n' "${1#*=}" >"$d/${1%%=*}" ;;
		-F) mkdir -p "$d/$(dirname "${1%%=*}")"
		    cp "${1#*=@}" "$d/${1%%=*}" ;;
		-l) mkdir -p "$d/$(dirname "${1%%=*}")"
		    ln -s "${1#*=}" "$d/${1%%=*}" ;;
		-D) mkdir -p "$d/$1" ;;
		-s) printf '#!/bin/sh\nset -e\n%s\n' "${1#*=}" >"$d/DEBIAN/${1%%=*}"
		    chmod 755 "$d/DEBIAN/${1%%=*}" ;;
		-C) echo "/$1" >>"$d/DEBIAN/conffiles" ;;
		*) fail "mkpkg: unknown option $opt" ;;
		esac
		shift
	done
	printf "$fields\n" | sed '/^$/d' >>"$d/DEBIAN/control"
	echo "Description: test package $name" >>"$d/DEBIAN/control"
	[ -n "$out" ] || out="$POOL/${name}_${version#*:}_all.deb"
	dpkg-deb --root-owner-group -Z"$comp" --build "$d" "$out" >/dev/null
	rm -rf "$d"
}

# a package with /bin/sh, so that maintainer scripts can run chrooted
mkbase() {
	mkpkg base-sh "${1:-1.0}" -F "bin/sh=@$BUSYBOX" -F "bin/busybox=@$BUSYBOX" -D tmp
}

# desired FILE SERIAL name=version...
desired() {
	local f=$1 serial=$2 list="" p
	shift 2
	for p in "$@"; do
		list="$list${list:+, }${p%%=*} (= ${p#*=})"
	done
	printf 'Serial: %s\nPackages: %s\n' "$serial" "$list" >"$f"
}

lb() {
	"$LIFEBOAT" --root "$ROOT" "$@"
}

# apply SERIAL name=version...: write a desired state and apply it
apply() {
	local serial=$1
	shift
	desired "$T/desired.$serial" "$serial" "$@"
	lb apply --pool "$POOL" "$T/desired.$serial"
}

# expect_fail CODE PATTERN cmd...: the command exits CODE and says PATTERN
expect_fail() {
	local code=$1 pat=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = "$code" ] || { cat "$T/err" >&2; fail "'$*' exited $rc, expected $code"; }
	grep -q -- "$pat" "$T/err" || { cat "$T/err" >&2; fail "'$*': message lacks '$pat'"; }
	[ "$(wc -l <"$T/err")" -ge 1 ] || fail "no message"
}

# snapshot DIR: one line per path (type, mode, uid, gid, size, content hash or
# link target), lifeboat's lock file excluded: equal snapshots mean equal trees
snapshot() {
	(cd "$1" && find . -path ./var/lib/lifeboat/lock -prune -o -printf '%y %m %U %G %s %p %l\n' |
		LC_ALL=C sort | while read -r y m u g s p l; do
			if [ "$y" = f ]; then
				h=$(sha256sum "$p" | cut -c1-64)
			else
				h=$l
			fi
			[ "$y" = d ] && s=-
			echo "$y $m $u $g $s $p $h"
		done)
}

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-values differ}: '$1' != '$2'"
}

assert_file() {
	[ -e "$ROOT/$1" ] || [ -L "$ROOT/$1" ] || fail "/$1 missing"
	[ $# -lt 2 ] || [ "$(cat "$ROOT/$1")" = "$2" ] || fail "/$1: '$(cat "$ROOT/$1")' != '$2'"
}

assert_no_file() {
	[ ! -e "$ROOT/$1" ] && [ ! -L "$ROOT/$1" ] || fail "/$1 should not exist"
}

assert_list() {
	local got
	got=$(lb list | tr '\n' ' ' | sed 's/ $//')
	assert_eq "$got" "$*" "installed packages"
}

# base_root: base-sh installed on its own first, so that the preinst of a
# package installed later finds /bin/sh (a preinst runs before its
# transaction's files are in place)
base_root() {
	# as mkbase, uncompressed: gzip -9 of two busyboxes takes most of a second
	mkpkg base-sh 1.0 -Z none -F "bin/sh=@$BUSYBOX" -F "bin/busybox=@$BUSYBOX" -D tmp
	apply 0 base-sh=1.0 >/dev/null 2>"$T/base.err" || fail "base-sh: $(cat "$T/base.err")"
}

# ---- a real HTTP server (nginx from Debian) on a free loopback port ----
# start_nginx DIR: serve DIR; sets HTTP_URL and HTTP_LOG (one line per request:
# "METHOD PATH STATUS BYTES"). The server is stopped by teardown.
start_nginx() {
	local dir=$1 n=$T/nginx
	mkdir -p "$n/tmp"
	HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	HTTP_LOG=$n/access.log
	cat >"$n/nginx.conf" <<NGINX
user root;
worker_processes 1;
pid $n/nginx.pid;
error_log $n/error.log;
events { worker_connections 64; }
http {
	log_format lbfmt '\$request_method \$uri \$status \$body_bytes_sent';
	access_log $HTTP_LOG lbfmt;
	client_body_temp_path $n/tmp; proxy_temp_path $n/tmp; fastcgi_temp_path $n/tmp;
	uwsgi_temp_path $n/tmp; scgi_temp_path $n/tmp;
	types { application/octet-stream deb; }
	default_type text/plain;
	server { listen 127.0.0.1:$HTTP_PORT; root $dir; etag on; }
}
NGINX
	/usr/sbin/nginx -p "$n" -c "$n/nginx.conf" || fail "nginx did not start"
	local i
	for i in $(seq 50); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $HTTP_PORT), 1)" \
			2>/dev/null && break
		sleep 0.1
	done
	HTTP_URL=http://127.0.0.1:$HTTP_PORT
	NGINX_PID=$(cat "$n/nginx.pid")
}

stop_nginx() {
	[ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null
	NGINX_PID=
}

teardown() {
	stop_nginx
	[ -n "${T:-}" ] && rm -rf "$T"
}
