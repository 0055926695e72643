/* SPDX-License-Identifier: MIT */
/* lifeboat-master export --tree TREE --group G --key KEYFILE --out DIR
 *                        [--device ID[,ID...]] [--master URL] [--conf FILE]
 *                        [--layout NAME:MiB,...] [--slots 1|2] [--repartition]
 *                        [--expires DAYS]
 * A factory provisioning bundle (docs/provisioning.md): the subset of a published
 * tree that group G's devices need (the signed state and pointers, the pool files
 * and the OS image's pack and index the state names, the key list), under the same
 * paths, so that a device reads it through a file:// master URL; and the signed
 * manifest DIR/lifeboat-bundle that names the group, the devices and the partition
 * layout. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsop.h"
#include "master.h"

#define DAY          86400LL
#define EXPORT_DEVS  256         /* device ids in one bundle */
#define EXPORT_PARTS 16          /* partitions in a layout */
#define STATE_MAX    (16u << 20) /* largest state read */
#define CONF_MAX     (64u << 10) /* largest --conf */

struct eopts {
	const char *tree, *group, *key, *out, *devices, *master, *conf, *layout, *slots, *expires;
	bool repartition;
};

struct epart {
	char name[40];
	unsigned long mib;
};

static int parse_opts(int argc, char **argv, struct eopts *o)
{
	static const char *const names[] = {"--tree",   "--group",  "--key",  "--out",
	                                    "--device", "--master", "--conf", "--layout",
	                                    "--slots",  "--expires"};
	memset(o, 0, sizeof *o);
	const char **dest[] = {&o->tree,   &o->group, &o->key,    &o->out,   &o->devices,
	                       &o->master, &o->conf,  &o->layout, &o->slots, &o->expires};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--repartition")) {
			o->repartition = true;
			continue;
		}
		int r = mx_option("export", argc, argv, &i, names, dest,
		                  sizeof names / sizeof names[0]);
		if (r < 0)
			return r;
		if (!r)
			return lb_errf(-LBE_USAGE, "export: unexpected argument '%s'", argv[i]);
	}
	if (!o->tree || !o->group || !o->key || !o->out)
		return lb_errf(-LBE_USAGE,
		               "usage: lifeboat-master export --tree TREE --group G --key KEYFILE "
		               "--out DIR [--device ID[,ID...]] [--master URL] [--conf FILE] "
		               "[--layout NAME:MiB,...] [--slots 1|2] [--repartition] "
		               "[--expires DAYS]");
	if (!conf_name_valid(o->group))
		return lb_errf(-LBE_USAGE, "export: --group '%s': not a valid group name",
		               o->group);
	if (o->slots && strcmp(o->slots, "1") && strcmp(o->slots, "2"))
		return lb_errf(-LBE_USAGE, "export: --slots '%s': 1 or 2", o->slots);
	if (o->slots && o->layout)
		return lb_errf(-LBE_USAGE, "export: --slots and --layout exclude each other");
	if (o->master && (strchr(o->master, '\n') || !o->master[0]))
		return lb_errf(-LBE_USAGE, "export: --master: not a URL");
	return 0;
}

/* "a,b,c" into ids (pointers into buf, a copy) */
static int split_devices(const char *list, char *buf, size_t bufsz, char **ids, size_t *n)
{
	*n = 0;
	if (!list)
		return 0;
	if (snprintf(buf, bufsz, "%s", list) >= (int)bufsz)
		return lb_errf(-LBE_USAGE, "export: --device: list too long");
	for (char *save = NULL, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		if (!conf_name_valid(s))
			return lb_errf(-LBE_USAGE, "export: --device '%s': not a valid device id",
			               s);
		if (*n == EXPORT_DEVS)
			return lb_errf(-LBE_USAGE, "export: more than %d devices", EXPORT_DEVS);
		for (size_t j = 0; j < *n; j++)
			if (!strcmp(ids[j], s))
				return lb_errf(-LBE_USAGE, "export: --device %s listed twice", s);
		ids[(*n)++] = s;
	}
	if (!*n)
		return lb_errf(-LBE_USAGE, "export: --device: no id");
	return 0;
}

