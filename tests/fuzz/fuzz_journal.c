/* SPDX-License-Identifier: MIT */
/* The transaction journal reader (STATE/journal) on arbitrary bytes. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "journal.h"

static int statefd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (statefd < 0) {
		char tmpl[] = "/tmp/lb-fuzz-journal.XXXXXX";
		if (!mkdtemp(tmpl) || (statefd = open(tmpl, O_RDONLY | O_DIRECTORY)) < 0)
			abort();
	}
	int fd = openat(statefd, LB_JOURNAL_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	struct lb_journal j;
	if (lb_journal_load(statefd, &j) == 0) {
		for (size_t i = 0; i < j.n; i++)
			if (!j.recs[i].arg[0])
				abort(); /* every record has its path or package */
		lb_journal_free(&j);
	}
	return 0;
}
