/* SPDX-License-Identifier: MIT */
/* minisign-compatible keys and signatures: see minisign.h. */
#include "minisign.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fsop.h"

#define B64            sodium_base64_VARIANT_ORIGINAL
#define UNTRUSTED      "untrusted comment: "
#define TRUSTED        "trusted comment: "
#define HASH_CHUNK     65536
#define PUB_BYTES      42  /* "Ed" || id || pk */
#define SEC_BYTES      158 /* "Ed" || kdf || chk alg || salt || ops || mem || id || sk || chk */
#define SIG_BYTES      74  /* "ED" || id || sig */
#define SEC_KDF_OFF    2
#define SEC_CHKALG_OFF 4
#define SEC_ID_OFF     54
#define SEC_SK_OFF     62
#define SEC_CHK_OFF    126

static int init(void)
{
	if (sodium_init() < 0)
		return lb_errf(-ENOSYS, "libsodium initialisation failed");
	return 0;
}

void lb_minisign_keyid_hex(const uint8_t id[8], char out[17])
{
	static const char hex[] = "0123456789ABCDEF";
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[id[7 - i] >> 4];
		out[2 * i + 1] = hex[id[7 - i] & 15];
	}
	out[16] = 0;
}

int lb_minisign_keygen(struct lb_mkey *key)
{
	int r = init();
	if (r)
		return r;
	memset(key, 0, sizeof *key);
	randombytes_buf(key->id, sizeof key->id);
	if (crypto_sign_ed25519_keypair(key->pk, key->sk) != 0)
		return lb_errf(-EIO, "key generation failed");
	key->has_sk = 1;
	return 0;
}

void lb_minisign_wipe(struct lb_mkey *key)
{
	sodium_memzero(key->sk, sizeof key->sk);
	key->has_sk = 0;
}

/* ---- text: lines and base64 ---- */

struct cursor {
	const char *p, *end;
};

/* The next line without its "\n" or "\r\n"; 0, or -1 at the end of the text or
 * when the line holds a '\r' elsewhere. */
static int next_line(struct cursor *c, const char **s, size_t *n)
{
	if (c->p >= c->end)
		return -1;
	const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	const char *e = nl ? nl : c->end;
	*s = c->p;
	*n = (size_t)(e - c->p);
	c->p = nl ? nl + 1 : c->end;
	if (*n && (*s)[*n - 1] == '\r')
		(*n)--;
	return memchr(*s, '\r', *n) ? -1 : 0;
}

/* Only blank lines left. */
static int at_end(const struct cursor *c)
{
	for (const char *p = c->p; p < c->end; p++)
		if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
			return 0;
	return 1;
}

static int has_prefix(const char *s, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);
	return n >= pl && memcmp(s, prefix, pl) == 0;
}

/* Decode exactly want bytes from the n characters at s (canonical padded base64). */
static int unbase64(const char *s, size_t n, uint8_t *out, size_t want)
{
	size_t got = 0;
	if (n != sodium_base64_ENCODED_LEN(want, B64) - 1)
		return -1;
	if (sodium_base642bin(out, want, s, n, NULL, &got, NULL, B64) != 0 || got != want)
		return -1;
	return 0;
}

/* The key line of a key file: the line after an "untrusted comment:" line, or the
 * first line (a bare key). */
static int key_line(const char *text, size_t len, const char **s, size_t *n, const char **why)
{
	if (!text || !len) {
		*why = "empty";
		return -1;
	}
	struct cursor c = {text, text + len};
	if (len > LB_MINISIGN_KEYFILE_MAX) {
		*why = "file too large";
		return -1;
	}
	if (memchr(text, 0, len)) {
		*why = "contains a NUL byte";
		return -1;
	}
	if (next_line(&c, s, n) < 0) {
		*why = "bad line";
		return -1;
	}
	if (has_prefix(*s, *n, "untrusted comment:") && next_line(&c, s, n) < 0) {
		*why = "no key after the comment line";
		return -1;
	}
	if (!at_end(&c)) {
		*why = "trailing data after the key";
		return -1;
	}
	return 0;
}

