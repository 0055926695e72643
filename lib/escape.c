/* SPDX-License-Identifier: MIT */
#include "escape.h"

#include <errno.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int lb_escape(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int enc = c <= ' ' || c >= 0x7f || c == '%';
		if (o + (enc ? 3 : 1) >= size)
			return -ENAMETOOLONG;
		if (enc) {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (o >= size)
		return -ENAMETOOLONG;
	out[o] = 0;
	return 0;
}

int lb_unescape(char *s)
{
	char *w = s;
	for (const char *r = s; *r; r++) {
		if (*r != '%') {
			*w++ = *r;
			continue;
		}
		int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -LBE_FORMAT;
		*w++ = (char)(hi << 4 | lo);
		r += 2;
	}
	*w = 0;
	return 0;
}
