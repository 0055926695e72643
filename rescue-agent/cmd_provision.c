/* SPDX-License-Identifier: MIT */
/* lifeboat provision check|partition|conf BUNDLE [options]: the steps of factory
 * provisioning from a USB stick that the rescue system's /init cannot do in sh
 * (docs/provisioning.md). BUNDLE is the directory lifeboat-master export wrote; its
 * manifest BUNDLE/lifeboat-bundle is verified against the pinned keys every time.
 *
 *   check [--device-id ID] [--group G]   is the bundle for this device? prints the
 *                                        shell assignments PV_GROUP, PV_DEVICE, PV_ID,
 *                                        PV_REPARTITION, PV_IMAGE_VERSION
 *   partition --disk DEV                 the bundle's GPT layout onto DEV: only when
 *                                        DEV is blank, or with Repartition: yes; a DEV
 *                                        that has the layout already is kept
 *   conf --out FILE [--device-id ID]     the device's lifeboat.conf
 * Common: --pubkey FILE[,FILE...] (the pinned keys) [/etc/lifeboat/master.pub]. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "deb822.h"
#include "fsop.h"
#include "gpt.h"
#include "minisign.h"

#define MANIFEST     "lifeboat-bundle"
#define MANIFEST_MAX (256u << 10)
#define MAX_KEYS     8

struct bundle {
	struct lb_doc doc;
	const struct lb_para *p;
	char id[65]; /* sha256 of the manifest: which bundle a device applied */
	struct lb_gpt_part parts[LB_GPT_MAX_PARTS];
	size_t nparts;
	char device[128]; /* the device id chosen */
	bool repartition;
};

struct popts {
	const char *dir, *pubkey, *device_id, *group, *disk, *out;
};

static int load_keys(const char *list, struct lb_mkey *keys, size_t *n)
{
	char buf[PATH_MAX * 2];
	*n = 0;
	if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf)
		return lb_errf(-LBE_USAGE, "provision: --pubkey: too long");
	for (char *save = NULL, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_KEYS)
			return lb_errf(-LBE_USAGE, "provision: more than %d keys", MAX_KEYS);
		int r = lb_minisign_load_pubkey(AT_FDCWD, s, &keys[*n]);
		if (r < 0)
			return r;
		(*n)++;
	}
	return *n ? 0 : lb_errf(-LBE_USAGE, "provision: no public key");
}

/* "Devices: a, b": is id among them? */
static bool listed(const char *list, const char *id)
{
	size_t l = strlen(id);
	for (const char *s = list; *s;) {
		s += strspn(s, ", \t\n");
		size_t w = strcspn(s, ", \t\n");
		if (w == l && !strncmp(s, id, l))
			return true;
		s += w;
	}
	return false;
}

static bool safe_word(const char *s)
{
	if (!*s || strlen(s) > 127)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._+-", *s)))
			return false;
	return true;
}

static int parse_layout(const char *v, struct bundle *b)
{
	b->nparts = 0;
	for (const char *line = v; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t l = nl ? (size_t)(nl - line) : strlen(line);
		char name[64];
		unsigned long long mib;
		char extra;
		char tmp[128];
		if (l >= sizeof tmp)
			return lb_errf(-LBE_FORMAT, "Layout: line too long");
		memcpy(tmp, line, l);
		tmp[l] = 0;
		if (l) {
			if (sscanf(tmp, "%63s %llu %c", name, &mib, &extra) != 2 || !mib ||
			    mib > (1ull << 22) || strlen(name) >= LB_GPT_NAME_MAX ||
			    !safe_word(name))
				return lb_errf(-LBE_FORMAT, "Layout: bad line '%s'", tmp);
			if (b->nparts == LB_GPT_MAX_PARTS)
				return lb_errf(-LBE_FORMAT, "Layout: more than %d partitions",
				               LB_GPT_MAX_PARTS);
			snprintf(b->parts[b->nparts].name, LB_GPT_NAME_MAX, "%s", name);
			b->parts[b->nparts++].mib = mib;
		}
		line = nl ? nl + 1 : NULL;
	}
	bool state = false, rootfs = false;
	for (size_t i = 0; i < b->nparts; i++) {
		state |= !strcmp(b->parts[i].name, "state");
		rootfs |= !strcmp(b->parts[i].name, "rootfs-a");
	}
	return state && rootfs ? 0 : lb_errf(-LBE_FORMAT, "Layout: no 'state' or 'rootfs-a'");
}

