# Converging a root: install, upgrade, downgrade, orphans, Replaces, conflicts.

test_install_upgrade_downgrade() {
	mkpkg liba 1.0 -f usr/lib/liba=one -f usr/share/doc/liba/old=x
	mkpkg liba 2.0 -f usr/lib/liba=two -f usr/share/doc/liba/new=y
	mkpkg app 1:1.0 -d "liba (>= 1.0)" -f usr/bin/app=app1
	apply 1 liba=1.0 app=1:1.0
	assert_list "app 1:1.0 liba 1.0"
	assert_file usr/lib/liba one
	apply 2 liba=2.0 app=1:1.0
	assert_list "app 1:1.0 liba 2.0"
	assert_file usr/lib/liba two
	assert_no_file usr/share/doc/liba/old
	assert_file usr/share/doc/liba/new y
	# the master's version wins, also when it is lower
	apply 3 liba=1.0 app=1:1.0
	assert_list "app 1:1.0 liba 1.0"
	assert_file usr/lib/liba one
	assert_no_file usr/share/doc/liba/new
	lb verify >/dev/null
}

test_same_root_as_fresh_install() {
	mkpkg liba 1.0 -f usr/lib/liba=one -f etc/liba.conf=a -C etc/liba.conf
	mkpkg liba 2.0 -f usr/lib/liba=two -f usr/lib/liba-extra=e -f etc/liba.conf=b -C etc/liba.conf
	apply 1 liba=1.0
	apply 2 liba=2.0
	snapshot "$ROOT" | grep -v ' ./var/lib/lifeboat' >"$T/upgraded"
	rm -rf "$ROOT" && mkdir "$ROOT"
	apply 2 liba=2.0
	snapshot "$ROOT" | grep -v ' ./var/lib/lifeboat' >"$T/fresh"
	diff "$T/upgraded" "$T/fresh" || fail "upgrade and fresh install differ"
}

test_meta_package_replaced_removes_orphans() {
	mkpkg libold 1.0 -f usr/lib/libold=1
	mkpkg libcommon 1.0 -f usr/lib/libcommon=1
	mkpkg libnew 1.0 -f usr/lib/libnew=1
	mkpkg meta-old 1.0 -d "libold, libcommon"
	mkpkg meta-new 1.0 -d "libnew, libcommon"
	apply 1 meta-old=1.0 libold=1.0 libcommon=1.0
	apply 2 meta-new=1.0 libnew=1.0 libcommon=1.0
	assert_list "libcommon 1.0 libnew 1.0 meta-new 1.0"
	assert_no_file usr/lib/libold
	assert_file usr/lib/libnew
	assert_file usr/lib/libcommon
	# directories nobody owns any more go too, shared ones stay
	apply 3
	assert_list ""
	assert_no_file usr/lib
}

test_unchanged_state_is_a_noop() {
	mkpkg liba 1.0 -f usr/lib/liba=1
	apply 1 liba=1.0
	touch -d 2001-01-01 "$ROOT/usr/lib/liba"
	lb plan --pool "$POOL" "$T/desired.1" >"$T/plan"
	grep -q "^install\|^upgrade\|^remove" "$T/plan" && fail "plan is not empty: $(cat "$T/plan")"
	apply 1 liba=1.0
	[ "$(stat -c %Y "$ROOT/usr/lib/liba")" = "$(date -d 2001-01-01 +%s)" ] || fail "file rewritten"
}

test_plan_changes_nothing() {
	mkpkg liba 1.0 -f usr/lib/liba=1
	mkpkg liba 2.0 -f usr/lib/liba=2
	apply 1 liba=1.0
	snapshot "$ROOT" >"$T/before"
	desired "$T/d2" 2 liba=2.0
	lb plan --pool "$POOL" "$T/d2" >"$T/plan"
	grep -q "^upgrade *liba 1.0 -> 2.0" "$T/plan" || fail "plan: $(cat "$T/plan")"
	snapshot "$ROOT" >"$T/after"
	diff "$T/before" "$T/after" || fail "plan changed the root"
}

test_replaces_moves_a_file() {
	mkpkg tools 1.0 -f usr/bin/tool=old -f usr/bin/other=o
	mkpkg newtool 1.0 -r "tools (<< 2)" -f usr/bin/tool=new
	apply 1 tools=1.0
	apply 2 tools=1.0 newtool=1.0
	assert_file usr/bin/tool new
	lb files tools | grep -q /usr/bin/tool && fail "tools still owns /usr/bin/tool"
	lb files newtool | grep -q /usr/bin/tool || fail "newtool does not own /usr/bin/tool"
	lb verify >/dev/null
}