static bool part_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 35)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_'))
			return false;
	return true;
}

/* --layout "rescue:16,state:32,rootfs-a:64", or build-disk.sh's layout for an image of
 * image_size bytes: rescue 16, state 32, rootfs-a (and rootfs-b) of the image rounded
 * up to a MiB, at least 64 */
static int make_layout(const struct eopts *o, unsigned long long image_size, struct epart *p,
                       size_t *n)
{
	*n = 0;
	if (!o->layout) {
		unsigned long slot = (unsigned long)((image_size + (1u << 20) - 1) >> 20);
		if (slot < 64)
			slot = 64;
		static const char *const names[] = {"rescue", "state", "rootfs-a", "rootfs-b"};
		unsigned long sizes[] = {16, 32, slot, slot};
		size_t count = o->slots && !strcmp(o->slots, "2") ? 4 : 3;
		for (size_t i = 0; i < count; i++) {
			snprintf(p[i].name, sizeof p[i].name, "%s", names[i]);
			p[i].mib = sizes[i];
		}
		*n = count;
		return 0;
	}
	char buf[1024];
	if (snprintf(buf, sizeof buf, "%s", o->layout) >= (int)sizeof buf)
		return lb_errf(-LBE_USAGE, "export: --layout: too long");
	bool state = false, rootfs = false;
	for (char *save = NULL, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(s, ':'), *end;
		if (!colon)
			return lb_errf(-LBE_USAGE, "export: --layout '%s': NAME:MiB expected", s);
		*colon = 0;
		errno = 0;
		unsigned long mib = strtoul(colon + 1, &end, 10);
		if (!part_name_ok(s) || errno || end == colon + 1 || *end || colon[1] == '-' ||
		    mib < 1 || mib > (1ul << 22))
			return lb_errf(-LBE_USAGE,
			               "export: --layout '%s:%s': a name of [a-z0-9_-] and 1 to "
			               "4194304 MiB expected",
			               s, colon + 1);
		if (*n == EXPORT_PARTS)
			return lb_errf(-LBE_USAGE, "export: --layout: more than %d partitions",
			               EXPORT_PARTS);
		for (size_t j = 0; j < *n; j++)
			if (!strcmp(p[j].name, s))
				return lb_errf(-LBE_USAGE, "export: --layout: %s twice", s);
		state |= !strcmp(s, "state");
		rootfs |= !strcmp(s, "rootfs-a");
		snprintf(p[*n].name, sizeof p[*n].name, "%s", s);
		p[(*n)++].mib = mib;
	}
	if (!state || !rootfs)
		return lb_errf(-LBE_USAGE,
		               "export: --layout needs partitions 'state' and 'rootfs-a'");
	return 0;
}

/* mkdir -p of the directories of rel under outfd */
static int make_parents(int outfd, const char *rel)
{
	char buf[512];
	if (snprintf(buf, sizeof buf, "%s", rel) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		int r = lb_ensure_dir(outfd, buf, 0755);
		*s = '/';
		if (r < 0)
			return r;
	}
	return 0;
}

/* Copy TREE/rel to DIR/rel (same path). A content-addressed file (size given) that is
 * there with that size stays; a hard link where the file systems allow it, else a
 * copy through a temporary file. */