/* ---- keys ---- */

size_t lb_minisign_format_pubkey(const struct lb_mkey *key, int bare,
                                 char out[LB_MINISIGN_PUBKEY_TEXT])
{
	uint8_t bin[PUB_BYTES];
	char b64[sodium_base64_ENCODED_LEN(PUB_BYTES, B64)], id[17];
	memcpy(bin, "Ed", 2);
	memcpy(bin + 2, key->id, 8);
	memcpy(bin + 10, key->pk, 32);
	sodium_bin2base64(b64, sizeof b64, bin, sizeof bin, B64);
	lb_minisign_keyid_hex(key->id, id);
	int n = bare ? snprintf(out, LB_MINISIGN_PUBKEY_TEXT, "%s", b64)
	             : snprintf(out, LB_MINISIGN_PUBKEY_TEXT,
	                        UNTRUSTED "minisign public key %s\n%s\n", id, b64);
	return (size_t)n;
}

static void seckey_chk(const uint8_t *bin, uint8_t chk[32])
{
	crypto_generichash_state hs;
	crypto_generichash_init(&hs, NULL, 0, 32);
	crypto_generichash_update(&hs, bin, 2);
	crypto_generichash_update(&hs, bin + SEC_ID_OFF, 8);
	crypto_generichash_update(&hs, bin + SEC_SK_OFF, 64);
	crypto_generichash_final(&hs, chk, 32);
	sodium_memzero(&hs, sizeof hs);
}

int lb_minisign_format_seckey(const struct lb_mkey *key, char out[LB_MINISIGN_SECKEY_TEXT])
{
	uint8_t bin[SEC_BYTES];
	char b64[sodium_base64_ENCODED_LEN(SEC_BYTES, B64)], id[17];
	if (!key->has_sk)
		return lb_errf(-EINVAL, "secret key: the key has no secret part");
	int r = init();
	if (r)
		return r;
	memset(bin, 0, sizeof bin); /* no kdf: salt, opslimit, memlimit zero */
	memcpy(bin, "Ed", 2);
	memcpy(bin + SEC_CHKALG_OFF, "B2", 2);
	memcpy(bin + SEC_ID_OFF, key->id, 8);
	memcpy(bin + SEC_SK_OFF, key->sk, 64);
	seckey_chk(bin, bin + SEC_CHK_OFF);
	sodium_bin2base64(b64, sizeof b64, bin, sizeof bin, B64);
	lb_minisign_keyid_hex(key->id, id);
	int n = snprintf(out, LB_MINISIGN_SECKEY_TEXT,
	                 UNTRUSTED "minisign unencrypted secret key %s\n%s\n", id, b64);
	sodium_memzero(bin, sizeof bin);
	sodium_memzero(b64, sizeof b64);
	return n;
}

int lb_minisign_write_keys(int dirfd, const char *name, const struct lb_mkey *key)
{
	char text[LB_MINISIGN_SECKEY_TEXT], pubname[PATH_MAX], tmp[PATH_MAX];
	if ((size_t)snprintf(pubname, sizeof pubname, "%s.pub", name) >= sizeof pubname ||
	    (size_t)snprintf(tmp, sizeof tmp, "%s.lb-tmp", name) >= sizeof tmp)
		return lb_errf(-ENAMETOOLONG, "%s: name too long", name);
	int n = lb_minisign_format_seckey(key, text);
	if (n < 0)
		return n;
	/* a stale temporary file would keep its mode: start from a fresh 0600 one */
	int r = lb_unlink(dirfd, tmp);
	if (!r)
		r = lb_replace_file(dirfd, name, text, (size_t)n, 0600);
	sodium_memzero(text, sizeof text);
	if (r)
		return lb_errf(r, "%s: %s", name, lb_strerror(r));
	size_t pn = lb_minisign_format_pubkey(key, 0, text);
	r = lb_replace_file(dirfd, pubname, text, pn, 0644);
	if (r)
		return lb_errf(r, "%s: %s", pubname, lb_strerror(r));
	return 0;
}

