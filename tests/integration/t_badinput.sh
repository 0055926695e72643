# Refused input: damaged or hostile .debs, bad desired states, a full disk,
# state files lifeboat does not understand. Every refusal leaves the root as it was.

# rawdeb OUT NAME VERSION SPEC...: a .deb built member by member with python's
# tarfile, so that it can hold what dpkg-deb never writes. SPEC is one of
#   f:PATH=CONTENT  d:PATH  l:PATH=TARGET (symlink)  h:PATH=TARGET (hard link)
#   c:PATH=MAJ,MIN (char device)  b:PATH=MAJ,MIN (block device)
# PATH is used as written if it starts with '.' or '/', else "./" is prepended.
rawdeb() {
	python3 - "$@" <<'EOF'
import io, sys, tarfile, time
out, name, version, specs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

def tar_gz(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()

def info(path, kind, mode):
    ti = tarfile.TarInfo(path)
    ti.type, ti.mode, ti.mtime, ti.uname, ti.gname = kind, mode, 1700000000, "root", "root"
    return ti

data = [(info("./", tarfile.DIRTYPE, 0o755), None)]
for s in specs:
    kind, rest = s.split(":", 1)
    path, _, arg = rest.partition("=")
    if not path.startswith((".", "/")):
        path = "./" + path
    if kind == "f":
        b = (arg + "\n").encode()
        ti = info(path, tarfile.REGTYPE, 0o644)
        ti.size = len(b)
        data.append((ti, b))
    elif kind == "d":
        data.append((info(path, tarfile.DIRTYPE, 0o755), None))
    elif kind in "lh":
        ti = info(path, tarfile.SYMTYPE if kind == "l" else tarfile.LNKTYPE, 0o777 if kind == "l" else 0o644)
        ti.linkname = arg
        data.append((ti, None))
    elif kind in "cb":
        ti = info(path, tarfile.CHRTYPE if kind == "c" else tarfile.BLKTYPE, 0o600)
        ti.devmajor, ti.devminor = (int(x) for x in arg.split(","))
        data.append((ti, None))
    else:
        sys.exit("rawdeb: bad spec " + s)

control = ("Package: %s\nVersion: %s\nArchitecture: all\n"
           "Maintainer: lifeboat tests <t@example.invalid>\nDescription: raw test package\n"
           % (name, version)).encode()
cti = info("./control", tarfile.REGTYPE, 0o644)
cti.size = len(control)
members = [("debian-binary", b"2.0\n"),
           ("control.tar.gz", tar_gz([(info("./", tarfile.DIRTYPE, 0o755), None), (cti, control)])),
           ("data.tar.gz", tar_gz(data))]
with open(out, "wb") as f:
    f.write(b"!<arch>\n")
    for n, b in members:
        f.write(("%-16s%-12d%-6d%-6d%-8s%-10d`\n" % (n, 1700000000, 0, 0, "100644", len(b))).encode())
        f.write(b)
        if len(b) & 1:
            f.write(b"\n")
EOF
}

# member_span DEB NAME-PREFIX: "offset size" of the first ar member so named
member_span() {
	python3 - "$1" "$2" <<'EOF'
import sys
b = open(sys.argv[1], "rb").read()
off = 8
while off + 60 <= len(b):
    name, size = b[off:off + 16].decode().strip(), int(b[off + 48:off + 58])
    if name.rstrip("/").startswith(sys.argv[2]):
        print(off + 60, size)
        sys.exit(0)
    off += 60 + size + (size & 1)
sys.exit("no member " + sys.argv[2])
EOF
}

# flip DEB OFFSET COUNT: invert COUNT bytes from OFFSET
flip() {
	python3 - "$@" <<'EOF'
import sys
path, off, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "r+b") as f:
    f.seek(off)
    b = bytes(x ^ 0xff for x in f.read(n))
    f.seek(off)
    f.write(b)
EOF
}

