#!/bin/bash
# The package engine on a throwaway root, narrated (no VM: seconds, not minutes;
# `make demo-engine`). The main job, `make demo`, is scripts/demo.sh (QEMU).
# A device root is brought to what a master's desired states say: first install,
# a meta-package replaced (orphans removed), a downgrade, a power cut in the
# middle of a transaction and its recovery, a hostile package refused.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -s build/lifeboat build/lifeboat-master
LB=$PWD/build/lifeboat
source tests/integration/testlib.sh
setup
cleanup() { [ -n "${HOLDER:-}" ] && kill -9 "$HOLDER" 2>/dev/null; teardown; }
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s|$T|\$DEMO|g; s|$LB|lifeboat|g"; "$@" 2>&1 | sed "s|$T|\$DEMO|g"; }

say "A pool of packages, as dpkg-deb builds them"
mkbase 1.0
mkpkg libcurlish 1.0 -f usr/lib/libcurlish.so.1=v1
mkpkg libcurlish 1.1 -f usr/lib/libcurlish.so.1=v1.1
mkpkg sensor-daemon 2.0 -d "libcurlish (>= 1.0)" -f usr/sbin/sensord=2.0 \
	-f etc/sensord.conf="interval=10" -C etc/sensord.conf \
	-s "postinst=echo \"sensor-daemon configured (\$*)\" >/var/log/sensord-setup"
mkpkg sensor-daemon 1.9 -d "libcurlish (>= 1.0)" -f usr/sbin/sensord=1.9 \
	-f etc/sensord.conf="interval=10" -C etc/sensord.conf
mkpkg legacy-ui 1.0 -f usr/share/legacy-ui/index.html=old
mkpkg web-ui 3.0 -f usr/share/web-ui/index.html=new
mkpkg product-v1 1.0 -d "sensor-daemon, legacy-ui"
mkpkg product-v2 1.0 -d "sensor-daemon, web-ui"
mkpkg slow-config 1.0 -s "postinst=if [ -e /tmp/slow ]; then busybox sleep 30; fi"
ls "$POOL" | sed 's/^/    /'
mkdir -p "$ROOT/var/log"

say "The master's first desired state: install everything"
desired "$T/state-1" 1 base-sh=1.0 libcurlish=1.0 sensor-daemon=2.0 legacy-ui=1.0 product-v1=1.0
cat "$T/state-1"
run "$LB" --root "$ROOT" plan --pool "$POOL" "$T/state-1"
run "$LB" --root "$ROOT" apply --pool "$POOL" "$T/state-1"
run "$LB" --root "$ROOT" list
run cat "$ROOT/var/log/sensord-setup"

say "Serial 2: product-v1 is replaced by product-v2, the library upgraded, the daemon downgraded"
echo "(the user also edited a configuration file on the device)"
echo "interval=5" >"$ROOT/etc/sensord.conf"
desired "$T/state-2" 2 base-sh=1.0 libcurlish=1.1 sensor-daemon=1.9 web-ui=3.0 product-v2=1.0
run "$LB" --root "$ROOT" plan --pool "$POOL" "$T/state-2"
run "$LB" --root "$ROOT" apply --pool "$POOL" "$T/state-2"
run "$LB" --root "$ROOT" list
echo "legacy-ui went with product-v1 (nothing needs it); the edited conffile stayed:"
run cat "$ROOT/etc/sensord.conf"

say "Serial 3, and the power is cut in the middle of it (kill -9 during a maintainer script)"
desired "$T/state-3" 3 base-sh=1.0 libcurlish=1.1 sensor-daemon=1.9 web-ui=3.0 product-v2=1.0 slow-config=1.0
touch "$ROOT/tmp/slow"
"$LB" --root "$ROOT" apply --pool "$POOL" "$T/state-3" 2>/dev/null &
HOLDER=$!
sleep 1.5
kill -9 "$HOLDER"
wait "$HOLDER" 2>/dev/null || true
HOLDER=
rm "$ROOT/tmp/slow"
echo "(killed; the lock went with the process: nothing to delete by hand)"
run "$LB" --root "$ROOT" status
echo "The next run of lifeboat finishes the committed transaction first:"
run "$LB" --root "$ROOT" recover
run "$LB" --root "$ROOT" list
run "$LB" --root "$ROOT" verify

