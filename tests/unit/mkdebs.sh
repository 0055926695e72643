#!/bin/sh
# Build the .deb fixtures of test_deb into directory $1: real packages with
# dpkg-deb (full-Z.deb and small-Z.deb for Z in gzip xz zstd none), and
# hand-made or malicious ones with python3 (py-*.deb). Deterministic content.
set -eu
out=$1
unset SOURCE_DATE_EPOCH
umask 022

mkroot() { # dir with_big
	r=$1
	mkdir -p "$r/DEBIAN" "$r/etc" "$r/usr/bin" "$r/usr/share/t" "$r/var/lib/t"
	printf 'Package: t\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: test\n' >"$r/DEBIAN/control"
	printf '/etc/t.conf\n' >"$r/DEBIAN/conffiles"
	for s in preinst postinst prerm postrm; do
		printf '#!/bin/sh\necho %s\n' "$s" >"$r/DEBIAN/$s"
		chmod 0755 "$r/DEBIAN/$s"
	done
	printf 'key=value\n' >"$r/etc/t.conf"
	printf '#!/bin/sh\necho hello\n' >"$r/usr/bin/hello"
	chmod 0755 "$r/usr/bin/hello"
	ln "$r/usr/bin/hello" "$r/usr/bin/hello2"
	ln -s hello "$r/usr/bin/hi"
	if [ "$2" = 1 ]; then
		python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(1).randbytes(1572864 + 123))' >"$r/usr/share/t/big"
	fi
	printf 'after big\n' >"$r/usr/share/t/zz"
	chmod 2775 "$r/var/lib/t"
	find "$r" -exec touch -h -d @1600000000 {} +
}

mkroot "$out/root" 1
mkroot "$out/sroot" 0
for z in gzip xz zstd none; do
	dpkg-deb --build --root-owner-group -Z$z "$out/root" "$out/full-$z.deb" >/dev/null
	dpkg-deb --build --root-owner-group -Z$z "$out/sroot" "$out/small-$z.deb" >/dev/null
done

python3 - "$out" <<'EOF'
import bz2, gzip, io, lzma, os, sys, tarfile

out = sys.argv[1]
CONTROL = b"Package: p\nVersion: 1\nArchitecture: all\nDescription: p\n"

def ar(members):
    b = b"!<arch>\n"
    for name, data in members:
        b += b"%-16s%-12d%-6d%-6d%-8s%-10d`\n" % (name.encode(), 0, 0, 0, b"100644", len(data))
        b += data + (b"\n" if len(data) % 2 else b"")
    return b

def compress(raw, comp):
    return {"": lambda d: d, "gz": lambda d: gzip.compress(d, mtime=0),
            "xz": lzma.compress, "bz2": bz2.compress}[comp](raw)

def tar(entries, comp="", fmt=tarfile.GNU_FORMAT):
    """entries: (name, type, dict of attributes, data)"""
    f = io.BytesIO()
    with tarfile.open(fileobj=f, mode="w", format=fmt) as t:
        for name, typ, attrs, data in entries:
            ti = tarfile.TarInfo(name)
            ti.type = typ
            ti.mode = 0o644
            ti.mtime = 1600000000
            for k, v in attrs.items():
                setattr(ti, k, v)
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return compress(f.getvalue(), comp)