int lb_minisign_parse_pubkey(const char *text, size_t len, struct lb_mkey *key)
{
	uint8_t bin[PUB_BYTES];
	const char *s, *why;
	size_t n;
	memset(key, 0, sizeof *key);
	if (key_line(text, len, &s, &n, &why) < 0)
		return lb_errf(-LBE_FORMAT, "public key: %s", why);
	if (unbase64(s, n, bin, sizeof bin) < 0)
		return lb_errf(-LBE_FORMAT, "public key: not a base64 minisign public key");
	if (memcmp(bin, "Ed", 2) != 0)
		return lb_errf(-LBE_FORMAT, "public key: unsupported signature algorithm");
	memcpy(key->id, bin + 2, 8);
	memcpy(key->pk, bin + 10, 32);
	return 0;
}

static int parse_seckey_bin(const uint8_t *bin, struct lb_mkey *key)
{
	uint8_t chk[32], pk[32], sk[64];
	if (memcmp(bin, "Ed", 2) != 0)
		return lb_errf(-LBE_FORMAT, "secret key: unsupported signature algorithm");
	if (memcmp(bin + SEC_KDF_OFF, "Sc", 2) == 0)
		return lb_errf(-LBE_FORMAT, "secret key: encrypted secret keys are not supported; "
		                            "create one with lifeboat-master keygen");
	if (memcmp(bin + SEC_KDF_OFF, "\0\0", 2) != 0)
		return lb_errf(-LBE_FORMAT, "secret key: unsupported key derivation function");
	if (memcmp(bin + SEC_CHKALG_OFF, "B2", 2) != 0)
		return lb_errf(-LBE_FORMAT, "secret key: unsupported checksum algorithm");
	/* minisign 0.11 leaves the checksum of an unencrypted key zero */
	if (!sodium_is_zero(bin + SEC_CHK_OFF, 32)) {
		seckey_chk(bin, chk);
		if (sodium_memcmp(chk, bin + SEC_CHK_OFF, 32) != 0)
			return lb_errf(-LBE_FORMAT, "secret key: checksum mismatch (damaged key)");
	}
	crypto_sign_ed25519_seed_keypair(pk, sk, bin + SEC_SK_OFF);
	int ok = sodium_memcmp(sk, bin + SEC_SK_OFF, 64) == 0;
	sodium_memzero(sk, sizeof sk);
	if (!ok)
		return lb_errf(-LBE_FORMAT, "secret key: damaged (public half does not match)");
	memcpy(key->id, bin + SEC_ID_OFF, 8);
	memcpy(key->sk, bin + SEC_SK_OFF, 64);
	memcpy(key->pk, pk, 32);
	key->has_sk = 1;
	return 0;
}

int lb_minisign_parse_seckey(const char *text, size_t len, struct lb_mkey *key)
{
	uint8_t bin[SEC_BYTES];
	const char *s, *why;
	size_t n;
	memset(key, 0, sizeof *key);
	int r = init();
	if (r)
		return r;
	if (key_line(text, len, &s, &n, &why) < 0)
		return lb_errf(-LBE_FORMAT, "secret key: %s", why);
	if (unbase64(s, n, bin, sizeof bin) < 0)
		r = lb_errf(-LBE_FORMAT, "secret key: not a base64 minisign secret key");
	else
		r = parse_seckey_bin(bin, key);
	sodium_memzero(bin, sizeof bin);
	if (r)
		lb_minisign_wipe(key);
	return r;
}

