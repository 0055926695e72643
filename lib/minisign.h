/* SPDX-License-Identifier: MIT */
/* minisign-compatible Ed25519 keys and signatures (the formats of jedisct1/minisign
 * 0.11), with libsodium. Files written here are read by `minisign`, and files
 * written by `minisign` are read here:
 *
 *  public key:  "untrusted comment: minisign public key <KEYID>\n"
 *               base64("Ed" || keyid[8] || pk[32]) "\n"
 *               (the bare base64 line, as `minisign -P` takes it, is accepted too)
 *  secret key:  "untrusted comment: ...\n"
 *               base64("Ed" || kdf "\0\0" || "B2" || salt[32] || opslimit[8] ||
 *                      memlimit[8] || keyid[8] || sk[64] || chk[32]) "\n"
 *               unencrypted only (`minisign -G -W`); chk = BLAKE2b-256("Ed" ||
 *               keyid || sk), or all zeros as minisign 0.11 writes it
 *  signature:   "untrusted comment: ...\n"
 *               base64("ED" || keyid[8] || Ed25519(sk, BLAKE2b-512(message))) "\n"
 *               "trusted comment: <text>\n"
 *               base64(Ed25519(sk, signature[64] || text)) "\n"
 *               (the legacy "Ed" algorithm signs the message itself; it is
 *               accepted when verifying, never written)
 *
 * KEYID is shown as minisign shows it: 16 upper-case hex digits of the key id
 * read as a little-endian 64-bit number.
 *
 * All inputs are untrusted: parsing is bounded by the given length (no NUL
 * needed), a signature text longer than LB_MINISIGN_SIG_MAX is malformed, lines
 * end in "\n" or "\r\n" (the last one may lack it), NUL bytes are refused.
 * Functions return 0 or a negative code with a one-line message (error.h):
 *   -LBE_SIGNATURE  "signature: malformed: <why>"
 *                   "signature: made by unknown key <KEYID>"
 *                   "signature: does not verify with key <KEYID>"
 *                   "signature: trusted comment does not verify with key <KEYID>"
 *   -LBE_FORMAT     a malformed key ("public key: ...", "secret key: ..."), and
 *                   "secret key: encrypted secret keys are not supported; create
 *                   one with lifeboat-master keygen"
 *   -EINVAL         a bad argument (no secret key, a trusted comment with a
 *                   newline or too long), -ENOMEM, -errno of I/O. */
#ifndef LB_MINISIGN_H
#define LB_MINISIGN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define LB_MINISIGN_SIG_MAX      4096        /* longest signature file accepted */
#define LB_MINISIGN_KEYFILE_MAX  4096        /* longest key file accepted */
#define LB_MINISIGN_TCOMMENT_MAX 256         /* trusted comment buffer: up to 255 bytes + NUL */
#define LB_MINISIGN_LEGACY_MAX   (64u << 20) /* legacy signatures: largest file in verify_fd */
#define LB_MINISIGN_PUBKEY_TEXT  128         /* buffer for a public key file's text */
#define LB_MINISIGN_SECKEY_TEXT  320         /* buffer for a secret key file's text */

struct lb_mkey {
	uint8_t id[8];  /* key id, as stored (little-endian) */
	uint8_t pk[32]; /* Ed25519 public key */
	uint8_t sk[64]; /* Ed25519 secret key (seed || pk), valid when has_sk */
	int has_sk;
};

/* A new random key pair with a random key id. */
int lb_minisign_keygen(struct lb_mkey *key) LB_MUST;

/* Forget the secret part of key (sodium_memzero; has_sk = 0). */
void lb_minisign_wipe(struct lb_mkey *key);

/* "8360C47326BF2271": the key id as minisign prints it. */
void lb_minisign_keyid_hex(const uint8_t id[8], char out[17]);

/* The public key file text, NUL-terminated; with bare, only the base64 line (as
 * `minisign -P` takes it) without "\n". Returns the length. */
size_t lb_minisign_format_pubkey(const struct lb_mkey *key, int bare,
                                 char out[LB_MINISIGN_PUBKEY_TEXT]);
/* The unencrypted secret key file text, NUL-terminated, into out (wipe it with
 * sodium_memzero() after use): the length, or -EINVAL without a secret part. */
int lb_minisign_format_seckey(const struct lb_mkey *key, char out[LB_MINISIGN_SECKEY_TEXT]);

/* Write dirfd/NAME (the secret key, mode 0600) then dirfd/NAME.pub (0644), each
 * atomically replaced through fsop (existing files are replaced: a caller that
 * must not overwrite a key checks first). */
int lb_minisign_write_keys(int dirfd, const char *name, const struct lb_mkey *key) LB_MUST;

/* Parse a public key file (comment line + base64 line, or the bare base64 line).
 * key->has_sk = 0. */
int lb_minisign_parse_pubkey(const char *text, size_t len, struct lb_mkey *key) LB_MUST;
/* Parse an unencrypted secret key file; checks the algorithms, the checksum
 * (unless all zeros) and that the secret key matches its public half. */
int lb_minisign_parse_seckey(const char *text, size_t len, struct lb_mkey *key) LB_MUST;
/* Read and parse dirfd/name (at most LB_MINISIGN_KEYFILE_MAX bytes); the message
 * names the file. */
int lb_minisign_load_pubkey(int dirfd, const char *name, struct lb_mkey *key) LB_MUST;
int lb_minisign_load_seckey(int dirfd, const char *name, struct lb_mkey *key) LB_MUST;

/* Sign msg (prehashed, algorithm "ED") with key and trusted_comment (at most
 * LB_MINISIGN_TCOMMENT_MAX - 1 bytes, no "\r", "\n" or NUL). *sigtext is the
 * whole signature file, malloc'd and NUL-terminated; *siglen its length. */
int lb_minisign_sign(const struct lb_mkey *key, const void *msg, size_t len,
                     const char *trusted_comment, char **sigtext, size_t *siglen) LB_MUST;
/* The same over what fd reads from its current offset to the end of file, hashed in
 * 64 KiB chunks. */
int lb_minisign_sign_fd(const struct lb_mkey *key, int fd, const char *trusted_comment,
                        char **sigtext, size_t *siglen) LB_MUST;

/* Verify sigtext (siglen bytes) over msg with the key among keys[0..nkeys) whose id
 * matches the signature's: the signature over the message (prehashed "ED" or
 * legacy "Ed"), then the global signature over the trusted comment. On success
 * the trusted comment is copied (NUL-terminated) to trusted_comment_out unless it
 * is NULL; on failure trusted_comment_out is "". */
int lb_minisign_verify(const struct lb_mkey *keys, size_t nkeys, const void *msg, size_t len,
                       const char *sigtext, size_t siglen,
                       char trusted_comment_out[LB_MINISIGN_TCOMMENT_MAX]) LB_MUST;
/* The key id of the key that made sigtext (parsed as lb_minisign_verify does; nothing
 * is verified): lets a caller that does not know the key look for it first. */
int lb_minisign_sig_keyid(const char *sigtext, size_t siglen, uint8_t id[8]) LB_MUST;
/* The same over what fd reads from its current offset to the end of file (hashed
 * in 64 KiB chunks; a legacy signature needs the whole file in memory and is
 * refused over a file larger than LB_MINISIGN_LEGACY_MAX). */
int lb_minisign_verify_fd(const struct lb_mkey *keys, size_t nkeys, int fd, const char *sigtext,
                          size_t siglen,
                          char trusted_comment_out[LB_MINISIGN_TCOMMENT_MAX]) LB_MUST;

#endif
