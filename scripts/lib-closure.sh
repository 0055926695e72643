# shellcheck shell=sh
# Shared-library closures for image builders: sourced (". scripts/lib-closure.sh"),
# not run. The same approach as scripts/build-initramfs.sh: an ELF's libraries are
# read from its DT_NEEDED entries (what ldd would print, without running it), found
# in the sysroot's or the host's library directories, copied stripped into ROOT,
# and followed recursively. Every library lands once, in ROOT/lib/x86_64-linux-gnu;
# the program interpreter at its own path (/lib64/ld-linux-x86-64.so.2).
#
# The caller sets, before calling anything here:
#   ROOT      the image's staging directory (absolute)
#   SYSROOT   unpacked Debian packages (absolute)          [scripts/fetch-debs.sh]
# and defines two functions:
#   die MSG...             print "SCRIPT: MSG" and exit non-zero
#   record COMPONENT PATH  note that PATH (relative to ROOT) belongs to COMPONENT
#                          (for a size breakdown; may do nothing)
#
# Functions:
#   is_elf FILE                       true for an ELF file
#   needed FILE                       its DT_NEEDED sonames, one a line
#   interp FILE                       its program interpreter, if any
#   find_lib NAME DIR...              the first DIR/NAME that exists
#   install_elf COMP SRC DEST WHERE   copy SRC stripped to ROOT/DEST (0755), then its
#                                     closure; WHERE = sysroot|host: whose library
#                                     directories are searched first
#   install_libs COMP ELF WHERE       just the closure of ELF
#   install_dlopen COMP ELF WHERE NAME...
#                                     libraries ELF loads with dlopen (invisible to
#                                     DT_NEEDED) and their closures; a NAME that ELF's
#                                     bytes do not mention is skipped

LC_MULTIARCH=${LC_MULTIARCH:-x86_64-linux-gnu}
LC_LIBDIR=lib/$LC_MULTIARCH

is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = "177ELF" ]; }
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
interp() { readelf -l "$1" 2>/dev/null | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]$/\1/p'; }

lc_sys_dirs() {
	echo "$SYSROOT/lib/$LC_MULTIARCH $SYSROOT/usr/lib/$LC_MULTIARCH $SYSROOT/lib $SYSROOT/usr/lib"
}
lc_host_dirs() { echo "/lib/$LC_MULTIARCH /usr/lib/$LC_MULTIARCH /lib /usr/lib"; }
lc_dirs() { # WHERE
	if [ "$1" = host ]; then echo "$(lc_host_dirs) $(lc_sys_dirs)"; else echo "$(lc_sys_dirs) $(lc_host_dirs)"; fi
}

find_lib() { # NAME DIRS...
	_n=$1
	shift
	for _d in "$@"; do
		[ -e "$_d/$_n" ] && {
			echo "$_d/$_n"
			return 0
		}
	done
	return 1
}

# lc_copy SRC DEST MODE: copy stripped (a copy as is when strip refuses the file)
lc_copy() {
	mkdir -p "$ROOT/$(dirname "$2")"
	rm -f "$ROOT/$2"
	strip --strip-unneeded -o "$ROOT/$2" "$1" 2>/dev/null || cp -L "$1" "$ROOT/$2"
	chmod "$3" "$ROOT/$2"
}

install_elf() { # COMPONENT SRC DEST WHERE
	lc_copy "$2" "$3" 0755
	record "$1" "$3"
	install_libs "$1" "$2" "$4"
}

# Recursive: every variable that must survive the recursive call is a positional
# parameter (POSIX sh has no local variables).
install_libs() { # COMPONENT ELF WHERE
	_i=$(interp "$2")
	if [ -n "$_i" ] && [ ! -e "$ROOT$_i" ]; then
		# shellcheck disable=SC2046
		_p=$(find_lib "$(basename "$_i")" $(lc_dirs "$3")) || die "interpreter $_i of $2 not found"
		mkdir -p "$ROOT$(dirname "$_i")"
		cp -L "$_p" "$ROOT$_i"
		chmod 0755 "$ROOT$_i"
		record "$1" "${_i#/}"
	fi
	for _n in $(needed "$2"); do
		[ -e "$ROOT/$LC_LIBDIR/$_n" ] && continue
		# shellcheck disable=SC2046
		_p=$(find_lib "$_n" $(lc_dirs "$3")) || die "library $_n needed by $2 not found"
		lc_copy "$_p" "$LC_LIBDIR/$_n" 0644
		record "$1" "$LC_LIBDIR/$_n"
		install_libs "$1" "$_p" "$3"
	done
}

install_dlopen() { # COMPONENT ELF WHERE NAME...
	_c=$1 _e=$2 _w=$3
	shift 3
	for _dl in "$@"; do
		grep -qaF "$_dl" "$_e" || continue
		[ -e "$ROOT/$LC_LIBDIR/$_dl" ] && continue
		# shellcheck disable=SC2046
		_p=$(find_lib "$_dl" $(lc_dirs "$_w")) || die "$_dl (dlopened by $_e) not found"
		lc_copy "$_p" "$LC_LIBDIR/$_dl" 0644
		record "$_c" "$LC_LIBDIR/$_dl"
		install_libs "$_c" "$_p" "$_w"
	done
}