static int load(int dirfd, const char *name, struct lb_mkey *key, int secret)
{
	char *buf;
	size_t len;
	int r = lb_read_file(dirfd, name, LB_MINISIGN_KEYFILE_MAX, &buf, &len);
	if (r == -EFBIG)
		return lb_errf(-LBE_FORMAT, "%s: %s key: file too large", name,
		               secret ? "secret" : "public");
	if (r)
		return lb_errf(r, "%s: %s", name, lb_strerror(r));
	r = secret ? lb_minisign_parse_seckey(buf, len, key)
	           : lb_minisign_parse_pubkey(buf, len, key);
	sodium_memzero(buf, len);
	free(buf);
	return r ? lb_err_prefix(r, "%s", name) : 0;
}

int lb_minisign_load_pubkey(int dirfd, const char *name, struct lb_mkey *key)
{
	return load(dirfd, name, key, 0);
}

int lb_minisign_load_seckey(int dirfd, const char *name, struct lb_mkey *key)
{
	return load(dirfd, name, key, 1);
}

/* ---- signatures ---- */

static int hash_fd(int fd, uint8_t hash[64])
{
	crypto_generichash_state hs;
	uint8_t *buf = malloc(HASH_CHUNK);
	int r = 0;
	if (!buf)
		return -ENOMEM;
	crypto_generichash_init(&hs, NULL, 0, 64);
	for (;;) {
		ssize_t n = read(fd, buf, HASH_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		crypto_generichash_update(&hs, buf, (unsigned long long)n);
	}
	free(buf);
	if (r)
		return lb_errf(r, "reading the signed file: %s", lb_strerror(r));
	crypto_generichash_final(&hs, hash, 64);
	return 0;
}

static int check_tcomment(const char *tc)
{
	size_t n = strlen(tc);
	if (n >= LB_MINISIGN_TCOMMENT_MAX)
		return lb_errf(-EINVAL, "trusted comment: longer than %d bytes",
		               LB_MINISIGN_TCOMMENT_MAX - 1);
	if (strpbrk(tc, "\r\n"))
		return lb_errf(-EINVAL, "trusted comment: contains a line break");
	return 0;
}

/* Sign the 64-byte prehash of the message. */
static int sign_hash(const struct lb_mkey *key, const uint8_t hash[64], const char *tc,
                     char **sigtext, size_t *siglen)
{
	uint8_t bin[SIG_BYTES], global[64], tcbuf[64 + LB_MINISIGN_TCOMMENT_MAX];
	char b64sig[sodium_base64_ENCODED_LEN(SIG_BYTES, B64)];
	char b64global[sodium_base64_ENCODED_LEN(64, B64)], id[17];
	size_t tclen = strlen(tc);

	memcpy(bin, "ED", 2);
	memcpy(bin + 2, key->id, 8);
	crypto_sign_ed25519_detached(bin + 10, NULL, hash, 64, key->sk);
	memcpy(tcbuf, bin + 10, 64);
	memcpy(tcbuf + 64, tc, tclen);
	crypto_sign_ed25519_detached(global, NULL, tcbuf, 64 + tclen, key->sk);
	sodium_bin2base64(b64sig, sizeof b64sig, bin, sizeof bin, B64);
	sodium_bin2base64(b64global, sizeof b64global, global, sizeof global, B64);
	lb_minisign_keyid_hex(key->id, id);
	char *out = NULL;
	int n = asprintf(&out,
	                 UNTRUSTED "signature from lifeboat secret key %s\n%s\n" TRUSTED "%s\n%s\n",
	                 id, b64sig, tc, b64global);
	if (n < 0)
		return -ENOMEM;
	*sigtext = out;
	if (siglen)
		*siglen = (size_t)n;
	return 0;
}

static int sign_check(const struct lb_mkey *key, const char *tc)
{
	if (!key->has_sk)
		return lb_errf(-EINVAL, "signing: the key has no secret part");
	int r = check_tcomment(tc ? tc : "");
	return r ? r : init();
}

int lb_minisign_sign(const struct lb_mkey *key, const void *msg, size_t len,
                     const char *trusted_comment, char **sigtext, size_t *siglen)
{
	uint8_t hash[64];
	int r = sign_check(key, trusted_comment);
	if (r)
		return r;
	crypto_generichash(hash, 64, msg, len, NULL, 0);
	return sign_hash(key, hash, trusted_comment ? trusted_comment : "", sigtext, siglen);
}

int lb_minisign_sign_fd(const struct lb_mkey *key, int fd, const char *trusted_comment,
                        char **sigtext, size_t *siglen)
{
	uint8_t hash[64];
	int r = sign_check(key, trusted_comment);
	if (!r)
		r = hash_fd(fd, hash);
	if (r)
		return r;
	return sign_hash(key, hash, trusted_comment ? trusted_comment : "", sigtext, siglen);
}

struct psig {
	int prehashed; /* "ED" (1) or legacy "Ed" (0) */
	uint8_t id[8];
	uint8_t sig[64];
	uint8_t global[64];
	const char *tc; /* in the signature text, not NUL-terminated */
	size_t tclen;
};

static int malformed(const char *why)
{
	return lb_errf(-LBE_SIGNATURE, "signature: malformed: %s", why);
}

static int parse_sig(const char *text, size_t len, struct psig *ps)
{
	uint8_t bin[SIG_BYTES];
	const char *s;
	size_t n;

	if (!text || !len)
		return malformed("empty");
	struct cursor c = {text, text + len};
	if (len > LB_MINISIGN_SIG_MAX)
		return malformed("larger than 4 KiB");
	if (memchr(text, 0, len))
		return malformed("contains a NUL byte");
	if (next_line(&c, &s, &n) < 0 || !has_prefix(s, n, UNTRUSTED))
		return malformed("no \"untrusted comment:\" line");
	if (next_line(&c, &s, &n) < 0 || unbase64(s, n, bin, sizeof bin) < 0)
		return malformed("bad signature line");
	if (memcmp(bin, "ED", 2) == 0)
		ps->prehashed = 1;
	else if (memcmp(bin, "Ed", 2) == 0)
		ps->prehashed = 0;
	else
		return malformed("unsupported signature algorithm");
	memcpy(ps->id, bin + 2, 8);
	memcpy(ps->sig, bin + 10, 64);
	if (next_line(&c, &s, &n) < 0 || !has_prefix(s, n, TRUSTED))
		return malformed("no \"trusted comment:\" line");
	ps->tc = s + strlen(TRUSTED);
	ps->tclen = n - strlen(TRUSTED);
	if (ps->tclen >= LB_MINISIGN_TCOMMENT_MAX)
		return malformed("trusted comment too long");
	if (next_line(&c, &s, &n) < 0 || unbase64(s, n, ps->global, sizeof ps->global) < 0)
		return malformed("bad trusted comment signature line");
	if (!at_end(&c))
		return malformed("trailing data");
	return 0;
}

/* Refuse a signature by none of the keys before reading the message. */
static int known_key(const struct lb_mkey *keys, size_t nkeys, const struct psig *ps)
{
	char id[17];
	for (size_t i = 0; i < nkeys; i++)
		if (memcmp(keys[i].id, ps->id, 8) == 0)
			return 0;
	lb_minisign_keyid_hex(ps->id, id);
	return lb_errf(-LBE_SIGNATURE, "signature: made by unknown key %s", id);
}

/* m is the 64-byte prehash for "ED", the message itself for legacy "Ed". */
static int verify_parsed(const struct lb_mkey *keys, size_t nkeys, const struct psig *ps,
                         const uint8_t *m, size_t mlen, char *tc_out)
{
	uint8_t tcbuf[64 + LB_MINISIGN_TCOMMENT_MAX];
	char id[17];
	int best = 1; /* 1 the message failed, 2 the trusted comment failed */

	lb_minisign_keyid_hex(ps->id, id);
	memcpy(tcbuf, ps->sig, 64);
	memcpy(tcbuf + 64, ps->tc, ps->tclen);
	for (size_t i = 0; i < nkeys; i++) {
		if (memcmp(keys[i].id, ps->id, 8) != 0)
			continue;
		if (crypto_sign_ed25519_verify_detached(ps->sig, m, mlen, keys[i].pk) != 0)
			continue;
		if (crypto_sign_ed25519_verify_detached(ps->global, tcbuf, 64 + ps->tclen,
		                                        keys[i].pk) != 0) {
			best = 2;
			continue;
		}
		if (tc_out) {
			memcpy(tc_out, ps->tc, ps->tclen);
			tc_out[ps->tclen] = 0;
		}
		return 0;
	}
	if (best == 1)
		return lb_errf(-LBE_SIGNATURE, "signature: does not verify with key %s", id);
	return lb_errf(-LBE_SIGNATURE, "signature: trusted comment does not verify with key %s",
	               id);
}

int lb_minisign_verify(const struct lb_mkey *keys, size_t nkeys, const void *msg, size_t len,
                       const char *sigtext, size_t siglen,
                       char trusted_comment_out[LB_MINISIGN_TCOMMENT_MAX])
{
	struct psig ps;
	uint8_t hash[64];
	if (trusted_comment_out)
		trusted_comment_out[0] = 0;
	int r = init();
	if (!r)
		r = parse_sig(sigtext, siglen, &ps);
	if (!r)
		r = known_key(keys, nkeys, &ps);
	if (r)
		return r;
	if (!ps.prehashed)
		return verify_parsed(keys, nkeys, &ps, msg, len, trusted_comment_out);
	crypto_generichash(hash, 64, msg, len, NULL, 0);
	return verify_parsed(keys, nkeys, &ps, hash, 64, trusted_comment_out);
}

int lb_minisign_sig_keyid(const char *sigtext, size_t siglen, uint8_t id[8])
{
	struct psig ps;
	int r = parse_sig(sigtext, siglen, &ps);
	if (!r)
		memcpy(id, ps.id, 8);
	return r;
}

/* The rest of fd into memory, at most max bytes. */
static int slurp(int fd, size_t max, uint8_t **bufp, size_t *lenp)
{
	char *buf;
	int r = lb_read_fd(fd, max, &buf, lenp);
	if (r == -EFBIG)
		return lb_errf(
		    -LBE_SIGNATURE,
		    "signature: legacy (non-prehashed) signature over a file larger than "
		    "%zu MiB",
		    max >> 20);
	if (r)
		return lb_errf(r, "reading the signed file: %s", lb_strerror(r));
	*bufp = (uint8_t *)buf;
	return 0;
}

int lb_minisign_verify_fd(const struct lb_mkey *keys, size_t nkeys, int fd, const char *sigtext,
                          size_t siglen, char trusted_comment_out[LB_MINISIGN_TCOMMENT_MAX])
{
	struct psig ps;
	uint8_t hash[64], *msg = NULL;
	size_t len;
	if (trusted_comment_out)
		trusted_comment_out[0] = 0;
	int r = init();
	if (!r)
		r = parse_sig(sigtext, siglen, &ps);
	if (!r)
		r = known_key(keys, nkeys, &ps);
	if (r)
		return r;
	if (ps.prehashed) {
		r = hash_fd(fd, hash);
		return r ? r : verify_parsed(keys, nkeys, &ps, hash, 64, trusted_comment_out);
	}
	r = slurp(fd, LB_MINISIGN_LEGACY_MAX, &msg, &len);
	if (r)
		return r;
	r = verify_parsed(keys, nkeys, &ps, msg, len, trusted_comment_out);
	free(msg);
	return r;
}