test_file_conflict_refused() {
	mkpkg aa 1.0 -f usr/bin/x=a
	mkpkg bb 1.0 -f usr/bin/x=b
	apply 1 aa=1.0
	snapshot "$ROOT" >"$T/before"
	desired "$T/d2" 2 aa=1.0 bb=1.0
	expect_fail 5 "/usr/bin/x is in both" lb apply --pool "$POOL" "$T/d2"
	snapshot "$ROOT" >"$T/after"
	diff "$T/before" "$T/after" || fail "root changed"
}

test_conflicts_and_unsatisfied_refused() {
	mkpkg aa 1.0 -c "bb"
	mkpkg bb 1.0
	mkpkg cc 1.0 -d "dd (>= 2)"
	mkpkg dd 1.0
	desired "$T/d1" 1 aa=1.0 bb=1.0
	expect_fail 4 "aa 1.0 conflicts with bb 1.0" lb apply --pool "$POOL" "$T/d1"
	desired "$T/d2" 2 cc=1.0 dd=1.0
	expect_fail 4 "cc 1.0: depends on dd (>= 2)" lb apply --pool "$POOL" "$T/d2"
	desired "$T/d3" 3 cc=1.0
	expect_fail 4 "not in the desired state" lb apply --pool "$POOL" "$T/d3"
	assert_list ""
}

test_provides_satisfies_depends() {
	mkpkg postfix 1.0 -P "mail-transport-agent" -c "mail-transport-agent"
	mkpkg mailer 1.0 -d "mail-transport-agent"
	apply 1 postfix=1.0 mailer=1.0
	assert_list "mailer 1.0 postfix 1.0"
}

test_compressions() {
	local z
	for z in gzip xz zstd none; do
		mkpkg "pkg-$z" 1.0 -Z "$z" -f "usr/share/$z=$z"
	done
	apply 1 pkg-gzip=1.0 pkg-xz=1.0 pkg-zstd=1.0 pkg-none=1.0
	for z in gzip xz zstd none; do
		assert_file "usr/share/$z" "$z"
	done
}

test_symlinks_and_modes() {
	mkpkg links 1.0 -f usr/lib/real=r -l usr/lib/rel=real -l usr/lib/abs=/usr/lib/real
	apply 1 links=1.0
	assert_eq "$(readlink "$ROOT/usr/lib/rel")" real
	assert_eq "$(readlink "$ROOT/usr/lib/abs")" /usr/lib/real
	mkpkg links 2.0 -f usr/lib/real=r2 -l usr/lib/rel=other
	apply 2 links=2.0
	assert_eq "$(readlink "$ROOT/usr/lib/rel")" other
	assert_no_file usr/lib/abs
	lb verify >/dev/null
}

test_package_through_usrmerge_symlink() {
	# a root whose /lib is a symlink to usr/lib, as on merged-/usr systems
	mkdir -p "$ROOT/usr/lib"
	ln -s usr/lib "$ROOT/lib"
	mkpkg libx 1.0 -f lib/libx.so=x
	apply 1 libx=1.0
	[ -L "$ROOT/lib" ] || fail "/lib symlink replaced"
	assert_file usr/lib/libx.so x
}

test_conffile_modified_locally_is_kept() {
	mkpkg svc 1.0 -f etc/svc.conf=v1 -C etc/svc.conf
	mkpkg svc 2.0 -f etc/svc.conf=v2 -C etc/svc.conf
	mkpkg svc 3.0 -f etc/svc.conf=v3 -C etc/svc.conf
	apply 1 svc=1.0
	apply 2 svc=2.0
	assert_file etc/svc.conf v2
	echo mine >"$ROOT/etc/svc.conf"
	apply 3 svc=3.0
	assert_file etc/svc.conf mine
	assert_file etc/svc.conf.lb-dist v3
}

test_list_status_files_json() {
	mkpkg liba 1.0 -f usr/lib/liba=1
	apply 7 liba=1.0
	lb status | grep -q "serial: *7" || fail "status: $(lb status)"
	lb --json list | grep -q '{"package":"liba","version":"1.0","state":"installed"}' ||
		fail "json list: $(lb --json list)"
	assert_eq "$(lb files liba | tr '\n' ' ')" "/usr /usr/lib /usr/lib/liba "
	expect_fail 4 "nosuch: not installed" lb files nosuch
}

test_verify_detects_changes() {
	mkpkg liba 1.0 -f usr/lib/liba=1 -f usr/lib/libb=2
	apply 1 liba=1.0
	echo changed >"$ROOT/usr/lib/liba"
	rm "$ROOT/usr/lib/libb"
	expect_fail 5 "2 installed paths differ" lb verify
	grep -q "/usr/lib/liba: size changed\|/usr/lib/liba: content changed" "$T/out" || fail "$(cat "$T/out")"
	grep -q "/usr/lib/libb: missing" "$T/out" || fail "$(cat "$T/out")"
}
