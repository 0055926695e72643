#!/bin/bash
# Crash-point sweep: run a representative transaction (upgrades, a downgrade,
# removals, a new package, maintainer scripts, and the lifeboat package upgrading
# itself while it runs) with a fault-injection build that crashes at the Nth
# state-changing call — dropping every byte written but not yet synced, as a
# power cut would — for every N. After each crash, recovery must leave the root
# exactly in the old or exactly in the new state, and the next apply must reach
# the new one.  Usage: sweep.sh [STEP]   (STEP > 1 samples every STEP-th point)
set -eu
cd "$(dirname "$0")/../.."
FI_BIN=${FI_BIN:-$PWD/build/fi/lifeboat}
LB=${LIFEBOAT:-$PWD/build/lifeboat}
STEP=${1:-1}
[ -x "$FI_BIN" ] || { echo "sweep: $FI_BIN missing (make BUILD=build/fi FI=1 build/fi/lifeboat)" >&2; exit 1; }
source tests/integration/testlib.sh
setup
trap teardown EXIT

mkbase 1.0
for v in 1.0 2.0; do
	mkpkg liba "$v" -f "usr/lib/liba.so=liba $v" -f "usr/share/doc/liba/v$v=x" -Z xz
	mkpkg libb "$v" -f "usr/lib/libb.so=libb $v" -f etc/libb.conf="conf $v" -C etc/libb.conf \
		-s "postinst=echo \"libb \$*\" >>/var/log/scripts"
	mkpkg app "$v" -d "liba (>= 1.0), libb" -f "usr/bin/app=app $v" -l usr/bin/app-link=app \
		-s "preinst=echo \"app preinst \$*\" >>/var/log/scripts" \
		-s "postinst=echo \"app postinst \$*\" >>/var/log/scripts" \
		-s "prerm=echo \"app prerm \$*\" >>/var/log/scripts"
	mkpkg lifeboat "$v" -F "usr/bin/lifeboat=@$FI_BIN" -f "usr/share/lifeboat/version=$v"
done
mkpkg tool 3.0 -f usr/bin/tool=tool3
mkpkg tool 2.0 -f usr/bin/tool=tool2
mkpkg olddep 1.0 -f usr/lib/olddep=x -f usr/share/olddep/a=a -f usr/share/olddep/b=b
mkpkg oldmeta 1.0 -d olddep -s "postrm=echo \"oldmeta postrm \$*\" >>/var/log/scripts"
mkpkg newpkg 1.0 -f usr/lib/newpkg/data=n -f usr/lib/newpkg/more/deep=d

mkdir -p "$ROOT/var/log"
desired "$T/d0" 0 base-sh=1.0
"$LB" -q --root "$ROOT" apply --pool "$POOL" "$T/d0"
desired "$T/d1" 1 base-sh=1.0 liba=1.0 libb=1.0 app=1.0 lifeboat=1.0 tool=3.0 olddep=1.0 oldmeta=1.0
desired "$T/d2" 2 base-sh=1.0 liba=2.0 libb=2.0 app=2.0 lifeboat=2.0 tool=2.0 newpkg=1.0
"$LB" -q --root "$ROOT" apply --pool "$POOL" "$T/d1"
cp -a "$ROOT" "$T/v1"

state() { # the root as lifeboat manages it: every path, plus the database
	snapshot "$1" | grep -v ' ./var/log/scripts '
}
state "$T/v1" >"$T/old"
cp -a "$T/v1" "$T/v2"
"$LB" -q --root "$T/v2" apply --pool "$POOL" "$T/d2"
state "$T/v2" >"$T/new"
cmp -s "$T/old" "$T/new" && { echo "sweep: old and new states are equal" >&2; exit 1; }

# how many state-changing calls the transaction makes, run by the root's own lifeboat
rm -rf "$T/run" && cp -a "$T/v1" "$T/run"
LIFEBOAT_CRASH_COUNT=$T/count "$T/run/usr/bin/lifeboat" -q --root "$T/run" apply --pool "$POOL" "$T/d2"
N=$(cat "$T/count")
[ "$N" -gt 50 ] || { echo "sweep: only $N points: fault injection is not counting" >&2; exit 1; }

pass=0 failn=0 old=0 new=0
for ((i = 1; i <= N; i += STEP)); do
	rm -rf "$T/run" && cp -a "$T/v1" "$T/run"
	rc=0
	LIFEBOAT_CRASH_AT=$i "$T/run/usr/bin/lifeboat" -q --root "$T/run" apply --pool "$POOL" "$T/d2" \
		>/dev/null 2>"$T/err" || rc=$?
	if [ $rc != 99 ]; then
		echo "not ok - point $i: expected a crash, exit $rc: $(cat "$T/err")"
		failn=$((failn + 1))
		continue
	fi
	# recovery, by the lifeboat that is in the root now (old or new binary)
	rc=0
	"$T/run/usr/bin/lifeboat" -q --root "$T/run" recover 2>"$T/err" || rc=$?
	state "$T/run" >"$T/got"
	if [ $rc != 0 ]; then
		echo "not ok - point $i: recover failed: $(cat "$T/err")"
		failn=$((failn + 1))
		continue
	fi
	if cmp -s "$T/got" "$T/old"; then
		old=$((old + 1))
	elif cmp -s "$T/got" "$T/new"; then
		new=$((new + 1))
	else
		echo "not ok - point $i: root is neither the old nor the new state"
		diff "$T/old" "$T/got" | head -${DIFFLINES:-5} | sed 's/^/#  old: /'
		diff "$T/new" "$T/got" | head -${DIFFLINES:-5} | sed 's/^/#  new: /'
		failn=$((failn + 1))
		continue
	fi
	if ! "$T/run/usr/bin/lifeboat" -q --root "$T/run" apply --pool "$POOL" "$T/d2" 2>"$T/err" ||
		! state "$T/run" | cmp -s - "$T/new"; then
		echo "not ok - point $i: the next apply did not reach the new state: $(cat "$T/err")"
		failn=$((failn + 1))
		continue
	fi
	pass=$((pass + 1))
done
echo "crash sweep: $N state-changing calls, $(( (N + STEP - 1) / STEP )) swept; recovered to old $old, to new $new"
echo "crashsweep: $pass passed, $failn failed"
[ $failn = 0 ]