static int copy_rel(int tfd, int outfd, const char *rel, long long size, unsigned long long *bytes)
{
	struct stat st;
	int r = make_parents(outfd, rel);
	if (r < 0)
		return lb_errf(r, "%s: %s", rel, strerror(-r));
	if (size >= 0 && !fstatat(outfd, rel, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode) &&
	    st.st_size == size)
		return 0;
	int src = openat(tfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (src < 0)
		return lb_errf(-errno, "%s: %s", rel, strerror(errno));
	if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(src);
		return lb_errf(-EINVAL, "%s: not a regular file", rel);
	}
	if (size >= 0 && st.st_size != size) {
		close(src);
		return lb_errf(-LBE_HASH, "%s: %lld bytes, the state says %lld", rel,
		               (long long)st.st_size, size);
	}
	*bytes += (unsigned long long)st.st_size;
	if ((r = lb_unlink(outfd, rel)) < 0)
		goto out;
	if (!linkat(tfd, rel, outfd, rel, 0))
		goto out;
	int fd = lb_replace_open(outfd, rel, 0644);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	static char buf[1 << 16];
	for (;;) {
		ssize_t n = read(src, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		if ((r = lb_write_all(fd, buf, (size_t)n)) < 0)
			break;
	}
	r = lb_replace_finish(outfd, rel, fd, r);
out:
	close(src);
	if (r < 0 && !lb_err_msg()[0])
		return lb_errf(r, "%s: %s", rel, strerror(-r));
	return r;
}

/* a path the state names: "images/NAME" without "..", "/" or control characters */
static bool image_path_ok(const char *s)
{
	if (strncmp(s, "images/", 7) || !s[7] || strlen(s) > 200 || strstr(s, ".."))
		return false;
	for (const char *c = s + 7; *c; c++)
		if (*c == '/' || (unsigned char)*c <= ' ')
			return false;
	return true;
}

struct estate {
	struct lb_doc doc;
	const struct lb_para *p;
	unsigned long long image_size;
	time_t expires;
};

/* TREE/groups/G/state: signed with key (the master's own), for G */
static int read_state(int tfd, const struct eopts *o, const struct lb_mkey *key, struct estate *s)
{
	char rel[256], srel[272];
	char *text = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;
	snprintf(rel, sizeof rel, "groups/%s/state", o->group);
	snprintf(srel, sizeof srel, "%s.minisig", rel);
	int r = lb_read_file(tfd, rel, STATE_MAX, &text, &len);
	if (r == -ENOENT)
		r = lb_errf(-LBE_NOT_FOUND, "%s/%s: no such group in the tree (publish it first)",
		            o->tree, rel);
	else if (r < 0)
		r = lb_errf(r, "%s/%s: %s", o->tree, rel, strerror(-r));
	if (!r && (r = lb_read_file(tfd, srel, LB_MINISIGN_SIG_MAX, &sig, &siglen)) < 0)
		r = lb_errf(r, "%s/%s: %s", o->tree, srel, strerror(-r));
	if (!r && (r = lb_minisign_verify(key, 1, text, len, sig, siglen, NULL)) < 0)
		r = lb_err_prefix(r, "%s/%s (export with the key that published the tree)", o->tree,
		                  rel);
	if (!r && (r = lb_deb822_parse(text, len, &s->doc)) < 0)
		r = lb_err_prefix(r, "%s/%s", o->tree, rel);
	free(text);
	free(sig);
	if (r < 0)
		return r;
	if (s->doc.n < 1)
		return lb_errf(-LBE_FORMAT, "%s/%s: empty", o->tree, rel);
	s->p = &s->doc.paras[0];
	const char *g = lb_para_get(s->p, "Group"), *exp = lb_para_get(s->p, "Expires");
	if (!g || strcmp(g, o->group))
		return lb_errf(-LBE_FORMAT, "%s/%s: names group '%s'", o->tree, rel, g ? g : "");
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = exp ? strptime(exp, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	if (!end || *end)
		return lb_errf(-LBE_FORMAT, "%s/%s: no valid Expires", o->tree, rel);
	s->expires = timegm(&tm);
	if (s->expires <= time(NULL))
		return lb_errf(-LBE_STALE, "%s/%s: expired at %s: publish again first", o->tree,
		               rel, exp);
	const char *isz = lb_para_get(s->p, "Image-Size");
	s->image_size = isz ? strtoull(isz, NULL, 10) : 0;
	return 0;
}

/* pool files: the state's "SHA256:" lines "<sha256> <size> <name>_<version>" */
static int copy_pool(int tfd, int outfd, const struct lb_para *p, unsigned *npkgs,
                     unsigned long long *bytes)
{
	const char *v = lb_para_get(p, "SHA256");
	*npkgs = 0;
	if (!v)
		return 0;
	for (const char *line = v; *line;) {
		const char *nl = strchr(line, '\n');
		size_t l = nl ? (size_t)(nl - line) : strlen(line);
		char sha[65], rel[96];
		unsigned long long size;
		if (l && sscanf(line, "%64[0-9a-f] %llu", sha, &size) == 2 && strlen(sha) == 64) {
			snprintf(rel, sizeof rel, "pool/%.2s/%s.deb", sha, sha);
			int r = copy_rel(tfd, outfd, rel, (long long)size, bytes);
			if (r < 0)
				return r;
			(*npkgs)++;
		} else if (l) {
			return lb_errf(-LBE_FORMAT, "state: SHA256: bad line '%.*s'", (int)l, line);
		}
		line += l + (nl ? 1 : 0);
	}
	return 0;
}

/* the image's pack and index (Image, Image-Index); deltas are not needed */
static int copy_image(int tfd, int outfd, const struct lb_para *p, unsigned long long *bytes)
{
	static const char *const fields[][2] = {{"Image", "Image-Compressed-Size"},
	                                        {"Image-Index", "Image-Index-Size"}};
	for (size_t i = 0; i < 2; i++) {
		const char *path = lb_para_get(p, fields[i][0]), *sz = lb_para_get(p, fields[i][1]);
		if (!path)
			continue;
		if (!image_path_ok(path))
			return lb_errf(-LBE_FORMAT, "state: %s: '%s' is not a path under images/",
			               fields[i][0], path);
		int r =
		    copy_rel(tfd, outfd, path, sz ? (long long)strtoull(sz, NULL, 10) : -1, bytes);
		if (r < 0)
			return r;
	}
	return 0;
}

/* devices/ID and its signature when the tree has them (they must name the group);
 * a device without a pointer uses the group of its identity (lifeboat.conf) */
static int copy_devices(int tfd, int outfd, const struct eopts *o, char **ids, size_t n,
                        unsigned long long *bytes)
{
	for (size_t i = 0; i < n; i++) {
		char rel[160], srel[176], *text = NULL;
		size_t len = 0;
		snprintf(rel, sizeof rel, "devices/%s", ids[i]);
		snprintf(srel, sizeof srel, "%s.minisig", rel);
		int r = lb_read_file(tfd, rel, STATE_MAX, &text, &len);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return lb_errf(r, "%s/%s: %s", o->tree, rel, strerror(-r));
		struct lb_doc d = {0};
		r = lb_deb822_parse(text, len, &d);
		free(text);
		const char *g = !r && d.n ? lb_para_get(&d.paras[0], "Group") : NULL;
		if (!r && (!g || strcmp(g, o->group)))
			r = lb_errf(-LBE_USAGE, "%s/%s: device %s is in group '%s', not '%s'",
			            o->tree, rel, ids[i], g ? g : "", o->group);
		lb_doc_free(&d);
		if (r < 0)
			return r;
		if ((r = copy_rel(tfd, outfd, rel, -1, bytes)) < 0 ||
		    (r = copy_rel(tfd, outfd, srel, -1, bytes)) < 0)
			return r;
	}
	return 0;
}

/* --conf FILE: lines for the device's lifeboat.conf (not Device-Id or Group: the
 * bundle sets them), as the continuation lines of "Config:" */
static int conf_lines(const struct eopts *o, struct mbuf *b)
{
	char *text = NULL;
	size_t len = 0;
	if (!o->conf)
		return 0;
	int r = lb_read_file(AT_FDCWD, o->conf, CONF_MAX, &text, &len);
	if (r < 0)
		return lb_errf(r, "%s: %s", o->conf, strerror(-r));
	struct lb_doc d = {0};
	if ((r = lb_deb822_parse(text, len, &d)) < 0) {
		free(text);
		return lb_err_prefix(r, "%s", o->conf);
	}
	if (d.n > 1)
		r = lb_errf(-LBE_FORMAT, "%s: one paragraph expected", o->conf);
	for (size_t i = 0; !r && d.n && i < d.paras[0].n; i++) {
		const struct lb_field *f = &d.paras[0].fields[i];
		if (!strcasecmp(f->name, "Device-Id") || !strcasecmp(f->name, "Group") ||
		    (o->master && !strcasecmp(f->name, "Master")))
			r = lb_errf(-LBE_USAGE,
			            "%s: %s: set by the bundle (--device, --group, --master)",
			            o->conf, f->name);
		else if (strchr(f->value, '\n'))
			r = lb_errf(-LBE_FORMAT, "%s: %s: one line expected", o->conf, f->name);
		else
			mbuf_printf(b, " %s: %s\n", f->name, f->value);
	}
	lb_doc_free(&d);
	free(text);
	return r;
}

static int export(const struct eopts *o, const struct lb_mkey *key)
{
	char devbuf[8192], *ids[EXPORT_DEVS];
	size_t nids = 0, nparts = 0;
	struct epart parts[EXPORT_PARTS];
	struct estate s;
	struct mtree t;
	struct mbuf b = {0}, conf = {0};
	unsigned long long bytes = 0;
	unsigned npkgs = 0;
	int status = MX_FAIL;
	memset(&s, 0, sizeof s);
	memset(&t, 0, sizeof t);
	t.fd = t.poolfd = -1;
	int r = split_devices(o->devices, devbuf, sizeof devbuf, ids, &nids);
	if (r < 0)
		return mx_fail(r, MX_USAGE);
	int tfd = open(o->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return mx_fail(lb_errf(-errno, "%s: %s", o->tree, strerror(errno)), MX_IO);
	/* a publish into the tree holds an exclusive lock: wait for it to finish */
	if (flock(tfd, LOCK_SH) < 0) {
		r = lb_errf(-errno, "%s: lock: %s", o->tree, strerror(errno));
		status = MX_IO;
		goto out;
	}
	if ((r = read_state(tfd, o, key, &s)) < 0) {
		status = r == -LBE_SIGNATURE         ? MX_KEY
		         : r == -ENOENT || r < -1024 ? MX_STATE
		                                     : MX_IO;
		goto out;
	}
	if ((r = make_layout(o, s.image_size, parts, &nparts)) < 0 ||
	    (r = conf_lines(o, &conf)) < 0) {
		status = r == -LBE_USAGE ? MX_USAGE : MX_STATE;
		goto out;
	}
	if (conf.err) {
		r = conf.err;
		goto out;
	}
	status = MX_IO;
	char grel[160];
	snprintf(grel, sizeof grel, "groups/%s/state", o->group);
	if ((r = tree_open(o->out, &t)) < 0)
		goto out;
	if ((r = copy_pool(tfd, t.fd, s.p, &npkgs, &bytes)) < 0 ||
	    (r = copy_image(tfd, t.fd, s.p, &bytes)) < 0)
		goto out;
	if ((r = copy_devices(tfd, t.fd, o, ids, nids, &bytes)) < 0) {
		status = r == -LBE_USAGE ? MX_USAGE : MX_IO;
		goto out;
	}
	struct stat st;
	if (!fstatat(tfd, "keys", &st, 0) &&
	    ((r = copy_rel(tfd, t.fd, "keys", -1, &bytes)) < 0 ||
	     (r = copy_rel(tfd, t.fd, "keys.minisig", -1, &bytes)) < 0))
		goto out;
	/* the state last: a bundle is usable once it has its state and manifest */
	char gsig[176];
	snprintf(gsig, sizeof gsig, "%s.minisig", grel);
	if ((r = copy_rel(tfd, t.fd, grel, -1, &bytes)) < 0 ||
	    (r = copy_rel(tfd, t.fd, gsig, -1, &bytes)) < 0)
		goto out;

	/* the manifest */
	t.key = key;
	t.now = time(NULL);
	t.serial = now_ms();
	time_t expires = s.expires;
	if (o->expires) {
		char *end;
		errno = 0;
		unsigned long d = strtoul(o->expires, &end, 10);
		if (errno || end == o->expires || *end || o->expires[0] == '-' || d < 1 ||
		    d > 3650) {
			r = lb_errf(-LBE_USAGE, "export: --expires %s: not 1 to 3650 days",
			            o->expires);
			status = MX_USAGE;
			goto out;
		}
		if (t.now + (time_t)(d * DAY) < expires)
			expires = t.now + (time_t)(d * DAY);
	}
	char created[32], exp[32];
	iso_time(t.now, created);
	iso_time(expires, exp);
	const char *iver = lb_para_get(s.p, "Image-Version"), *sserial = lb_para_get(s.p, "Serial");
	mbuf_printf(&b, "Format: 1\nGroup: %s\n", o->group);
	if (nids) {
		mbuf_printf(&b, "Devices:");
		for (size_t i = 0; i < nids; i++)
			mbuf_printf(&b, "%s %s", i ? "," : "", ids[i]);
		mbuf_printf(&b, "\n");
	}
	if (o->master)
		mbuf_printf(&b, "Master: %s\n", o->master);
	mbuf_printf(&b, "Serial: %llu\nState-Serial: %s\n", t.serial, sserial ? sserial : "0");
	if (iver)
		mbuf_printf(&b, "Image-Version: %s\n", iver);
	mbuf_printf(&b, "Created: %s\nExpires: %s\nRepartition: %s\nLayout:\n", created, exp,
	            o->repartition ? "yes" : "no");
	for (size_t i = 0; i < nparts; i++)
		mbuf_printf(&b, " %s %lu\n", parts[i].name, parts[i].mib);
	if (conf.len)
		mbuf_printf(&b, "Config:\n%s", conf.s);
	if (b.err) {
		r = b.err;
		goto out;
	}
	if ((r = signed_write(&t, ".", "lifeboat-bundle", b.s, b.len)) < 0)
		goto out;
	char id[17];
	lb_minisign_keyid_hex(key->id, id);
	fprintf(stderr,
	        "lifeboat-master: export: %s: group %s%s%s, %u packages, image %s, %.1f MiB "
	        "copied, layout",
	        o->out, o->group, nids ? ", devices " : "", nids ? o->devices : "", npkgs,
	        iver ? iver : "none", (double)bytes / 1048576.0);
	for (size_t i = 0; i < nparts; i++)
		fprintf(stderr, " %s:%lu", parts[i].name, parts[i].mib);
	fprintf(stderr, " MiB%s, signed with key %s, expires %s\n",
	        o->repartition ? ", repartition" : "", id, exp);
	status = MX_OK;
out:
	if (status != MX_OK)
		status = mx_fail(r, status);
	mbuf_free(&b);
	mbuf_free(&conf);
	lb_doc_free(&s.doc);
	tree_close(&t);
	close(tfd);
	return status;
}

int cmd_export(int argc, char **argv)
{
	struct eopts o;
	int r = parse_opts(argc, argv, &o);
	if (r < 0)
		return mx_fail(r, MX_USAGE);
	struct lb_mkey key;
	memset(&key, 0, sizeof key);
	if ((r = lb_minisign_load_seckey(AT_FDCWD, o.key, &key)) < 0)
		return mx_fail(lb_err_prefix(r, "key"), MX_KEY);
	int status = export(&o, &key);
	lb_minisign_wipe(&key);
	return status;
}