def raw_tar(name, typeflag, mode, data=b""):
    """One ustar entry written by hand (modes/typeflags tarfile refuses)."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % len(data)
    h[136:148] = b"%011o\0" % 1600000000
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"%06o\0 " % sum(h)
    pad = b"\0" * (-len(data) % 512)
    return bytes(h) + data + pad + b"\0" * 1024

def ctl(extra=(), control=CONTROL, comp="gz"):
    e = [("./", tarfile.DIRTYPE, {"mode": 0o755}, None)]
    if control is not None:
        e.append(("./control", tarfile.REGTYPE, {}, control))
    e.extend(extra)
    return tar(e, comp)

def deb(name, data_entries=None, comp="xz", members=None, data=None, control=None):
    if data is None:
        data = tar([("./", tarfile.DIRTYPE, {"mode": 0o755}, None)] + (data_entries or []), comp)
    if members is None:
        members = [("debian-binary", b"2.0\n"), ("control.tar.gz", control or ctl()),
                   ("data.tar." + comp if comp else "data.tar", data)]
    with open(os.path.join(out, "py-" + name + ".deb"), "wb") as f:
        f.write(ar(members))

R, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
types = [
    ("./d/", D, {"mode": 0o2755, "uid": 1000, "gid": 1001, "mtime": 1234567890}, None),
    ("./d/f", R, {"mode": 0o4755, "uid": 5, "gid": 6, "mtime": 1700000000}, b"abc"),
    ("./d/l", S, {"mode": 0o777, "linkname": "../x/y"}, None),
    ("./d/h", H, {"linkname": "./d/f"}, None),
    ("./d/c", tarfile.CHRTYPE, {"mode": 0o620, "devmajor": 4, "devminor": 64}, None),
    ("./d/b", tarfile.BLKTYPE, {"mode": 0o660, "devmajor": 8, "devminor": 1}, None),
    ("./d/p", tarfile.FIFOTYPE, {"mode": 0o600, "uid": 65534, "gid": 65534}, None),
    ("./d/e", R, {"mode": 0o1777}, b""),
]
deb("types", types, "xz")
deb("types-bz2", types, "bz2")
deb("types-gz", types, "gz")
deb("types-none", types, "")
deb("types-pax", data=tar([("./", D, {}, None)] + types, "xz", tarfile.PAX_FORMAT))
scripts = [("./" + s, R, {"mode": 0o755}, b"#!/bin/sh\n" + s.encode() + b"\n")
           for s in ("preinst", "postinst", "prerm", "postrm")]
deb("control-xz", types, members=[("debian-binary", b"2.0\n"),
    ("control.tar.xz", ctl(scripts, comp="xz")), ("data.tar.xz", tar(types, "xz"))])
deb("control-none", types, members=[("debian-binary", b"2.0\n"),
    ("control.tar", ctl(scripts, comp="")), ("data.tar.xz", tar(types, "xz"))])
deb("underscore", members=[("debian-binary", b"2.0\n"), ("_gpgorigin", b"sig"),
    ("control.tar.gz", ctl()), ("_x", b""), ("data.tar.gz", tar(types, "gz")), ("_y", b"z")])

good_ctl, good_data = ctl(), tar(types, "xz")
bad = {
    "no-debian-binary": [("control.tar.gz", good_ctl), ("data.tar.xz", good_data)],
    "bad-version": [("debian-binary", b"3.0\n"), ("control.tar.gz", good_ctl), ("data.tar.xz", good_data)],
    "no-control": [("debian-binary", b"2.0\n"), ("data.tar.xz", good_data)],
    "no-data": [("debian-binary", b"2.0\n"), ("control.tar.gz", good_ctl)],
    "order": [("debian-binary", b"2.0\n"), ("data.tar.xz", good_data), ("control.tar.gz", good_ctl)],
    "unknown-member": [("debian-binary", b"2.0\n"), ("control.tar.gz", good_ctl), ("foo", b"x"),
                       ("data.tar.xz", good_data)],
    "after-data": [("debian-binary", b"2.0\n"), ("control.tar.gz", good_ctl),
                   ("data.tar.xz", good_data), ("extra", b"x")],
    "control-bz2": [("debian-binary", b"2.0\n"), ("control.tar.bz2", tar([("./control", R, {}, CONTROL)], "bz2")),
                    ("data.tar.xz", good_data)],
    "data-lzma": [("debian-binary", b"2.0\n"), ("control.tar.gz", good_ctl), ("data.tar.lzma", good_data)],
    "wrong-compression": [("debian-binary", b"2.0\n"), ("control.tar.gz", good_ctl),
                          ("data.tar.xz", tar(types, "gz"))],
    "control-missing": [("debian-binary", b"2.0\n"), ("control.tar.gz", ctl(scripts, control=None)),
                        ("data.tar.xz", good_data)],
    "control-dup": [("debian-binary", b"2.0\n"), ("control.tar.gz", ctl([("./control", R, {}, CONTROL)])),
                    ("data.tar.xz", good_data)],
    "control-symlink": [("debian-binary", b"2.0\n"),
                        ("control.tar.gz", tar([("./control", S, {"linkname": "/etc/passwd"}, None)], "gz")),
                        ("data.tar.xz", good_data)],
    "control-huge": [("debian-binary", b"2.0\n"), ("control.tar.gz", ctl(control=b"A" * ((1 << 20) + 1))),
                     ("data.tar.xz", good_data)],
    "control-bomb": [("debian-binary", b"2.0\n"),
                     ("control.tar.gz", ctl([("./junk", R, {}, b"\0" * (17 << 20))])),
                     ("data.tar.xz", good_data)],
    "control-not-tar": [("debian-binary", b"2.0\n"), ("control.tar.gz", gzip.compress(b"hello" * 200)),
                        ("data.tar.xz", good_data)],
    "data-empty": [("debian-binary", b"2.0\n"), ("control.tar.gz", good_ctl), ("data.tar.xz", b"")],
}
for name, members in bad.items():
    deb(name, members=members)
deb("dotdot", [("../etc/passwd", R, {}, b"x")])
deb("dotdot-mid", [("./a/../b", R, {}, b"x")])
deb("absolute", [("/etc/passwd", R, {}, b"x")])
deb("newline", [("./a\nb", R, {}, b"x")])
deb("dot", [("./a/./b", R, {}, b"x")])
deb("empty-component", [("./a//b", R, {}, b"x")])
deb("hardlink-escape", [("./a", H, {"linkname": "../etc/shadow"}, None)])
deb("hardlink-root", [("./a", H, {"linkname": "./"}, None)])
deb("root-file", [], data=lzma.compress(raw_tar(b".", b"0", 0o644, b"x")))
deb("root-damaged", [], data=lzma.compress(raw_tar(b"./", b"0", 0o644, b"x")))
utf8 = [("./\u00e9t\u00e9/caf\u00e9", R, {}, b"ab")]
deb("utf8-pax", data=tar(utf8, "xz", tarfile.PAX_FORMAT))
deb("utf8-gnu", data=tar(utf8, "xz", tarfile.GNU_FORMAT))
deb("socket", [], data=lzma.compress(raw_tar(b"./s", b"0", 0o140755)))
deb("unknown-type", [], data=lzma.compress(raw_tar(b"./u", b"Z", 0o644, b"abc")))
with open(os.path.join(out, "py-not-ar.deb"), "wb") as f:
    f.write(b"This is not an ar archive at all.\n" * 4)
EOF
