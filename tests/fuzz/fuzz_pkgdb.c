/* SPDX-License-Identifier: MIT */
/* The package database reader (STATE/db) on arbitrary bytes; what it accepts
 * must format and re-read to the same text. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkgdb.h"

static int statefd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (statefd < 0) {
		char tmpl[] = "/tmp/lb-fuzz-db.XXXXXX";
		if (!mkdtemp(tmpl) || (statefd = open(tmpl, O_RDONLY | O_DIRECTORY)) < 0)
			abort();
	}
	int fd = openat(statefd, "db", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	struct lb_db db;
	if (lb_db_load(statefd, "db", &db) == 0) {
		char *a, *b;
		size_t la, lb;
		if (lb_db_format(&db, &a, &la) == 0) {
			struct lb_db db2;
			fd = openat(statefd, "db2", O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || write(fd, a, la) != (ssize_t)la)
				abort();
			close(fd);
			if (lb_db_load(statefd, "db2", &db2) != 0)
				abort(); /* what we write, we must read */
			if (lb_db_format(&db2, &b, &lb) != 0 || la != lb || memcmp(a, b, la))
				abort();
			free(b);
			lb_db_free(&db2);
			free(a);
		}
		lb_db_free(&db);
	}
	return 0;
}
