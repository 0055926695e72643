/* SPDX-License-Identifier: MIT */
/* minisign: the input is parsed as a public key, as a secret key and as a
 * signature over a fixed message by a fixed key. Nothing may crash or read past
 * the input; a key that parses survives a format/parse round trip (and a secret
 * key signs what its public half verifies); a signature that verifies yields a
 * one-line trusted comment, one that does not fails with -LBE_SIGNATURE and an
 * empty trusted comment. The corpus holds valid files for the fixed key (its
 * secret key file is corpus/minisign/seckey-fixed: `minisign -S -s` makes more). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "minisign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char MSG[] = "lifeboat fuzz message\n";
/* seed 0x01..0x20, key id 0x11..0x18 */
static const uint8_t SEED[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t ID[8] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};

static void fixed_keys(struct lb_mkey keys[2])
{
	memset(keys, 0, 2 * sizeof keys[0]);
	memcpy(keys[0].id, ID, 8);
	crypto_sign_ed25519_seed_keypair(keys[0].pk, keys[0].sk, SEED);
	/* a second key with another id, so that the key search is exercised */
	keys[1] = keys[0];
	keys[1].id[0] ^= 0xff;
	keys[1].pk[0] ^= 1;
	lb_minisign_wipe(&keys[0]);
	lb_minisign_wipe(&keys[1]);
}

static void check_pubkey(const char *text, size_t size)
{
	struct lb_mkey k, k2;
	char out[LB_MINISIGN_PUBKEY_TEXT];
	if (lb_minisign_parse_pubkey(text, size, &k) != 0)
		return;
	for (int bare = 0; bare < 2; bare++) {
		size_t n = lb_minisign_format_pubkey(&k, bare, out);
		if (lb_minisign_parse_pubkey(out, n, &k2) != 0 || memcmp(&k, &k2, sizeof k) != 0)
			abort();
	}
}

static void check_seckey(const char *text, size_t size)
{
	struct lb_mkey k, k2;
	char out[LB_MINISIGN_SECKEY_TEXT], tc[LB_MINISIGN_TCOMMENT_MAX], *sig;
	size_t siglen;
	if (lb_minisign_parse_seckey(text, size, &k) != 0)
		return;
	int n = lb_minisign_format_seckey(&k, out);
	if (n <= 0 || lb_minisign_parse_seckey(out, (size_t)n, &k2) != 0 ||
	    memcmp(&k, &k2, sizeof k) != 0)
		abort();
	if (lb_minisign_sign(&k, MSG, sizeof MSG - 1, "fuzz", &sig, &siglen) != 0)
		abort();
	lb_minisign_wipe(&k);
	if (lb_minisign_verify(&k, 1, MSG, sizeof MSG - 1, sig, siglen, tc) != 0 ||
	    strcmp(tc, "fuzz") != 0)
		abort();
	free(sig);
}

static void check_sig(const char *text, size_t size)
{
	struct lb_mkey keys[2];
	char tc[LB_MINISIGN_TCOMMENT_MAX];
	fixed_keys(keys);
	memset(tc, 'x', sizeof tc);
	int r = lb_minisign_verify(keys, 2, MSG, sizeof MSG - 1, text, size, tc);
	if (r == 0) {
		size_t n = strnlen(tc, sizeof tc);
		if (n == sizeof tc || memchr(tc, '\n', n) || memchr(tc, '\r', n))
			abort();
	} else if (r != -LBE_SIGNATURE || tc[0]) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so that ASan sees any read past the end */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	check_pubkey(text, size);
	check_seckey(text, size);
	check_sig(text, size);
	free(text);
	return 0;
}