# an installed package, so that "unchanged" means something
preinstalled() {
	mkpkg keep 1.0 -f usr/share/keep=kept -f etc/keep.conf=k -C etc/keep.conf
	apply 1 keep=1.0 >/dev/null 2>&1
	snapshot "$ROOT" >"$T/before"
}

assert_unchanged() {
	snapshot "$ROOT" >"$T/after"
	diff "$T/before" "$T/after" >&2 || fail "root changed${1:+ ($1)}"
}

# refused CODE PATTERN name=version...: applying keep=1.0 plus these fails as said
refused() {
	local code=$1 pat=$2
	shift 2
	desired "$T/bad" 2 keep=1.0 "$@"
	expect_fail "$code" "$pat" lb apply --pool "$POOL" "$T/bad"
	[ -z "${LB_SHOW:-}" ] || echo "refused: $(cat "$T/err")" >&2
	[ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err" >&2; fail "message is not one line"; }
	assert_unchanged "$*"
}

test_corrupt_data_tar_refused() {
	preinstalled
	local z deb off size
	head -c 200000 /dev/urandom >"$T/blob"
	for z in gzip xz zstd; do
		deb="$POOL/bad-$z"_1.0_all.deb
		mkpkg "bad-$z" 1.0 -Z "$z" -F "usr/lib/blob=@$T/blob" -f usr/lib/small=s -o "$deb"
		read -r off size <<<"$(member_span "$deb" data.tar)"
		flip "$deb" $((off + size / 2)) 16
		refused 5 "bad-${z}_1.0_all.deb: data.tar" "bad-$z=1.0"
		# the file has its full length: "truncated" would send one looking
		# for an interrupted download
		grep -qi truncat "$T/err" && fail "corrupt $z data called truncated: $(cat "$T/err")"
		rm "$deb"
	done
	# uncompressed: a damaged tar header is refused by its checksum
	deb="$POOL/bad-none_1.0_all.deb"
	mkpkg bad-none 1.0 -Z none -f usr/lib/small=s -o "$deb"
	read -r off size <<<"$(member_span "$deb" data.tar)"
	flip "$deb" $((off + 512 + 100)) 8
	refused 5 "bad-none_1.0_all.deb: data.tar" "bad-none=1.0"
}

test_truncated_deb_refused() {
	preinstalled
	local full="$T/full.deb" deb="$POOL/trunc_1.0_all.deb" coff csize doff dsize len at
	head -c 50000 /dev/urandom >"$T/blob"
	mkpkg trunc 1.0 -F "usr/lib/blob=@$T/blob" -s postinst="true" -o "$full"
	len=$(stat -c %s "$full")
	read -r coff csize <<<"$(member_span "$full" control.tar)"
	read -r doff dsize <<<"$(member_span "$full" data.tar)"
	# empty, in the magic, in the first header, in debian-binary, in control.tar's
	# header and data, at its last byte, in data.tar's header and data, last byte
	for at in 0 4 8 30 70 $((coff - 20)) $((coff + csize / 2)) $((coff + csize - 1)) \
	          $((doff - 60)) $((doff - 30)) $((doff + 10)) $((doff + dsize / 2)) $((len - 1)); do
		head -c "$at" "$full" >"$deb"
		if [ "$at" = 8 ]; then # the ar magic alone: an empty ar archive
			refused 5 "trunc_1.0_all.deb: debian-binary missing" trunc=1.0
		elif [ "$at" = $((doff - 60)) ]; then # cut between members
			refused 5 "trunc_1.0_all.deb: data.tar missing" trunc=1.0
		else
			refused 5 "trunc_1.0_all.deb: .*[Tt]runcated" trunc=1.0
		fi
	done
}

test_not_an_ar_file_refused() {
	preinstalled
	echo "this is not a debian package" >"$POOL/junk_1.0_all.deb"
	refused 5 "junk_1.0_all.deb: not a .deb" junk=1.0
	# a tar, not an ar
	tar -C "$T" -cf "$POOL/junk_1.0_all.deb" before
	refused 5 "junk_1.0_all.deb: not a .deb" junk=1.0
}

test_path_traversal_refused() {
	preinstalled
	rawdeb "$POOL/evil_1.0_all.deb" evil 1.0 f:usr/ok=ok f:../x=escaped
	refused 5 "evil_1.0_all.deb: .*'../x' escapes the root" evil=1.0
	rawdeb "$POOL/evil_1.0_all.deb" evil 1.0 f:usr/ok=ok f:./usr/../../x=escaped
	refused 5 "evil_1.0_all.deb: .*'..' component" evil=1.0
	[ ! -e "$T/x" ] && [ ! -e "$ROOT/x" ] || fail "../x was written"
}

test_absolute_path_refused() {
	preinstalled
	rawdeb "$POOL/evil_1.0_all.deb" evil 1.0 f:usr/ok=ok "f:$T/abs=escaped"
	refused 5 "evil_1.0_all.deb: .*'$T/abs' is absolute" evil=1.0
	[ ! -e "$T/abs" ] || fail "absolute path written on the host"
}

test_symlink_escape_in_one_package() {
	# a package whose file lies under its own symlink: refused as a bad
	# package, and nothing ever lands outside the root
	preinstalled
	local target rc
	mkdir "$T/outside"
	for target in "$T/outside" ../../.. ../../../../..; do
		rawdeb "$POOL/evil_1.0_all.deb" evil 1.0 "l:evil=$target" "f:evil/lbtest-escape-$$=escaped"
		desired "$T/bad" 2 keep=1.0 evil=1.0
		rc=0
		lb apply --pool "$POOL" "$T/bad" 2>"$T/err" || rc=$?
		[ ! -e "$T/outside/lbtest-escape-$$" ] && [ ! -e "$T/lbtest-escape-$$" ] &&
			[ ! -e "/lbtest-escape-$$" ] || fail "evil/x landed outside the root (target $target)"
		[ "$rc" = 5 ] || fail "evil -> $target, evil/x: exit $rc, expected 5: $(cat "$T/err")"
		grep -q "evil: /evil/lbtest-escape-$$ lies beneath the symlink /evil" "$T/err" || fail "message: $(cat "$T/err")"
		assert_unchanged "evil -> $target"
	done
}

test_symlink_escape_across_packages() {
	# the symlink is installed first; a later package (no directory entries,
	# as a hand-made .deb may be) writes beneath it: the file may only ever land
	# inside the root, if anywhere
	mkdir "$T/outside"
	rawdeb "$POOL/links_1.0_all.deb" links 1.0 "l:evil=$T/outside" l:up=../../..
	rawdeb "$POOL/through_1.0_all.deb" through 1.0 "f:evil/lbtest-escape-$$=escaped" \
		"f:up/lbtest-escape-$$=escaped"
	apply 1 links=1.0 2>"$T/err" || fail "$(cat "$T/err")"
	apply 2 links=1.0 through=1.0 2>"$T/err" || true
	[ ! -e "$T/outside/lbtest-escape-$$" ] ||
		fail "file written through a symlink outside the root: $T/outside"
	[ ! -e "/lbtest-escape-$$" ] && [ ! -e "$T/lbtest-escape-$$" ] ||
		fail "file written through ../../.. outside the root"
	# whatever happened, the root is consistent
	lb verify >/dev/null 2>&1 || fail "verify fails after: $(cat "$T/err")"
}

test_hardlink_outside_package_refused() {
	preinstalled
	rawdeb "$POOL/evil_1.0_all.deb" evil 1.0 f:usr/ok=ok h:usr/h=etc/keep.conf
	refused 5 "evil: hardlink usr/h -> etc/keep.conf leaves the package" evil=1.0
	rawdeb "$POOL/evil_1.0_all.deb" evil 1.0 f:usr/ok=ok h:usr/h=../../etc/passwd
	refused 5 "evil_1.0_all.deb: .*hard link 'usr/h'.*escapes the root" evil=1.0
	rawdeb "$POOL/evil_1.0_all.deb" evil 1.0 f:usr/ok=ok h:usr/h=/etc/passwd
	refused 5 "evil_1.0_all.deb: .*hard link 'usr/h'.*absolute" evil=1.0
	[ "$(cat "$ROOT/etc/keep.conf")" = k ] || fail "keep.conf changed"
}

test_device_node_needs_allow_devices() {
	preinstalled
	rawdeb "$POOL/dev_1.0_all.deb" dev 1.0 d:dev c:dev/null2=1,3 b:dev/loopx=7,200
	refused 5 "dev/null2: device node (allow with --allow-devices)" dev=1.0
	desired "$T/ok" 3 keep=1.0 dev=1.0
	lb --allow-devices apply --pool "$POOL" "$T/ok" 2>"$T/err" || fail "$(cat "$T/err")"
	[ -c "$ROOT/dev/null2" ] || fail "/dev/null2 is not a character device"
	assert_eq "$(stat -c %t,%T "$ROOT/dev/null2")" 1,3 "device numbers"
	[ -b "$ROOT/dev/loopx" ] || fail "/dev/loopx is not a block device"
}

test_unsatisfied_dependency_refused() {
	preinstalled
	mkpkg app 1.0 -d "libz (>= 2)"
	mkpkg libz 1.0
	refused 4 "app 1.0: depends on libz (>= 2), but the desired state has libz 1.0" app=1.0 libz=1.0
	refused 4 "app 1.0: depends on libz (>= 2), which is not in the desired state" app=1.0
	mkpkg early 1.0 -p "nosuch"
	refused 4 "early 1.0: pre-depends on nosuch" early=1.0
}

test_predepends_cycle_refused_depends_cycle_ok() {
	preinstalled
	mkpkg pa 1.0 -p pb -f usr/share/pa=a
	mkpkg pb 1.0 -d pc -f usr/share/pb=b
	mkpkg pc 1.0 -d pa -f usr/share/pc=c
	refused 4 "dependency cycle through Pre-Depends: pa -> pb -> pc -> pa" pa=1.0 pb=1.0 pc=1.0
	mkpkg da 1.0 -d db -f usr/share/da=a
	mkpkg db 1.0 -d da -f usr/share/db=b
	apply 3 keep=1.0 da=1.0 db=1.0 2>"$T/err" || fail "Depends cycle refused: $(cat "$T/err")"
	assert_list "da 1.0 db 1.0 keep 1.0"
}

test_package_missing_from_pool() {
	preinstalled
	refused 4 "ghost 1.0: no ghost_1.0_\*.deb in pool $POOL" ghost=1.0
	# present, but another version
	mkpkg ghost 2.0
	refused 4 "ghost 1.0: no ghost_1.0_\*.deb in pool" ghost=1.0
	# a file named like it whose control says otherwise
	mkpkg other 1.0 -o "$POOL/ghost_1.0_all.deb"
	refused 4 "ghost 1.0: no ghost_1.0_" ghost=1.0
}

test_bad_desired_state_refused() {
	preinstalled
	bad() {
		local pat=$1
		printf "$2" >"$T/bad"
		expect_fail 4 "$pat" lb apply --pool "$POOL" "$T/bad"
		[ "$(wc -l <"$T/err")" = 1 ] || fail "message is not one line: $(cat "$T/err")"
		assert_unchanged "$2"
	}
	bad "$T/bad: missing field 'Serial'" 'Packages: keep (= 1.0)\n'
	bad "$T/bad: field 'Serial': bad value" 'Serial: -1\nPackages: keep (= 1.0)\n'
	bad "$T/bad: missing field 'Packages'" 'Serial: 2\n'
	bad "$T/bad: field 'Packages': 'keep' without '(= version)'" 'Serial: 2\nPackages: keep\n'
	bad "$T/bad: field 'Packages': 'keep' without '(= version)'" 'Serial: 2\nPackages: keep (>= 1.0)\n'
	bad "$T/bad: field 'Packages'" 'Serial: 2\nPackages: keep (= 1.0\n'
	bad "$T/bad: field 'Packages': duplicate package 'keep'" 'Serial: 2\nPackages: keep (= 1.0), keep (= 1.0)\n'
	bad "$T/bad: .*more than one paragraph" 'Serial: 2\nPackages: keep (= 1.0)\n\nSerial: 3\n'
	bad "$T/bad: empty desired state" ''
	bad "$T/bad: " 'this is not deb822\n'
	bad "$T/bad: field 'SHA256': entry 1: bad hash" 'Serial: 2\nPackages: keep (= 1.0)\nSHA256:\n abc 12 keep_1.0\n'
	# a newer Format is not "bad": it is exit 8, like the other newer formats
	printf 'Format: 99\nSerial: 2\nPackages: keep (= 1.0)\n' >"$T/bad"
	expect_fail 8 "$T/bad: Format 99 is newer" lb apply --pool "$POOL" "$T/bad"
	assert_unchanged
}

test_desired_sha256_mismatch_refused() {
	preinstalled
	mkpkg app 1.0 -f usr/bin/app=1
	local deb="$POOL/app_1.0_all.deb" sha size keepsha keepsize
	sha=$(sha256sum "$deb" | cut -c1-64)
	size=$(stat -c %s "$deb")
	keepsha=$(sha256sum "$POOL/keep_1.0_all.deb" | cut -c1-64)
	keepsize=$(stat -c %s "$POOL/keep_1.0_all.deb")
	withsha() {
		printf 'Serial: 2\nPackages: keep (= 1.0), app (= 1.0)\nSHA256:\n %s %s keep_1.0\n %s %s app_1.0\n' \
			"$keepsha" "$keepsize" "$1" "$2" >"$T/d"
	}
	withsha "$(echo "$sha" | tr 0-9a-f 1-9a-f0)" "$size"
	expect_fail 5 "$deb: sha256 $sha size $size, the desired state says" lb apply --pool "$POOL" "$T/d"
	assert_unchanged
	withsha "$sha" $((size + 1))
	expect_fail 5 "$deb: sha256 $sha size $size, the desired state says $sha $((size + 1))" \
		lb apply --pool "$POOL" "$T/d"
	assert_unchanged
	withsha "$sha" "$size"
	lb apply --pool "$POOL" "$T/d" 2>"$T/err" || fail "right hash refused: $(cat "$T/err")"
	assert_file usr/bin/app 1
}

# mount a small ext4 on $ROOT (8 MiB unless told); skip when impossible
small_root() {
	truncate -s "${1:-8M}" "$T/img"
	mkfs.ext4 -q ${2:-} "$T/img" || fail "mkfs.ext4 failed"
	if ! mount -o loop "$T/img" "$ROOT" 2>"$T/mnt.err"; then
		echo "SKIP: cannot loop-mount a file system: $(cat "$T/mnt.err")" >&2
		return 1
	fi
	trap 'umount "$ROOT" 2>/dev/null || umount -l "$ROOT"; teardown' EXIT
	rmdir "$ROOT/lost+found"
}

test_disk_full_refused_before_writing() {
	small_root || return 0
	preinstalled
	head -c 12000000 /dev/urandom >"$T/big"
	mkpkg huge 1.0 -F "usr/lib/huge=@$T/big" -f usr/lib/small=s
	refused 6 "$ROOT: the transaction needs [0-9]* KiB, [0-9]* KiB free" huge=1.0
	assert_no_file usr/lib/huge.lb-new
}

test_disk_full_while_writing_rolls_back() {
	# few inodes: the byte estimate passes, creating the files runs out
	small_root 8M "-N 64" || return 0
	preinstalled
	local args="" i
	for i in $(seq 1 100); do
		args="$args -f usr/share/many/f$i=$i"
	done
	# shellcheck disable=SC2086
	mkpkg many 1.0 $args
	refused 6 "No space left on device" many=1.0
	lb verify >/dev/null || fail "verify after a rolled-back full disk"
}

test_newer_database_format_refused() {
	preinstalled
	sed -i 's/^Lifeboat-Db: .*/Lifeboat-Db: 99/' "$ROOT/var/lib/lifeboat/db"
	snapshot "$ROOT" >"$T/before"
	mkpkg app 1.0
	desired "$T/d" 2 keep=1.0 app=1.0
	expect_fail 8 "package database db: format 99 is newer than this lifeboat understands" \
		lb apply --pool "$POOL" "$T/d"
	expect_fail 8 "format 99 is newer" lb list
	expect_fail 8 "format 99 is newer" lb verify
	assert_unchanged
}

test_damaged_database_refused() {
	preinstalled
	sed -i '/^Lifeboat-Db/d' "$ROOT/var/lib/lifeboat/db"
	snapshot "$ROOT" >"$T/before"
	expect_fail 8 "package database db: no Lifeboat-Db header" lb list
	desired "$T/d" 2 keep=1.0
	expect_fail 8 "package database db: no Lifeboat-Db header" lb apply --pool "$POOL" "$T/d"
	assert_unchanged
}

test_newer_journal_format_refused() {
	preinstalled
	printf 'lifeboat-journal 99\nT 1\nZ something new\n' >"$ROOT/var/lib/lifeboat/journal"
	snapshot "$ROOT" >"$T/before"
	desired "$T/d" 2 keep=1.0
	expect_fail 8 "journal format 99 is newer than this lifeboat understands" \
		lb apply --pool "$POOL" "$T/d"
	expect_fail 8 "journal format 99 is newer" lb recover
	expect_fail 8 "journal format 99 is newer" lb list
	assert_unchanged
	grep -q '^lifeboat-journal 99$' "$ROOT/var/lib/lifeboat/journal" || fail "journal not left in place"
}

test_damaged_journal_refused() {
	preinstalled
	local j="$ROOT/var/lib/lifeboat/journal" bad
	for bad in 'garbage\n' \
	           'lifeboat-journal 1\nT 5\nD usr/x\nP 0000000000000000000000000000000000000000000000000000000000000000\nC 0000000000000000000000000000000000000000000000000000000000000000\n' \
	           'lifeboat-journal 1\nT 5\nQ what\n'; do
		printf "$bad" >"$j"
		snapshot "$ROOT" >"$T/before"
		desired "$T/d" 2 keep=1.0
		expect_fail 8 "journal: damaged at line [0-9]*; the root was left as it is" \
			lb apply --pool "$POOL" "$T/d"
		expect_fail 8 "journal: damaged at line" lb recover
		assert_unchanged "$bad"
	done
}

test_torn_journal_is_discarded() {
	# a journal without its P record was never synced: nothing happened yet
	preinstalled
	printf 'lifeboat-journal 1\nT 5\nD usr/x\nR usr/x/y\n' >"$ROOT/var/lib/lifeboat/journal"
	lb recover 2>"$T/err" || fail "recover: $(cat "$T/err")"
	assert_no_file var/lib/lifeboat/journal
	assert_unchanged
}

test_unparsable_database_version_is_damaged_not_newer() {
	preinstalled
	sed -i 's/^Lifeboat-Db: .*/Lifeboat-Db: x1/' "$ROOT/var/lib/lifeboat/db"
	snapshot "$ROOT" >"$T/before"
	expect_fail 8 "package database db: " lb list
	grep -q "newer" "$T/err" && fail "an unparsable format called newer: $(cat "$T/err")"
	assert_unchanged
}
