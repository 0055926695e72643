/* SPDX-License-Identifier: MIT */
/* minisign keys and signatures: round trips, fixed vectors made by minisign 0.11,
 * every kind of tampering and malformed input refused with its message, and
 * interoperability both ways with the real `minisign` binary (those tests are
 * skipped, saying so, when it is not installed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fsop.h"
#include "minisign.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- made by minisign 0.11 (`minisign -G -W`, `-S`, `-S -l`, `-G` with password "pw") ---- */

static const char VEC_PUB[] = "untrusted comment: minisign public key 8360C47326BF2271\n"
                              "RWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t\n";
static const char VEC_SEC[] =
    "untrusted comment: minisign encrypted secret key\n"
    "RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAcSK/"
    "JnPEYIMbktls5PRqMU8m9mP4dvqOiJoFmOfzBDF90w7NuDnZ+kwXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+"
    "RS7tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
static const char VEC_MSG[] = "hello\n";
static const char VEC_SIG[] = "untrusted comment: signature from minisign secret key\n"
                              "RURxIr8mc8Rgg0cuKFwHZrqQIulc3purtGEQrr4JmCZblDe6Q6wiNVKNzIqj69J6enZ"
                              "hJNW5MsJfGtLPLnI/6uKT/I24JJwCawM=\n"
                              "trusted comment: timestamp:1795628851\tfile:m\thashed\n"
                              "XddIhjYqEesQvfR8OWegjYi8E9f3b0wEU8uih2upEhoxmwB7NY2CsErzIwqmu00vwGH"
                              "GJ+AZbLuzR9NgeBHlCw==\n";
static const char VEC_LEGACY_SIG[] =
    "untrusted comment: signature from minisign secret key\n"
    "RWRxIr8mc8Rgg8FJ0xqzDTtwMV1b+820feTjhbFC3LCuLp0bxGIxWR5bK/ZamwlSeP7vNa8wRYTPg/"
    "UpO9n87KSRCVaxUvB9Ugg=\n"
    "trusted comment: tc here\n"
    "a0CMFnqj7YJBdWxLKLqAfnKGEgr4rsdXplFyYFJPbprKIla/o4GK0yqcwEZ/PsxWnRjlszLNe8Gane59i0R2Bg==\n";
static const char VEC_ENC_SEC[] =
    "untrusted comment: minisign encrypted secret key\n"
    "RWRTY0IyS/u4Suyw8JLkgvqqjSf+g2bCHVne/FtiQnqtfZOTsnkAAAACAAAAAAAAAEAAAAAAyk/"
    "mkMAyNSSyl4Ifk3UFYoy/SnK520ZSRrdu7VeTlb4Iqb8LM5RIikvWxYXrqUfxSPi16AWDtkP5OCPPSPW00+"
    "6jnWOwMNkCp7FQfqwnELbAHJDtQaqfEg6FiAPUSOPcv+RoSh+TzYE=\n";

/* ---- fixture: a temporary directory per test ---- */

#define TDIR_NAME "minisign"
#include "tdir.h"