say "A hostile package: a symlink out of the root, and a file beneath it"
python3 - "$POOL/evil_1.0_all.deb" <<'PY'
import io, sys, tarfile, subprocess, os, tempfile
def tar(entries):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz") as t:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            if kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return b.getvalue()
d = tempfile.mkdtemp()
open(f"{d}/debian-binary", "w").write("2.0\n")
open(f"{d}/control.tar.gz", "wb").write(tar([("./control", "f",
    b"Package: evil\nVersion: 1.0\nArchitecture: all\nDescription: x\n")]))
open(f"{d}/data.tar.gz", "wb").write(tar([("./opt", "l", "/etc"), ("./opt/passwd", "f", b"owned\n")]))
subprocess.run(["ar", "rc", sys.argv[1], f"{d}/debian-binary", f"{d}/control.tar.gz", f"{d}/data.tar.gz"], check=True)
PY
desired "$T/state-4" 4 base-sh=1.0 libcurlish=1.1 sensor-daemon=1.9 web-ui=3.0 product-v2=1.0 slow-config=1.0 evil=1.0
run "$LB" --root "$ROOT" apply --pool "$POOL" "$T/state-4" || true
echo "(refused before anything was written, exit status 5: the root is as it was)"
run "$LB" --root "$ROOT" list

say "The master takes over: lifeboat-master publishes a signed tree, nginx on loopback serves it"
MASTER=$PWD/build/lifeboat-master
run "$MASTER" keygen "$T/fleet-key"
cat >"$T/fleet.conf" <<CONF
Group: stable
Packages: base-sh, product-v2, sensor-daemon (= 2.0)

Device: sensor-0042
Group: stable
CONF
run cat "$T/fleet.conf"
run "$MASTER" publish --pool "$POOL" --desired "$T/fleet.conf" --key "$T/fleet-key" --out "$T/tree"
start_nginx "$T/tree"
run find "$T/tree" -maxdepth 3 -not -path "*/pool/*"
mkdir -p "$ROOT/etc/lifeboat"
cp "$T/fleet-key.pub" "$ROOT/etc/lifeboat/master.pub"
printf 'Master: %s\nDevice-Id: sensor-0042\n' "$HTTP_URL" >"$ROOT/etc/lifeboat.conf"
run cat "$ROOT/etc/lifeboat.conf"

say "The device syncs: the master resolved the set (web-ui and libcurlish come as dependencies); slow-config goes"
run "$LB" --root "$ROOT" sync
run "$LB" --root "$ROOT" list

say "Nothing changed: a sync costs two requests, both answered 304"
run "$LB" --root "$ROOT" sync
tail -n 2 "$HTTP_LOG" | sed 's/^/    nginx: /'

say "A replayed older state, validly signed, is refused"
cp -a "$T/tree/groups/stable" "$T/old-stable"
sleep 1.1
printf 'Group: stable\nPackages: base-sh, product-v2, sensor-daemon (= 1.9)\n\nDevice: sensor-0042\nGroup: stable\n' >"$T/fleet.conf"
"$MASTER" publish --pool "$POOL" --desired "$T/fleet.conf" --key "$T/fleet-key" --out "$T/tree" 2>/dev/null
run "$LB" --root "$ROOT" sync
run "$LB" --root "$ROOT" list
sleep 1.1 # a new mtime, so that nginx's ETag changes and the device gets the old file
cp "$T/old-stable/"* "$T/tree/groups/stable/"
run "$LB" --root "$ROOT" sync || true
echo "(refused, exit status 4; the device stays on the newer state)"

say "Done. Everything above ran in $(echo "$T" | sed 's|.*/||') and is removed now."
