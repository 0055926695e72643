/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the input as a .deb (through a memfd) to lb_deb_read, with a
 * callback that reads all content and checks what the reader promises about
 * entries; on success, the size and hash must describe the whole input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "deb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *p)
{
	size_t n = strlen(p);

	if (!n || n > LB_DEB_MAX_PATH || p[0] == '/' || p[n - 1] == '/' || strchr(p, '\n') ||
	    strstr(p, "//") || !strcmp(p, ".") || !strncmp(p, "./", 2) || !strcmp(p, "..") ||
	    !strncmp(p, "../", 3) || strstr(p, "/./") || strstr(p, "/../") ||
	    (n >= 2 && !strcmp(p + n - 2, "/.")) || (n >= 3 && !strcmp(p + n - 3, "/..")))
		abort();
}

static int read_all(void *ctx, const struct lb_deb_entry *e, struct lb_deb_reader *r)
{
	unsigned long long *total = ctx, got = 0;
	char buf[8192];
	ssize_t n;

	check_path(e->path);
	switch (e->type) {
	case LB_FT_HARDLINK: check_path(e->link); break;
	case LB_FT_SYMLINK:
		if (!e->link || !e->link[0])
			abort();
		break;
	case LB_FT_REG:
	case LB_FT_DIR:
	case LB_FT_CHR:
	case LB_FT_BLK:
	case LB_FT_FIFO: break;
	default: abort();
	}
	if (e->mode & ~07777u)
		abort();
	while ((n = lb_deb_data_read(r, buf, sizeof buf)) > 0)
		got += (unsigned long long)n;
	if (n < 0)
		return (int)n;
	if (e->type == LB_FT_REG && got != e->size)
		abort();
	*total += got;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct lb_deb_meta m;
	unsigned long long total = 0, sz = 0;
	char sha[65];
	int rc;

	if (fd < 0)
		fd = memfd_create("fuzz_deb", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	rc = lb_deb_read(fd, &m, read_all, &total, sha, &sz);
	if (rc == 0) {
		if (!m.control || m.control[m.control_len] || sz != size || strlen(sha) != 64)
			abort();
		lb_deb_meta_free(&m);
	} else if (m.control || rc > 0) {
		abort();
	}
	return 0;
}
