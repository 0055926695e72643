/* SPDX-License-Identifier: MIT */
/* lifeboat-master keygen [--force] KEYFILE: a new minisign key pair, unencrypted
 * (the master signs unattended): KEYFILE (secret, 0600) and KEYFILE.pub. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsop.h"
#include "master.h"

/* Split path into its directory (opened) and its last component. */
static int open_parent(const char *path, char dir[PATH_MAX], const char **base)
{
	const char *slash = strrchr(path, '/');
	*base = slash ? slash + 1 : path;
	if (!**base || !strcmp(*base, ".") || !strcmp(*base, ".."))
		return lb_errf(-LBE_USAGE, "%s: not a file name", path);
	size_t n = slash ? (size_t)(slash - path) : 1;
	if (n >= PATH_MAX)
		return lb_errf(-ENAMETOOLONG, "%s: name too long", path);
	if (!slash)
		strcpy(dir, ".");
	else if (n == 0)
		strcpy(dir, "/");
	else {
		memcpy(dir, path, n);
		dir[n] = 0;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? lb_errf(-errno, "%s: %s", dir, strerror(errno)) : fd;
}

int cmd_keygen(int argc, char **argv)
{
	const char *file = NULL;
	int force = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--force"))
			force = 1;
		else if (argv[i][0] == '-' || file)
			return mx_fail(
			    lb_errf(-LBE_USAGE, "keygen: unexpected argument '%s'", argv[i]),
			    MX_USAGE);
		else
			file = argv[i];
	}
	if (!file)
		return mx_fail(
		    lb_errf(-LBE_USAGE, "usage: lifeboat-master keygen [--force] KEYFILE"),
		    MX_USAGE);
	char dir[PATH_MAX], pub[NAME_MAX + 1];
	const char *base;
	int dirfd = open_parent(file, dir, &base);
	if (dirfd < 0)
		return mx_fail(dirfd, dirfd == -LBE_USAGE ? MX_USAGE : MX_IO);
	int r = 0;
	if (snprintf(pub, sizeof pub, "%s.pub", base) >= (int)sizeof pub)
		r = lb_errf(-ENAMETOOLONG, "%s.pub: name too long", file);
	else if (!force && (!faccessat(dirfd, base, F_OK, AT_SYMLINK_NOFOLLOW) ||
	                    !faccessat(dirfd, pub, F_OK, AT_SYMLINK_NOFOLLOW)))
		r = lb_errf(-EEXIST, "%s: a key exists already; refusing to replace it (--force)",
		            file);
	struct lb_mkey key;
	memset(&key, 0, sizeof key);
	if (!r && (r = lb_minisign_keygen(&key)) < 0)
		lb_err_prefix(r, "keygen");
	if (!r && (r = lb_minisign_write_keys(dirfd, base, &key)) < 0)
		lb_err_prefix(r, "%s", file);
	close(dirfd);
	if (r < 0) {
		lb_minisign_wipe(&key);
		return mx_fail(r, r == -EEXIST ? MX_USAGE : MX_IO);
	}
	char id[17];
	lb_minisign_keyid_hex(key.id, id);
	lb_minisign_wipe(&key);
	printf("key %s: secret key %s, public key %s.pub\n", id, file, file);
	return MX_OK;
}