/* Read and verify DIR/lifeboat-bundle; then is it for this device (device_id and
 * group: what the device knows of itself, either may be empty)? */
static int bundle_load(const struct popts *o, struct bundle *b)
{
	struct lb_mkey keys[MAX_KEYS];
	size_t nkeys = 0, len = 0, siglen = 0;
	char *text = NULL, *sig = NULL;
	memset(b, 0, sizeof *b);
	int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lb_errf(-errno, "%s: %s", o->dir, strerror(errno));
	int r = load_keys(o->pubkey, keys, &nkeys);
	if (!r && (r = lb_read_file(dfd, MANIFEST, MANIFEST_MAX, &text, &len)) < 0)
		r = lb_errf(r == -ENOENT ? -LBE_NOT_FOUND : r, "%s/%s: %s", o->dir, MANIFEST,
		            r == -ENOENT ? "no bundle manifest" : strerror(-r));
	if (!r &&
	    (r = lb_read_file(dfd, MANIFEST ".minisig", LB_MINISIGN_SIG_MAX, &sig, &siglen)) < 0)
		r = lb_errf(r == -ENOENT ? -LBE_SIGNATURE : r, "%s/%s.minisig: %s", o->dir,
		            MANIFEST,
		            r == -ENOENT ? "missing: the bundle is not signed" : strerror(-r));
	close(dfd);
	if (!r && (r = lb_minisign_verify(keys, nkeys, text, len, sig, siglen, NULL)) < 0)
		r = lb_err_prefix(r, "%s/%s", o->dir, MANIFEST);
	if (!r && (r = lb_deb822_parse(text, len, &b->doc)) < 0)
		r = lb_err_prefix(r, "%s/%s", o->dir, MANIFEST);
	if (!r) {
		unsigned char md[32];
		crypto_hash_sha256(md, (const unsigned char *)text, len);
		sodium_bin2hex(b->id, sizeof b->id, md, sizeof md);
	}
	free(text);
	free(sig);
	if (r < 0)
		return r;
	if (b->doc.n != 1)
		return lb_errf(-LBE_FORMAT, "%s/%s: one paragraph expected", o->dir, MANIFEST);
	b->p = &b->doc.paras[0];
	const char *fmt = lb_para_get(b->p, "Format"), *group = lb_para_get(b->p, "Group"),
	           *exp = lb_para_get(b->p, "Expires"), *layout = lb_para_get(b->p, "Layout"),
	           *devs = lb_para_get(b->p, "Devices"), *rep = lb_para_get(b->p, "Repartition");
	if (!fmt || strcmp(fmt, "1"))
		return lb_errf(fmt && atoi(fmt) > 1 ? -LBE_FORMAT_VER : -LBE_FORMAT,
		               "%s/%s: Format '%s': 1 expected", o->dir, MANIFEST, fmt ? fmt : "");
	if (!group || !safe_word(group))
		return lb_errf(-LBE_FORMAT, "%s/%s: no valid Group", o->dir, MANIFEST);
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = exp ? strptime(exp, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	if (!end || *end)
		return lb_errf(-LBE_FORMAT, "%s/%s: no valid Expires", o->dir, MANIFEST);
	if (timegm(&tm) <= time(NULL))
		return lb_errf(-LBE_STALE, "%s/%s: expired at %s", o->dir, MANIFEST, exp);
	if (!layout)
		return lb_errf(-LBE_FORMAT, "%s/%s: no Layout", o->dir, MANIFEST);
	int lr = parse_layout(layout, b);
	if (lr < 0)
		return lb_err_prefix(lr, "%s/%s", o->dir, MANIFEST);
	b->repartition = rep && !strcmp(rep, "yes");
	/* for this group? */
	if (o->group && o->group[0] && strcmp(o->group, group))
		return lb_errf(-LBE_NOT_FOUND,
		               "the bundle is for group '%s', this device is in '%s'", group,
		               o->group);
	/* for this device? */
	const char *id = o->device_id && o->device_id[0] ? o->device_id : NULL;
	if (devs && devs[0]) {
		if (id && !listed(devs, id))
			return lb_errf(-LBE_NOT_FOUND, "the bundle is for device%s %s, this is %s",
			               strchr(devs, ',') ? "s" : "", devs, id);
		if (!id) {
			size_t w = strcspn(devs + strspn(devs, " "), ", \t\n");
			if (strchr(devs, ','))
				return lb_errf(
				    -LBE_NOT_FOUND,
				    "the bundle is for devices %s and this device has no id "
				    "(lifeboat.device=, a DMI or device-tree serial number)",
				    devs);
			snprintf(b->device, sizeof b->device, "%.*s", (int)w,
			         devs + strspn(devs, " "));
		} else {
			snprintf(b->device, sizeof b->device, "%s", id);
		}
	} else if (id) {
		snprintf(b->device, sizeof b->device, "%s", id);
	}
	if (b->device[0] && !safe_word(b->device))
		return lb_errf(-LBE_FORMAT, "device id '%s': not a valid id", b->device);
	return 0;
}

static int parse_opts(int argc, char **argv, struct popts *o)
{
	memset(o, 0, sizeof *o);
	o->pubkey = "/etc/lifeboat/master.pub";
	static const char *const names[] = {"--pubkey", "--device-id", "--group", "--disk",
	                                    "--out"};
	const char **dest[] = {&o->pubkey, &o->device_id, &o->group, &o->disk, &o->out};
	for (int i = 2; i < argc; i++) {
		size_t k;
		if (argv[i][0] != '-') {
			if (o->dir)
				return lb_errf(-LBE_USAGE, "provision: unexpected argument '%s'",
				               argv[i]);
			o->dir = argv[i];
			continue;
		}
		for (k = 0; k < sizeof names / sizeof names[0]; k++)
			if (!strcmp(argv[i], names[k]))
				break;
		if (k == sizeof names / sizeof names[0] || i + 1 >= argc)
			return lb_errf(-LBE_USAGE, "provision: '%s' needs a value or is unknown",
			               argv[i]);
		*dest[k] = argv[++i];
	}
	if (!o->dir)
		return lb_errf(-LBE_USAGE, "usage: lifeboat provision check|partition|conf BUNDLE "
		                           "[--pubkey FILE] [--device-id ID] [--group G] "
		                           "[--disk DEV] [--out FILE]");
	return 0;
}

/* 'text' with its quotes escaped, for sh's eval */
static void shell_var(const char *name, const char *v)
{
	printf("%s='", name);
	for (; *v; v++)
		if (*v == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*v);
	printf("'\n");
}

static int do_check(const struct bundle *b)
{
	const char *iv = lb_para_get(b->p, "Image-Version");
	shell_var("PV_GROUP", lb_para_get(b->p, "Group"));
	shell_var("PV_DEVICE", b->device);
	shell_var("PV_ID", b->id);
	shell_var("PV_REPARTITION", b->repartition ? "yes" : "no");
	shell_var("PV_IMAGE_VERSION", iv ? iv : "");
	return 0;
}

static int do_partition(const struct popts *o, const struct bundle *b)
{
	if (!o->disk)
		return lb_errf(-LBE_USAGE, "provision partition: --disk DEV missing");
	/* O_EXCL on a block device: refused while anything of it is mounted */
	int fd = open(o->disk, O_RDWR | O_CLOEXEC | O_EXCL);
	if (fd < 0 && errno == EINVAL) /* a regular file: O_EXCL without O_CREAT */
		fd = open(o->disk, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return lb_errf(-errno, "%s: %s", o->disk, strerror(errno));
	enum lb_gpt_state st;
	char why[160] = "";
	int r = lb_gpt_probe(fd, b->parts, b->nparts, &st, why, sizeof why);
	if (r < 0) {
		close(fd);
		return lb_err_msg()[0] ? lb_err_prefix(r, "%s", o->disk)
		                       : lb_errf(r, "%s: %s", o->disk, strerror(-r));
	}
	if (st == LB_GPT_SAME) {
		close(fd);
		printf("kept\n");
		fprintf(stderr, "lifeboat: provision: %s: %s\n", o->disk, why);
		return 0;
	}
	if (st == LB_GPT_OTHER && !b->repartition) {
		close(fd);
		return lb_errf(
		    -LBE_CONFLICT,
		    "%s: %s, and the bundle does not say 'Repartition: yes': left as it is",
		    o->disk, why);
	}
	r = lb_gpt_write(fd, b->parts, b->nparts);
	int c = close(fd);
	if (!r && c < 0)
		r = -errno;
	if (r < 0)
		return lb_err_msg()[0] ? lb_err_prefix(r, "%s", o->disk)
		                       : lb_errf(r, "%s: writing the partition table: %s", o->disk,
		                                 strerror(-r));
	printf("partitioned\n");
	fprintf(stderr, "lifeboat: provision: %s: %s, now partitioned:", o->disk, why);
	for (size_t i = 0; i < b->nparts; i++)
		fprintf(stderr, " %s %llu MiB%s", b->parts[i].name, b->parts[i].mib,
		        i + 1 < b->nparts ? "," : "\n");
	return 0;
}

static int do_conf(const struct popts *o, const struct bundle *b)
{
	if (!o->out)
		return lb_errf(-LBE_USAGE, "provision conf: --out FILE missing");
	char text[70000], path[PATH_MAX], base[PATH_MAX];
	const char *master = lb_para_get(b->p, "Master"), *extra = lb_para_get(b->p, "Config");
	if (extra && *extra == '\n') /* "Config:" has its lines on the following ones */
		extra++;
	int n = snprintf(text, sizeof text, "%s%s%s%s%s%sGroup: %s\n%s%s", master ? "Master: " : "",
	                 master ? master : "", master ? "\n" : "",
	                 b->device[0] ? "Device-Id: " : "", b->device, b->device[0] ? "\n" : "",
	                 lb_para_get(b->p, "Group"), extra ? extra : "", extra ? "\n" : "");
	if (n < 0 || n >= (int)sizeof text || (master && strchr(master, '\n')))
		return lb_errf(-LBE_FORMAT, "%s/%s: Master or Config too long", o->dir, MANIFEST);
	snprintf(path, sizeof path, "%s", o->out);
	snprintf(base, sizeof base, "%s", o->out);
	int dfd = open(dirname(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lb_errf(-errno, "%s: %s", o->out, strerror(errno));
	int r = lb_replace_file(dfd, basename(base), text, (size_t)n, 0644);
	close(dfd);
	if (r < 0)
		return lb_errf(r, "%s: %s", o->out, strerror(-r));
	return 0;
}

int cmd_provision(struct lb_ctx *ctx, int argc, char **argv)
{
	struct popts o;
	struct bundle b;
	const char *what = argc > 1 ? argv[1] : "";
	if (strcmp(what, "check") && strcmp(what, "partition") && strcmp(what, "conf"))
		return lb_errf(-LBE_USAGE, "provision: check, partition or conf expected");
	int r = parse_opts(argc, argv, &o);
	if (r < 0)
		return r;
	if ((r = bundle_load(&o, &b)) < 0)
		goto out;
	if (!strcmp(what, "check"))
		r = do_check(&b);
	else if (!strcmp(what, "partition"))
		r = do_partition(&o, &b);
	else
		r = do_conf(&o, &b);
out:
	lb_doc_free(&b.doc);
	return r;
}
