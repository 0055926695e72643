# lifeboat replacing itself: the installed binary applies the state that
# upgrades (and downgrades) the package it comes from.

# mkself VERSION: package "lifeboat" with usr/bin/lifeboat, a copy of the real
# binary (bytes appended after the ELF image make each version's copy
# distinct), and a version marker
mkself() {
	cp "$LIFEBOAT" "$T/lifeboat-$1"
	printf '\nlifeboat test build %s\n' "$1" >>"$T/lifeboat-$1"
	chmod 755 "$T/lifeboat-$1"
	mkpkg lifeboat "$1" -F "usr/bin/lifeboat=@$T/lifeboat-$1" \
		-f "usr/share/lifeboat/version=$1"
}

# self ARGS...: run the lifeboat installed in the root on the root
self() {
	"$ROOT/usr/bin/lifeboat" --root "$ROOT" "$@"
}

# is_version V: the installed binary is version V's, and it says so
is_version() {
	cmp -s "$ROOT/usr/bin/lifeboat" "$T/lifeboat-$1" || fail "/usr/bin/lifeboat is not $1's"
	[ -x "$ROOT/usr/bin/lifeboat" ] || fail "/usr/bin/lifeboat not executable"
	assert_file usr/share/lifeboat/version "$1"
	assert_eq "$(self list | tr '\n' ' ')" "lifeboat $1 " "list from the installed binary"
	self verify >"$T/verify" 2>&1 || fail "verify: $(cat "$T/verify")"
}

test_self_upgrade_and_downgrade() {
	mkself 1.0
	mkself 2.0
	apply 1 lifeboat=1.0 2>"$T/err" || fail "install: $(cat "$T/err")"
	is_version 1.0
	desired "$T/d2" 2 lifeboat=2.0
	self apply --pool "$POOL" "$T/d2" 2>"$T/err" || fail "self-upgrade: $(cat "$T/err")"
	is_version 2.0
	desired "$T/d3" 3 lifeboat=1.0
	self apply --pool "$POOL" "$T/d3" 2>"$T/err" || fail "self-downgrade: $(cat "$T/err")"
	is_version 1.0
	self status | grep -q "serial: *3" || fail "status: $(self status)"
	# the replaced binary left nothing behind
	[ -z "$(find "$ROOT" -name '*.lb-new' -o -name '*.lb-dist')" ] || fail "leftovers: $(find "$ROOT" -name '*.lb-*')"
}

test_self_upgrade_with_other_packages() {
	# the binary's own package upgraded in the same transaction as others,
	# and a second run of the new binary is a no-op
	mkself 1.0
	mkself 2.0
	mkpkg tool 1.0 -f usr/bin/tool=1
	mkpkg tool 2.0 -f usr/bin/tool=2 -f usr/share/tool/extra=x
	apply 1 lifeboat=1.0 tool=1.0 2>"$T/err" || fail "install: $(cat "$T/err")"
	desired "$T/d2" 2 lifeboat=2.0 tool=2.0
	self apply --pool "$POOL" "$T/d2" 2>"$T/err" || fail "self-upgrade: $(cat "$T/err")"
	cmp -s "$ROOT/usr/bin/lifeboat" "$T/lifeboat-2.0" || fail "binary not upgraded"
	assert_eq "$(self list | tr '\n' ' ')" "lifeboat 2.0 tool 2.0 " "list"
	snapshot "$ROOT" >"$T/before"
	self apply --pool "$POOL" "$T/d2" 2>"$T/err" || fail "again: $(cat "$T/err")"
	snapshot "$ROOT" >"$T/after"
	diff "$T/before" "$T/after" || fail "second run changed the root"
	self verify >/dev/null || fail verify
}
