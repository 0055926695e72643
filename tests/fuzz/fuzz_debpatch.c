/* SPDX-License-Identifier: MIT */
/* Package delta decoder (rescue-agent/debpatch.c): any input is refused or
 * rebuilt without crashing, leaking or reading outside the root's base files.
 * The base package is a fixed one: two files in a temporary root with their
 * sha256 in its record; the input's header names its base and content hash, so
 * random inputs get past those checks to the streams. */
#include <fcntl.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debpatch.h"
#include "pkgdelta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rootfd = -1;
static char tmpdir[] = "/tmp/fuzz-debpatch.XXXXXX";
static struct lb_file files[2];
static char digests[2][65];

static void setup(void)
{
	static const char *const paths[] = {"usr/lib/liba.so", "usr/share/doc"};
	static const char *const content[] = {"0123456789abcdef0123456789abcdef library",
	                                      "documentation\n"};
	if (!mkdtemp(tmpdir))
		abort();
	rootfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	if (rootfd < 0 || mkdirat(rootfd, "usr", 0755) || mkdirat(rootfd, "usr/lib", 0755) ||
	    mkdirat(rootfd, "usr/share", 0755))
		abort();
	for (int i = 0; i < 2; i++) {
		int fd = openat(rootfd, paths[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		size_t n = strlen(content[i]);
		if (fd < 0 || write(fd, content[i], n) != (ssize_t)n)
			abort();
		close(fd);
		unsigned char md[32];
		crypto_hash_sha256(md, (const unsigned char *)content[i], n);
		sodium_bin2hex(digests[i], 65, md, 32);
		files[i] = (struct lb_file){.path = (char *)paths[i],
		                            .type = LB_FT_REG,
		                            .mode = 0644,
		                            .size = n,
		                            .digest = digests[i]};
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (rootfd < 0)
		setup();
	struct lb_dbpkg base;
	memset(&base, 0, sizeof base);
	base.info.name = (char *)"liba";
	base.info.version = (char *)"1";
	base.files = files;
	base.nfiles = 2;
	char content[65] = "";
	if (size >= LB_PD_HEADER) {
		sodium_bin2hex(base.deb_sha256, 65, data + LB_PD_MAGIC_LEN, 32);
		sodium_bin2hex(content, 65, data + LB_PD_MAGIC_LEN + 32, 32);
	}
	char in[64], out[64];
	snprintf(in, sizeof in, "%s.in", tmpdir);
	snprintf(out, sizeof out, "%s.out", tmpdir);
	int dfd = open(in, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int ofd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (dfd < 0 || ofd < 0 || write(dfd, data, size) != (ssize_t)size)
		abort();
	struct lb_debpatch_stats st;
	if (lb_debpatch(rootfd, &base, dfd, ofd, content, &st) == 0 && !st.out_bytes)
		abort();
	close(dfd);
	close(ofd);
	unlink(in);
	unlink(out);
	return 0;
}