static void put(const struct tdir *t, const char *name, const void *data, size_t len)
{
	int fd = openat(t->fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static char *get(const struct tdir *t, const char *name, size_t *len)
{
	char *buf;
	assert_int_equal(lb_read_file(t->fd, name, 1 << 20, &buf, len), 0);
	return buf;
}

static int openr(const struct tdir *t, const char *name)
{
	int fd = openat(t->fd, name, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Fails the test unless r is err and the message holds want. */
#define expect_err(r, err, want) expect_err_(r, err, want, __FILE__, __LINE__)
static void expect_err_(int r, int err, const char *want, const char *file, int line)
{
	if (r != err || !strstr(lb_err_msg(), want))
		fail_msg("%s:%d: got %d \"%s\", want %d \"%s\"", file, line, r, lb_err_msg(), err,
		         want);
}

static int have_minisign(void)
{
	static int have = -1;
	if (have < 0)
		have = system("minisign -v >/dev/null 2>&1") == 0;
	return have;
}

#define NEED_MINISIGN()                                                                            \
	do {                                                                                       \
		if (!have_minisign()) {                                                            \
			print_message("SKIPPED: the minisign binary is not installed "             \
			              "(apt-get install minisign)\n");                             \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Run a shell command in the test directory; its exit status. */
static int run(const struct tdir *t, const char *fmt, ...) LB_PRINTF(2, 3);
static int run(const struct tdir *t, const char *fmt, ...)
{
	char cmd[2048];
	int n = snprintf(cmd, sizeof cmd, "cd %s && (", t->path);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
	va_end(ap);
	snprintf(cmd + n, sizeof cmd - (size_t)n, ") </dev/null >>log 2>&1");
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Rewrite the base64 line (0-based index) of text: decode, let fn change the
 * bytes, encode. */
static char *rewrite_b64_line(const char *text, int index, void (*fn)(uint8_t *, size_t))
{
	const char *s = text;
	for (int i = 0; i < index; i++)
		s = strchr(s, '\n') + 1;
	const char *e = strchr(s, '\n');
	uint8_t bin[512];
	size_t n;
	assert_int_equal(sodium_base642bin(bin, sizeof bin, s, (size_t)(e - s), NULL, &n, NULL,
	                                   sodium_base64_VARIANT_ORIGINAL),
	                 0);
	fn(bin, n);
	char b64[1024];
	sodium_bin2base64(b64, sizeof b64, bin, n, sodium_base64_VARIANT_ORIGINAL);
	char *out;
	assert_true(asprintf(&out, "%.*s%s%s", (int)(s - text), text, b64, e) > 0);
	return out;
}

static char *replace(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	assert_non_null(p);
	char *out;
	assert_true(asprintf(&out, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from)) > 0);
	return out;
}

/* ---- fixed vectors ---- */

static void test_vectors(void **state)
{
	struct lb_mkey pub, sec;
	char tc[LB_MINISIGN_TCOMMENT_MAX], hex[17];

	assert_int_equal(lb_minisign_parse_pubkey(VEC_PUB, strlen(VEC_PUB), &pub), 0);
	assert_false(pub.has_sk);
	lb_minisign_keyid_hex(pub.id, hex);
	assert_string_equal(hex, "8360C47326BF2271"); /* as minisign's comment line says */

	/* minisign 0.11 writes unencrypted keys with a zero checksum */
	assert_int_equal(lb_minisign_parse_seckey(VEC_SEC, strlen(VEC_SEC), &sec), 0);
	assert_true(sec.has_sk);
	assert_memory_equal(sec.id, pub.id, 8);
	assert_memory_equal(sec.pk, pub.pk, 32);

	assert_int_equal(
	    lb_minisign_verify(&pub, 1, VEC_MSG, strlen(VEC_MSG), VEC_SIG, strlen(VEC_SIG), tc), 0);
	assert_string_equal(tc, "timestamp:1795628851\tfile:m\thashed");
	assert_int_equal(lb_minisign_verify(&pub, 1, VEC_MSG, strlen(VEC_MSG), VEC_LEGACY_SIG,
	                                    strlen(VEC_LEGACY_SIG), tc),
	                 0);
	assert_string_equal(tc, "tc here");
	uint8_t sigid[8];
	assert_int_equal(lb_minisign_sig_keyid(VEC_SIG, strlen(VEC_SIG), sigid), 0);
	assert_memory_equal(sigid, pub.id, 8);
	expect_err(lb_minisign_sig_keyid("x\n", 2, sigid), -LBE_SIGNATURE, "signature: malformed");
	expect_err(
	    lb_minisign_verify(&pub, 1, "hello", 5, VEC_LEGACY_SIG, strlen(VEC_LEGACY_SIG), tc),
	    -LBE_SIGNATURE, "signature: does not verify with key 8360C47326BF2271");
	assert_string_equal(tc, "");

	/* the bare line, as `minisign -P` takes it; CRLF; no final newline */
	static const char *const pubs[] = {
	    "RWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t",
	    "RWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t\n",
	    "untrusted comment: x\r\nRWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t\r\n",
	    ("untrusted comment: minisign public key 8360C47326BF2271\n"
	     "RWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t"),
	};
	for (size_t i = 0; i < N(pubs); i++) {
		struct lb_mkey k;
		if (lb_minisign_parse_pubkey(pubs[i], strlen(pubs[i]), &k) != 0 ||
		    memcmp(&k, &pub, sizeof k) != 0)
			fail_msg("public key %zu: %s", i, lb_err_msg());
	}
	expect_err(lb_minisign_parse_seckey(VEC_ENC_SEC, strlen(VEC_ENC_SEC), &sec), -LBE_FORMAT,
	           "secret key: encrypted secret keys are not supported; create one with "
	           "lifeboat-master keygen");
	assert_false(sec.has_sk);
}

/* ---- round trips ---- */

static void test_roundtrip(void **state)
{
	const struct tdir *t = *state;
	static const size_t sizes[] = {0, 1, 63, 64, 65, 65535, 65536, 65537, 300001};
	char tc255[256], tc256[257],
	    *tcs[] = {"", "x", "timestamp:1 file:groups/stable/state serial:7",
	              "tab\tand \x01 control", tc255};
	memset(tc255, 'c', 255);
	tc255[255] = 0;
	memset(tc256, 'c', 256);
	tc256[256] = 0;

	struct lb_mkey key, pub;
	assert_int_equal(lb_minisign_keygen(&key), 0);
	pub = key;
	lb_minisign_wipe(&pub);
	assert_false(pub.has_sk);
	const size_t max = sizes[N(sizes) - 1];
	uint8_t *msg = malloc(max);
	assert_non_null(msg);
	randombytes_buf(msg, max);

	for (size_t i = 0; i < N(sizes); i++) {
		const char *tc = tcs[i % N(tcs)];
		char *sig, *sig2, out[LB_MINISIGN_TCOMMENT_MAX];
		size_t siglen, sig2len;
		assert_int_equal(lb_minisign_sign(&key, msg, sizes[i], tc, &sig, &siglen), 0);
		assert_int_equal(siglen, strlen(sig));
		assert_true(siglen <= LB_MINISIGN_SIG_MAX);
		assert_int_equal(strncmp(sig, "untrusted comment: ", 19), 0);
		if (lb_minisign_verify(&pub, 1, msg, sizes[i], sig, siglen, out) != 0)
			fail_msg("size %zu: %s", sizes[i], lb_err_msg());
		assert_string_equal(out, tc);
		/* NULL for the trusted comment is allowed */
		assert_int_equal(lb_minisign_verify(&pub, 1, msg, sizes[i], sig, siglen, NULL), 0);

		/* the fd variants agree with the in-memory ones */
		put(t, "m", msg, sizes[i]);
		int fd = openr(t, "m");
		assert_int_equal(lb_minisign_sign_fd(&key, fd, tc, &sig2, &sig2len), 0);
		close(fd);
		fd = openr(t, "m");
		assert_int_equal(lb_minisign_verify_fd(&pub, 1, fd, sig, siglen, out), 0);
		close(fd);
		assert_string_equal(out, tc);
		assert_int_equal(lb_minisign_verify(&pub, 1, msg, sizes[i], sig2, sig2len, out), 0);
		assert_string_equal(sig, sig2); /* Ed25519 is deterministic */
		if (sizes[i]) {
			msg[sizes[i] / 2] ^= 1;
			expect_err(lb_minisign_verify(&pub, 1, msg, sizes[i], sig, siglen, out),
			           -LBE_SIGNATURE, "signature: does not verify with key");
			put(t, "m", msg, sizes[i]);
			fd = openr(t, "m");
			expect_err(lb_minisign_verify_fd(&pub, 1, fd, sig, siglen, out),
			           -LBE_SIGNATURE, "signature: does not verify with key");
			close(fd);
			msg[sizes[i] / 2] ^= 1;
		}
		free(sig);
		free(sig2);
	}

	/* bad arguments */
	char *sig = NULL;
	size_t siglen;
	expect_err(lb_minisign_sign(&key, "m", 1, tc256, &sig, &siglen), -EINVAL,
	           "trusted comment: longer than 255 bytes");
	expect_err(lb_minisign_sign(&key, "m", 1, "a\nb", &sig, &siglen), -EINVAL,
	           "trusted comment: contains a line break");
	expect_err(lb_minisign_sign(&key, "m", 1, "a\r", &sig, &siglen), -EINVAL,
	           "trusted comment: contains a line break");
	expect_err(lb_minisign_sign(&pub, "m", 1, "x", &sig, &siglen), -EINVAL,
	           "the key has no secret part");
	assert_null(sig);
	assert_int_equal(lb_minisign_sign(&key, "m", 1, NULL, &sig, &siglen), 0);
	char out[LB_MINISIGN_TCOMMENT_MAX];
	assert_int_equal(lb_minisign_verify(&pub, 1, "m", 1, sig, siglen, out), 0);
	assert_string_equal(out, "");
	free(sig);
	free(msg);
}

static void test_keys(void **state)
{
	const struct tdir *t = *state;
	struct lb_mkey key, k2;
	char pubtext[LB_MINISIGN_PUBKEY_TEXT], sectext[LB_MINISIGN_SECKEY_TEXT], hex[17];

	assert_int_equal(lb_minisign_keygen(&key), 0);
	lb_minisign_keyid_hex(key.id, hex);
	size_t pn = lb_minisign_format_pubkey(&key, 0, pubtext);
	assert_int_equal(pn, strlen(pubtext));
	assert_int_equal(strncmp(pubtext, "untrusted comment: minisign public key ", 39), 0);
	assert_int_equal(strncmp(pubtext + 39, hex, 16), 0);
	assert_int_equal(lb_minisign_parse_pubkey(pubtext, pn, &k2), 0);
	assert_memory_equal(k2.id, key.id, 8);
	assert_memory_equal(k2.pk, key.pk, 32);
	assert_int_equal(lb_minisign_format_pubkey(&key, 1, pubtext), 56);
	assert_int_equal(lb_minisign_parse_pubkey(pubtext, 56, &k2), 0);
	assert_memory_equal(k2.pk, key.pk, 32);

	int sn = lb_minisign_format_seckey(&key, sectext);
	assert_true(sn > 0);
	assert_int_equal(lb_minisign_parse_seckey(sectext, (size_t)sn, &k2), 0);
	assert_memory_equal(&k2, &key, sizeof key);

	/* written atomically, the secret one private */
	assert_int_equal(lb_minisign_write_keys(t->fd, "master", &key), 0);
	struct stat st;
	assert_int_equal(fstatat(t->fd, "master", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fstatat(t->fd, "master.pub", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(lb_minisign_load_seckey(t->fd, "master", &k2), 0);
	assert_memory_equal(&k2, &key, sizeof key);
	assert_int_equal(lb_minisign_load_pubkey(t->fd, "master.pub", &k2), 0);
	assert_memory_equal(k2.pk, key.pk, 32);
	assert_false(k2.has_sk);
	/* replaced by a second key */
	struct lb_mkey key2;
	assert_int_equal(lb_minisign_keygen(&key2), 0);
	assert_int_equal(lb_minisign_write_keys(t->fd, "master", &key2), 0);
	assert_int_equal(lb_minisign_load_seckey(t->fd, "master", &k2), 0);
	assert_memory_equal(&k2, &key2, sizeof key2);
	expect_err(lb_minisign_load_pubkey(t->fd, "absent.pub", &k2), -ENOENT, "absent.pub: ");

	struct lb_mkey nosk = key;
	lb_minisign_wipe(&nosk);
	expect_err(lb_minisign_write_keys(t->fd, "nosk", &nosk), -EINVAL,
	           "the key has no secret part");
	assert_int_equal(faccessat(t->fd, "nosk", F_OK, 0), -1);

	char big[LB_MINISIGN_KEYFILE_MAX + 10];
	memset(big, 'A', sizeof big);
	put(t, "big", big, sizeof big);
	expect_err(lb_minisign_load_pubkey(t->fd, "big", &k2), -LBE_FORMAT,
	           "big: public key: file too large");
	put(t, "bad", "untrusted comment: x\nnot a key\n", 31);
	expect_err(lb_minisign_load_seckey(t->fd, "bad", &k2), -LBE_FORMAT,
	           "bad: secret key: not a base64 minisign secret key");
}

static void flip_chk(uint8_t *b, size_t n)
{
	b[126] ^= 1;
}
static void zero_chk(uint8_t *b, size_t n)
{
	memset(b + 126, 0, 32);
}
static void flip_pk_half(uint8_t *b, size_t n)
{
	b[62 + 40] ^= 1;
	memset(b + 126, 0, 32);
}
static void kdf_xx(uint8_t *b, size_t n)
{
	memcpy(b + 2, "Xx", 2);
}
static void chk_sha(uint8_t *b, size_t n)
{
	memcpy(b + 4, "S2", 2);
}
static void alg_ex(uint8_t *b, size_t n)
{
	memcpy(b, "EX", 2);
}
static void alg_legacy(uint8_t *b, size_t n)
{
	memcpy(b, "Ed", 2);
}
static void flip_last(uint8_t *b, size_t n)
{
	b[n - 1] ^= 0x80;
}
static void flip_id(uint8_t *b, size_t n)
{
	b[2] ^= 1;
}

static void test_bad_keys(void **state)
{
	struct lb_mkey key, k2;
	char sec[LB_MINISIGN_SECKEY_TEXT], pub[LB_MINISIGN_PUBKEY_TEXT];
	assert_int_equal(lb_minisign_keygen(&key), 0);
	assert_true(lb_minisign_format_seckey(&key, sec) > 0);
	lb_minisign_format_pubkey(&key, 0, pub);

	static const struct {
		void (*fn)(uint8_t *, size_t);
		int err;
		const char *msg;
	} sec_cases[] = {
	    {flip_chk, -LBE_FORMAT, "secret key: checksum mismatch"},
	    {zero_chk, 0, ""},
	    {flip_pk_half, -LBE_FORMAT, "secret key: damaged (public half does not match)"},
	    {kdf_xx, -LBE_FORMAT, "secret key: unsupported key derivation function"},
	    {chk_sha, -LBE_FORMAT, "secret key: unsupported checksum algorithm"},
	    {alg_ex, -LBE_FORMAT, "secret key: unsupported signature algorithm"},
	};
	for (size_t i = 0; i < N(sec_cases); i++) {
		char *s = rewrite_b64_line(sec, 1, sec_cases[i].fn);
		int r = lb_minisign_parse_seckey(s, strlen(s), &k2);
		if (r != sec_cases[i].err || !strstr(lb_err_msg(), sec_cases[i].msg))
			fail_msg("secret key case %zu: %d %s", i, r, lb_err_msg());
		assert_int_equal(k2.has_sk, r == 0);
		free(s);
	}
	char *s = rewrite_b64_line(pub, 1, alg_ex);
	expect_err(lb_minisign_parse_pubkey(s, strlen(s), &k2), -LBE_FORMAT,
	           "public key: unsupported signature algorithm");
	free(s);

	static const struct {
		const char *text;
		const char *msg;
	} pub_cases[] = {
	    {"", "public key: empty"},
	    {"\n", "public key: not a base64 minisign public key"},
	    {"untrusted comment: only a comment\n", "public key: no key after the comment line"},
	    {"RWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7", "not a base64"},
	    {"RWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t=", "not a base64"},
	    {"RWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7*", "not a base64"},
	    {" RWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t", "not a base64"},
	    {"RWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t \n", "not a base64"},
	    {"RWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t\nmore\n", "trailing data"},
	    {"RWRxIr8mc8Rgg0wX\rDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t\n", "bad line"},
	    {"untrusted comment: x\nRWRxIr8mc8Rgg0wXDE8m5Lsl0B4osOco6bmN2DeQniJeD1dIGWJ+RS7t\n\0",
	     "NUL byte"},
	};
	for (size_t i = 0; i < N(pub_cases); i++) {
		size_t len = strlen(pub_cases[i].text) + (strstr(pub_cases[i].msg, "NUL") ? 1 : 0);
		int r = lb_minisign_parse_pubkey(pub_cases[i].text, len, &k2);
		if (r != -LBE_FORMAT || !strstr(lb_err_msg(), pub_cases[i].msg))
			fail_msg("public key case %zu: %d %s", i, r, lb_err_msg());
	}
	expect_err(lb_minisign_parse_pubkey(NULL, 0, &k2), -LBE_FORMAT, "public key: empty");
	expect_err(lb_minisign_parse_seckey(NULL, 0, &k2), -LBE_FORMAT, "secret key: empty");
	/* every truncation of a secret key */
	size_t sl = strlen(sec);
	for (size_t n = 0; n + 1 < sl; n++)
		if (lb_minisign_parse_seckey(sec, n, &k2) != -LBE_FORMAT || k2.has_sk)
			fail_msg("secret key truncated to %zu accepted", n);
}

/* ---- tampering and malformed signatures ---- */

struct fixture {
	struct lb_mkey key, pub, other_same_id, other;
	char *sig;
	char hex[17];
};

static void make_fixture(struct fixture *f)
{
	size_t len;
	assert_int_equal(lb_minisign_keygen(&f->key), 0);
	f->pub = f->key;
	lb_minisign_wipe(&f->pub);
	assert_int_equal(lb_minisign_keygen(&f->other), 0);
	lb_minisign_wipe(&f->other);
	f->other_same_id = f->other;
	memcpy(f->other_same_id.id, f->key.id, 8);
	lb_minisign_keyid_hex(f->key.id, f->hex);
	assert_int_equal(lb_minisign_sign(&f->key, VEC_MSG, strlen(VEC_MSG),
	                                  "timestamp:1 file:groups/stable/state serial:7", &f->sig,
	                                  &len),
	                 0);
}

enum keyset { PUB, OTHER_SAME_ID, OTHER, NONE, BOTH };

static void test_tamper(void **state)
{
	struct fixture f;
	make_fixture(&f);
	char want_bad[96], want_tc[96], want_unknown[96];
	snprintf(want_bad, sizeof want_bad, "signature: does not verify with key %s", f.hex);
	snprintf(want_tc, sizeof want_tc, "signature: trusted comment does not verify with key %s",
	         f.hex);
	snprintf(want_unknown, sizeof want_unknown, "signature: made by unknown key %s", f.hex);

	char *crlf = malloc(2 * strlen(f.sig) + 1);
	assert_non_null(crlf);
	char *o = crlf;
	for (const char *p = f.sig; *p; p++) {
		if (*p == '\n')
			*o++ = '\r';
		*o++ = *p;
	}
	*o = 0;
	char *no_final_nl = strdup(f.sig);
	no_final_nl[strlen(no_final_nl) - 1] = 0;
	char *trailing_blank = replace(f.sig, "==\n", "==\n\n\n");

	struct {
		const char *name;
		char *sig;
		const char *msg;
		enum keyset keys;
		const char *want; /* NULL: verifies */
	} cases[] = {
	    {"good", f.sig, VEC_MSG, PUB, NULL},
	    {"good among two keys", f.sig, VEC_MSG, BOTH, NULL},
	    {"CRLF", crlf, VEC_MSG, PUB, NULL},
	    {"no final newline", no_final_nl, VEC_MSG, PUB, NULL},
	    {"trailing blank lines", trailing_blank, VEC_MSG, PUB, NULL},
	    {"untrusted comment changed", replace(f.sig, "lifeboat", "evil"), VEC_MSG, PUB, NULL},
	    {"message changed", f.sig, "hello!", PUB, want_bad},
	    {"message empty", f.sig, "", PUB, want_bad},
	    {"trusted comment changed", replace(f.sig, "serial:7", "serial:8"), VEC_MSG, PUB,
	     want_tc},
	    {"trusted comment extended", replace(f.sig, "serial:7", "serial:77"), VEC_MSG, PUB,
	     want_tc},
	    {"trusted comment emptied",
	     replace(f.sig, "timestamp:1 file:groups/stable/state serial:7", ""), VEC_MSG, PUB,
	     want_tc},
	    {"global signature changed", rewrite_b64_line(f.sig, 3, flip_last), VEC_MSG, PUB,
	     want_tc},
	    {"signature changed", rewrite_b64_line(f.sig, 1, flip_last), VEC_MSG, PUB, want_bad},
	    {"algorithm changed to legacy", rewrite_b64_line(f.sig, 1, alg_legacy), VEC_MSG, PUB,
	     want_bad},
	    {"wrong key with the same id", f.sig, VEC_MSG, OTHER_SAME_ID, want_bad},
	    {"unknown key", f.sig, VEC_MSG, OTHER, want_unknown},
	    {"no keys", f.sig, VEC_MSG, NONE, want_unknown},
	    {"key id changed", rewrite_b64_line(f.sig, 1, flip_id), VEC_MSG, PUB,
	     "signature: made by unknown key"},
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct lb_mkey keys[2];
		size_t nkeys = 1;
		switch (cases[i].keys) {
		case PUB: keys[0] = f.pub; break;
		case OTHER_SAME_ID: keys[0] = f.other_same_id; break;
		case OTHER: keys[0] = f.other; break;
		case NONE: nkeys = 0; break;
		case BOTH:
			keys[0] = f.other;
			keys[1] = f.pub;
			nkeys = 2;
			break;
		}
		char tc[LB_MINISIGN_TCOMMENT_MAX];
		lb_err_clear();
		int r = lb_minisign_verify(keys, nkeys, cases[i].msg, strlen(cases[i].msg),
		                           cases[i].sig, strlen(cases[i].sig), tc);
		if (!cases[i].want) {
			if (r != 0)
				fail_msg("%s: %s", cases[i].name, lb_err_msg());
			assert_string_equal(tc, "timestamp:1 file:groups/stable/state serial:7");
		} else if (r != -LBE_SIGNATURE || !strstr(lb_err_msg(), cases[i].want) || tc[0]) {
			fail_msg("%s: got %d \"%s\", want \"%s\"", cases[i].name, r, lb_err_msg(),
			         cases[i].want);
		}
		if (cases[i].sig != f.sig && cases[i].sig != crlf && cases[i].sig != no_final_nl &&
		    cases[i].sig != trailing_blank)
			free(cases[i].sig);
	}
	free(crlf);
	free(no_final_nl);
	free(trailing_blank);
	free(f.sig);
}

static void test_malformed(void **state)
{
	struct fixture f;
	make_fixture(&f);
	char tc[LB_MINISIGN_TCOMMENT_MAX];
	size_t len = strlen(f.sig);

	/* every truncation but the one that drops only the final newline */
	for (size_t n = 0; n + 1 < len; n++) {
		lb_err_clear();
		int r = lb_minisign_verify(&f.pub, 1, VEC_MSG, strlen(VEC_MSG), f.sig, n, tc);
		if (r != -LBE_SIGNATURE || !strstr(lb_err_msg(), "signature: malformed"))
			fail_msg("truncated to %zu: %d \"%s\"", n, r, lb_err_msg());
	}

	char big[LB_MINISIGN_SIG_MAX + 100];
	snprintf(big, sizeof big, "untrusted comment: %4000d%s", 0, strchr(f.sig, '\n'));
	char long_tc[600];
	snprintf(long_tc, sizeof long_tc, "trusted comment: %300d", 0);
	char *nul = strdup(f.sig);
	nul[5] = 0;

	struct {
		const char *name;
		char *sig;
		size_t len; /* 0: strlen */
		const char *want;
	} cases[] = {
	    {"empty", strdup(""), 0, "malformed: empty"},
	    {"blank lines", strdup("\n\n\n\n"), 0, "malformed: no \"untrusted comment:\" line"},
	    {"garbage", strdup("garbage\x80\xff"), 0, "malformed: no \"untrusted comment:\" line"},
	    {"no space after the prefix",
	     replace(f.sig, "untrusted comment: ", "untrusted comment:"), 0,
	     "malformed: no \"untrusted comment:\" line"},
	    {"NUL byte", nul, len, "malformed: contains a NUL byte"},
	    {"larger than 4 KiB", strdup(big), 0, "malformed: larger than 4 KiB"},
	    {"not base64", replace(f.sig, "\n", "\n!!"), 0, "malformed: bad signature line"},
	    {"space before the base64", replace(f.sig, "\n", "\n "), 0,
	     "malformed: bad signature line"},
	    {"CR inside a line", replace(f.sig, "\n", "\nA\rB"), 0,
	     "malformed: bad signature line"},
	    {"unknown algorithm", rewrite_b64_line(f.sig, 1, alg_ex), 0,
	     "malformed: unsupported signature algorithm"},
	    {"no trusted comment prefix", replace(f.sig, "\ntrusted comment: ", "\ntrusted: "), 0,
	     "malformed: no \"trusted comment:\" line"},
	    {"trusted comment too long",
	     replace(f.sig, "trusted comment: timestamp:1 file:groups/stable/state serial:7",
	             long_tc),
	     0, "malformed: trusted comment too long"},
	    {"trusted comment line missing", replace(f.sig, "\ntrusted comment: ", "\n"), 0,
	     "malformed: no \"trusted comment:\" line"},
	    {"trailing data", NULL, 0, "malformed: trailing data"},
	    {"global signature line missing", NULL, 0,
	     "malformed: bad trusted comment signature line"},
	};
	assert_true(asprintf(&cases[N(cases) - 2].sig, "%sextra\n", f.sig) > 0);
	{
		/* cut after the trusted comment line */
		char *s = strdup(f.sig);
		char *tcl = strstr(s, "\ntrusted comment: ") + 1;
		tcl = strstr(tcl, "\n");
		tcl[1] = 0;
		cases[N(cases) - 1].sig = s;
	}
	for (size_t i = 0; i < N(cases); i++) {
		size_t n = cases[i].len ? cases[i].len : strlen(cases[i].sig);
		lb_err_clear();
		int r =
		    lb_minisign_verify(&f.pub, 1, VEC_MSG, strlen(VEC_MSG), cases[i].sig, n, tc);
		if (r != -LBE_SIGNATURE || !strstr(lb_err_msg(), cases[i].want))
			fail_msg("%s: got %d \"%s\", want \"%s\"", cases[i].name, r, lb_err_msg(),
			         cases[i].want);
		assert_string_equal(tc, "");
		free(cases[i].sig);
	}
	expect_err(lb_minisign_verify(&f.pub, 1, NULL, 0, NULL, 0, tc), -LBE_SIGNATURE,
	           "signature: malformed: empty");
	assert_int_equal(lb_exit_code(-LBE_SIGNATURE), 5);
	free(f.sig);
}

/* A legacy "Ed" signature (the message itself signed), built by hand. */
static void test_legacy(void **state)
{
	const struct tdir *t = *state;
	struct fixture f;
	make_fixture(&f);
	const char *tcs = "legacy comment";
	uint8_t bin[74], global[64 + 14];
	memcpy(bin, "Ed", 2);
	memcpy(bin + 2, f.key.id, 8);
	crypto_sign_ed25519_detached(bin + 10, NULL, (const uint8_t *)VEC_MSG, strlen(VEC_MSG),
	                             f.key.sk);
	memcpy(global, bin + 10, 64);
	memcpy(global + 64, tcs, 14);
	uint8_t gsig[64];
	crypto_sign_ed25519_detached(gsig, NULL, global, sizeof global, f.key.sk);
	char b1[120], b2[100], *sig;
	sodium_bin2base64(b1, sizeof b1, bin, sizeof bin, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b2, sizeof b2, gsig, sizeof gsig, sodium_base64_VARIANT_ORIGINAL);
	assert_true(
	    asprintf(&sig, "untrusted comment: x\n%s\ntrusted comment: %s\n%s\n", b1, tcs, b2) > 0);
	char tc[LB_MINISIGN_TCOMMENT_MAX];
	assert_int_equal(
	    lb_minisign_verify(&f.pub, 1, VEC_MSG, strlen(VEC_MSG), sig, strlen(sig), tc), 0);
	assert_string_equal(tc, tcs);
	put(t, "m", VEC_MSG, strlen(VEC_MSG));
	int fd = openr(t, "m");
	assert_int_equal(lb_minisign_verify_fd(&f.pub, 1, fd, sig, strlen(sig), tc), 0);
	close(fd);
	assert_string_equal(tc, tcs);
	expect_err(lb_minisign_verify(&f.pub, 1, "hello", 5, sig, strlen(sig), tc), -LBE_SIGNATURE,
	           "signature: does not verify with key");
	put(t, "m", "hello", 5);
	fd = openr(t, "m");
	expect_err(lb_minisign_verify_fd(&f.pub, 1, fd, sig, strlen(sig), tc), -LBE_SIGNATURE,
	           "signature: does not verify with key");
	close(fd);
	free(sig);
	free(f.sig);
}

/* ---- with the real minisign ---- */

/* Our keys and signature, checked by `minisign -V`. */
static void test_minisign_verifies_ours(void **state)
{
	NEED_MINISIGN();
	const struct tdir *t = *state;
	struct lb_mkey key;
	char *sig, pub[LB_MINISIGN_PUBKEY_TEXT];
	size_t siglen;
	assert_int_equal(lb_minisign_keygen(&key), 0);
	assert_int_equal(lb_minisign_write_keys(t->fd, "k", &key), 0);
	static const size_t sizes[] = {0, 6, 65536 * 3 + 7};
	uint8_t *msg = malloc(sizes[2]);
	assert_non_null(msg);
	randombytes_buf(msg, sizes[2]);
	for (size_t i = 0; i < N(sizes); i++) {
		put(t, "m", msg, sizes[i]);
		assert_int_equal(lb_minisign_sign(&key, msg, sizes[i],
		                                  "timestamp:1764070000 file:groups/stable/state "
		                                  "serial:1764070000123",
		                                  &sig, &siglen),
		                 0);
		put(t, "m.minisig", sig, siglen);
		free(sig);
		assert_int_equal(run(t, "minisign -Vm m -p k.pub"), 0);
		assert_int_equal(run(t, "minisign -Vm m -p k.pub -Q >tc && "
		                        "test \"$(cat tc)\" = 'timestamp:1764070000 "
		                        "file:groups/stable/state serial:1764070000123'"),
		                 0);
		lb_minisign_format_pubkey(&key, 1, pub);
		assert_int_equal(run(t, "minisign -Vm m -P %s", pub), 0);
		/* and minisign refuses a tampered message */
		assert_int_equal(run(t, "echo x >>m"), 0);
		assert_int_not_equal(run(t, "minisign -Vm m -p k.pub"), 0);
	}
	/* sign_fd too */
	put(t, "m", msg, sizes[2]);
	int fd = openr(t, "m");
	assert_int_equal(lb_minisign_sign_fd(&key, fd, "fd", &sig, &siglen), 0);
	close(fd);
	put(t, "m.minisig", sig, siglen);
	free(sig);
	assert_int_equal(run(t, "minisign -Vm m -p k.pub"), 0);
	free(msg);
}

/* Keys and signatures made by minisign, read and verified by us. */
static void test_we_verify_minisign(void **state)
{
	NEED_MINISIGN();
	const struct tdir *t = *state;
	struct lb_mkey pub, sec;
	char tc[LB_MINISIGN_TCOMMENT_MAX];
	assert_int_equal(run(t, "minisign -G -W -p k.pub -s k.key"), 0);
	assert_int_equal(lb_minisign_load_pubkey(t->fd, "k.pub", &pub), 0);
	assert_int_equal(lb_minisign_load_seckey(t->fd, "k.key", &sec), 0);
	assert_memory_equal(pub.id, sec.id, 8);
	assert_memory_equal(pub.pk, sec.pk, 32);

	uint8_t msg[100000];
	randombytes_buf(msg, sizeof msg);
	put(t, "m", msg, sizeof msg);
	assert_int_equal(run(t, "minisign -S -s k.key -m m -t 'timestamp:5 file:m serial:9'"), 0);
	assert_int_equal(run(t, "minisign -S -s k.key -m m -x m.default"), 0); /* tabs in it */
	assert_int_equal(run(t, "minisign -S -l -s k.key -m m -x m.legacy -t 'legacy one'"), 0);

	size_t len;
	char *sig = get(t, "m.minisig", &len);
	assert_int_equal(lb_minisign_verify(&pub, 1, msg, sizeof msg, sig, len, tc), 0);
	assert_string_equal(tc, "timestamp:5 file:m serial:9");
	int fd = openr(t, "m");
	assert_int_equal(lb_minisign_verify_fd(&pub, 1, fd, sig, len, tc), 0);
	close(fd);
	msg[0] ^= 1;
	expect_err(lb_minisign_verify(&pub, 1, msg, sizeof msg, sig, len, tc), -LBE_SIGNATURE,
	           "signature: does not verify with key");
	msg[0] ^= 1;
	free(sig);

	sig = get(t, "m.default", &len);
	assert_int_equal(lb_minisign_verify(&pub, 1, msg, sizeof msg, sig, len, tc), 0);
	assert_non_null(strstr(tc, "\tfile:m\thashed"));
	free(sig);

	sig = get(t, "m.legacy", &len);
	assert_int_equal(lb_minisign_verify(&pub, 1, msg, sizeof msg, sig, len, tc), 0);
	assert_string_equal(tc, "legacy one");
	fd = openr(t, "m");
	assert_int_equal(lb_minisign_verify_fd(&pub, 1, fd, sig, len, tc), 0);
	close(fd);
	msg[99999] ^= 1;
	expect_err(lb_minisign_verify(&pub, 1, msg, sizeof msg, sig, len, tc), -LBE_SIGNATURE,
	           "signature: does not verify with key");
	free(sig);

	/* minisign's secret key signs for us, and minisign checks the result */
	assert_int_equal(lb_minisign_sign(&sec, msg, sizeof msg, "ours", &sig, &len), 0);
	put(t, "m", msg, sizeof msg);
	put(t, "m.minisig", sig, len);
	free(sig);
	assert_int_equal(run(t, "minisign -Vm m -p k.pub"), 0);
}

/* Our secret key file used by `minisign -S -s` and `minisign -R`. */
static void test_minisign_uses_our_seckey(void **state)
{
	NEED_MINISIGN();
	const struct tdir *t = *state;
	struct lb_mkey key, pub;
	char tc[LB_MINISIGN_TCOMMENT_MAX];
	assert_int_equal(lb_minisign_keygen(&key), 0);
	assert_int_equal(lb_minisign_write_keys(t->fd, "ours", &key), 0);
	put(t, "m", VEC_MSG, strlen(VEC_MSG));
	assert_int_equal(run(t, "minisign -S -s ours -m m -t 'made by minisign'"), 0);
	assert_int_equal(run(t, "minisign -Vm m -p ours.pub"), 0);
	pub = key;
	lb_minisign_wipe(&pub);
	size_t len;
	char *sig = get(t, "m.minisig", &len);
	assert_int_equal(lb_minisign_verify(&pub, 1, VEC_MSG, strlen(VEC_MSG), sig, len, tc), 0);
	assert_string_equal(tc, "made by minisign");
	free(sig);
	/* minisign recreates the same public key from our secret key */
	assert_int_equal(run(t, "minisign -R -s ours -p re.pub"), 0);
	char *a = get(t, "re.pub", &len), *b = get(t, "ours.pub", &len);
	/* the key line; minisign's comment line drops a leading zero of the key id */
	assert_non_null(strchr(a, '\n'));
	assert_non_null(strchr(b, '\n'));
	assert_string_equal(strchr(a, '\n'), strchr(b, '\n'));
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
	    cmocka_unit_test(test_bad_keys),
	    cmocka_unit_test(test_tamper),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test_setup_teardown(test_legacy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_minisign_verifies_ours, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_we_verify_minisign, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_minisign_uses_our_seckey, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
