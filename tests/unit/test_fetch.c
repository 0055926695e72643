/* SPDX-License-Identifier: MIT */
/* lb_fetch_file / lb_fetch_small against real servers on 127.0.0.1: nginx (Range,
 * ETag, 304, gzip, redirects) with a generated configuration, and the
 * misbehaving tests/fetch/server.py (ignores Range, sends too much, cuts the
 * connection, fails, stalls). Both are started by the group setup and killed by
 * its teardown — or by the kernel when this process dies (PR_SET_PDEATHSIG). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "error.h"
#include "fetch.h"
#include "fsop.h"

#define A_SIZE     300000 /* a.bin */
#define B_SIZE     204800 /* b.bin, for the bandwidth cap */
#define SMALL_SIZE 20000  /* small.txt, compressible text */

static char dir[] = "/tmp/lb-test-fetch.XXXXXX";
static pid_t nginx_pid = -1, py_pid = -1;
static int nginx_port, py_port;
static unsigned char *data_a, *data_b;
static char small[SMALL_SIZE + 1];
static char a_sha[65], b_sha[65];
static int ndirs;

static const char *path(const char *name)
{
	static char p[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
	return p[i];
}

static void sha_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[32];
	crypto_hash_sha256(md, data, len);
	sodium_bin2hex(hex, 65, md, sizeof md);
}

static int put(int dirfd, const char *name, const void *data, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
	if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(s, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static int can_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok = s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run argv with its output in the file out; it dies with this process. */
static pid_t spawn(char *const argv[], const char *out)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execvp(argv[0], argv);
	_exit(127);
}

static void stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = -1;
}

static int start_nginx(void)
{
	for (int tries = 0; tries < 5; tries++) {
		int port = free_port();
		FILE *c = fopen(path("nginx.conf"), "we");
		if (port < 0 || !c)
			return -1;
		fprintf(c,
		        "pid %s/nginx.pid;\n"
		        "lock_file %s/nginx.lock;\n"
		        "error_log %s/nginx-error.log;\n"
		        "events { worker_connections 64; }\n"
		        "http {\n"
		        "  log_format lb '$request_uri $http_range $status $body_bytes_sent';\n"
		        "  access_log %s/nginx-access.log lb;\n"
		        "  client_body_temp_path %s/nginx-tmp;\n"
		        "  proxy_temp_path %s/nginx-tmp;\n"
		        "  fastcgi_temp_path %s/nginx-tmp;\n"
		        "  uwsgi_temp_path %s/nginx-tmp;\n"
		        "  scgi_temp_path %s/nginx-tmp;\n"
		        "  types { text/plain txt; }\n"
		        "  default_type application/octet-stream;\n"
		        "  gzip on; gzip_types text/plain; gzip_min_length 0;\n"
		        "  server {\n"
		        "    listen 127.0.0.1:%d;\n"
		        "    root %s/www;\n"
		        "    location = /redirect { return 302 /a.bin?t=redirected; }\n"
		        "    location = /loop { return 302 /loop; }\n"
		        "  }\n"
		        "}\n",
		        dir, dir, dir, dir, dir, dir, dir, dir, dir, port, dir);
		fclose(c);
		char *argv[] = {"nginx",
		                "-p",
		                dir,
		                "-c",
		                (char *)path("nginx.conf"),
		                "-g",
		                "daemon off; master_process off;",
		                NULL};
		nginx_pid = spawn(argv, path("nginx.out"));
		if (nginx_pid < 0)
			return -1;
		for (int i = 0; i < 200; i++) {
			if (waitpid(nginx_pid, NULL, WNOHANG) == nginx_pid) {
				nginx_pid = -1; /* the port was taken meanwhile? */
				break;
			}
			if (can_connect(port)) {
				nginx_port = port;
				return 0;
			}
			sleep_ms(25);
		}
		stop(&nginx_pid);
	}
	fprintf(stderr, "nginx did not start: see %s\n", path("nginx-error.log"));
	return -1;
}

static int start_py(void)
{
	char script[PATH_MAX];
	const char *slash = strrchr(__FILE__, '/');

	if (getenv("LB_SRCDIR"))
		snprintf(script, sizeof script, "%s/tests/fetch/server.py", getenv("LB_SRCDIR"));
	else
		snprintf(script, sizeof script, "%.*s../fetch/server.py",
		         slash ? (int)(slash - __FILE__ + 1) : 0, __FILE__);
	char *argv[] = {
	    "python3", script, (char *)path("www"), (char *)path("py.port"), (char *)path("py.log"),
	    NULL};
	py_pid = spawn(argv, path("py.out"));
	for (int i = 0; py_pid > 0 && i < 400; i++) {
		FILE *p = fopen(path("py.port"), "re");
		if (p) {
			int ok = fscanf(p, "%d", &py_port) == 1;
			fclose(p);
			if (ok)
				return 0;
		}
		if (waitpid(py_pid, NULL, WNOHANG) == py_pid)
			break;
		sleep_ms(25);
	}
	py_pid = -1;
	fprintf(stderr, "%s did not start: see %s\n", script, path("py.out"));
	return -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	stop(&nginx_pid);
	stop(&py_pid);
	free(data_a);
	free(data_b);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	static const char *const proxies[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
	                                      "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
	for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++)
		unsetenv(proxies[i]);
	if (!mkdtemp(dir) || mkdir(path("www"), 0755) < 0 || mkdir(path("nginx-tmp"), 0755) < 0)
		return -1;
	int www = open(path("www"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	data_a = malloc(A_SIZE);
	data_b = malloc(B_SIZE);
	if (www < 0 || !data_a || !data_b || sodium_init() < 0)
		return -1;
	randombytes_buf(data_a, A_SIZE);
	randombytes_buf(data_b, B_SIZE);
	for (int i = 0; i < SMALL_SIZE; i++)
		small[i] = "Package: lifeboat\nVersion: 1.0\n"[i % 31];
	sha_hex(data_a, A_SIZE, a_sha);
	sha_hex(data_b, B_SIZE, b_sha);
	int r = put(www, "a.bin", data_a, A_SIZE) || put(www, "b.bin", data_b, B_SIZE) ||
	        put(www, "small.txt", small, SMALL_SIZE);
	close(www);
	if (r || start_nginx() < 0 || start_py() < 0) {
		teardown(state);
		return -1;
	}
	return 0;
}

/* An empty directory for one test's downloads. */
static int newdir(void)
{
	char name[32];
	snprintf(name, sizeof name, "out%d", ++ndirs);
	assert_int_equal(mkdir(path(name), 0755), 0);
	int fd = open(path(name), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void fetch_init(struct lb_fetch *f)
{
	assert_int_equal(lb_fetch_init(f), 0);
	f->retry_delay_ms = 10;
	f->retry_max_ms = 100;
	f->connect_timeout = 5;
	f->low_speed_time = 10;
	lb_err_clear();
}

static const char *nginx_url(const char *p)
{
	static char u[4][256];
	static int i;
	i = (i + 1) % 4;
	snprintf(u[i], sizeof u[i], "http://127.0.0.1:%d/%s", nginx_port, p);
	return u[i];
}

/* The python server: behaviours, then the file name. */
static const char *py_url(const char *how, const char *name)
{
	static char u[4][256];
	static int i;
	i = (i + 1) % 4;
	snprintf(u[i], sizeof u[i], "http://127.0.0.1:%d/%s/%s", py_port, how, name);
	return u[i];
}

static int exists(int dirfd, const char *name)
{
	return faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* dirfd/name holds exactly data. */
static void assert_content(int dirfd, const char *name, const void *data, size_t len)
{
	char *buf = NULL;
	size_t n = 0;
	assert_int_equal(lb_read_file(dirfd, name, len + 1, &buf, &n), 0);
	assert_int_equal(n, len);
	assert_memory_equal(buf, data, len);
	free(buf);
}

/* The lines of a server log that start with "PREFIX " (waiting a little for
 * them: a server logs after the client may have seen the last byte). */
static int log_lines(const char *log, const char *prefix, int want, char lines[][160], int max)
{
	int n = 0;
	for (int tries = 0; tries < 100; tries++) {
		FILE *f = fopen(path(log), "re");
		char line[160];
		n = 0;
		while (f && fgets(line, sizeof line, f))
			if (strncmp(line, prefix, strlen(prefix)) == 0 &&
			    line[strlen(prefix)] == ' ' && n < max)
				snprintf(lines[n++], 160, "%s", line + strlen(prefix) + 1);
		if (f)
			fclose(f);
		if (n >= want)
			break;
		sleep_ms(20);
	}
	return n;
}

struct seen {
	unsigned long long now, total;
	int calls;
};

static void on_progress(void *arg, unsigned long long now, unsigned long long total)
{
	struct seen *s = arg;
	assert_true(now >= s->now || now == 0);
	s->now = now;
	s->total = total;
	s->calls++;
}

static void test_full(void **state)
{
	struct lb_fetch f;
	struct seen s = {0};
	int d = newdir();
	char lines[4][160];

	fetch_init(&f);
	f.progress = on_progress;
	f.progress_arg = &s;
	assert_int_equal(lb_fetch_file(&f, nginx_url("a.bin?t=full"), d, "a", A_SIZE, a_sha), 0);
	assert_content(d, "a", data_a, A_SIZE);
	assert_false(exists(d, "a.part"));
	assert_int_equal(f.requests, 1);
	assert_int_equal(f.bytes, A_SIZE);
	assert_int_equal(f.retried, 0);
	assert_int_equal(s.now, A_SIZE);
	assert_int_equal(s.total, A_SIZE);
	assert_true(s.calls > 1);
	assert_int_equal(log_lines("nginx-access.log", "/a.bin?t=full", 1, lines, 4), 1);
	assert_string_equal(lines[0], "- 200 300000\n");
	lb_fetch_free(&f);
	close(d);
}

/* The first answer is cut after 100000 bytes: the retry asks for the rest only. */
static void test_resume_after_cut(void **state)
{
	struct lb_fetch f;
	int d = newdir();
	char lines[4][160];

	fetch_init(&f);
	assert_int_equal(
	    lb_fetch_file(&f, py_url("cut=100000,t=cut", "a.bin"), d, "a", A_SIZE, a_sha), 0);
	assert_content(d, "a", data_a, A_SIZE);
	assert_int_equal(f.requests, 2);
	assert_int_equal(f.retried, 1);
	assert_int_equal(f.bytes, A_SIZE);
	assert_int_equal(log_lines("py.log", "/cut=100000,t=cut/a.bin", 2, lines, 4), 2);
	assert_string_equal(lines[0], "- 200 100000\n");
	assert_string_equal(lines[1], "bytes=100000- 206 200000\n");
	lb_fetch_free(&f);
	close(d);
}

/* A .part left by an earlier run (a reboot): only the rest is requested; a
 * complete one is verified without any request. */
static void test_resume_part(void **state)
{
	struct lb_fetch f;
	int d = newdir();
	char lines[4][160];

	fetch_init(&f);
	assert_int_equal(put(d, "a.part", data_a, 123456), 0);
	assert_int_equal(lb_fetch_file(&f, nginx_url("a.bin?t=part"), d, "a", A_SIZE, a_sha), 0);
	assert_content(d, "a", data_a, A_SIZE);
	assert_false(exists(d, "a.part"));
	assert_int_equal(f.requests, 1);
	assert_int_equal(f.bytes, A_SIZE - 123456);
	assert_int_equal(f.reused, 123456);
	assert_int_equal(log_lines("nginx-access.log", "/a.bin?t=part", 1, lines, 4), 1);
	assert_string_equal(lines[0], "bytes=123456- 206 176544\n");

	assert_int_equal(put(d, "c.part", data_a, A_SIZE), 0);
	assert_int_equal(lb_fetch_file(&f, "http://127.0.0.1:1/nothing", d, "c", A_SIZE, a_sha), 0);
	assert_content(d, "c", data_a, A_SIZE);
	assert_int_equal(f.requests, 1);
	assert_int_equal(f.reused, 123456 + A_SIZE);
	lb_fetch_free(&f);
	close(d);
}

/* A .part from an earlier run whose bytes are wrong (a torn write): the
 * resumed file does not verify, so it is downloaded again from the start. */
static void test_resume_bad_part(void **state)
{
	struct lb_fetch f;
	int d = newdir();
	char junk[1000];

	memset(junk, 'j', sizeof junk);
	fetch_init(&f);
	assert_int_equal(put(d, "a.part", junk, sizeof junk), 0);
	assert_int_equal(lb_fetch_file(&f, nginx_url("a.bin?t=badpart"), d, "a", A_SIZE, a_sha), 0);
	assert_content(d, "a", data_a, A_SIZE);
	assert_int_equal(f.requests, 2);
	assert_int_equal(f.bytes, A_SIZE - 1000 + A_SIZE);
	assert_int_equal(f.reused, 0);
	lb_fetch_free(&f);
	close(d);
}

/* A server that answers 200 to a Range request: the .part starts over. */
static void test_no_range_support(void **state)
{
	struct lb_fetch f;
	int d = newdir();
	char lines[4][160];

	fetch_init(&f);
	assert_int_equal(put(d, "a.part", data_a, 5000), 0);
	assert_int_equal(lb_fetch_file(&f, py_url("norange,t=nr", "a.bin"), d, "a", A_SIZE, a_sha),
	                 0);
	assert_content(d, "a", data_a, A_SIZE);
	assert_int_equal(f.requests, 1);
	assert_int_equal(f.bytes, A_SIZE);
	assert_int_equal(f.reused, 0);
	assert_int_equal(log_lines("py.log", "/norange,t=nr/a.bin", 1, lines, 4), 1);
	assert_string_equal(lines[0], "bytes=5000- 200 300000\n");

	/* ... also when the connection is cut on the way, each time from 0 */
	assert_int_equal(
	    lb_fetch_file(&f, py_url("norange,cut=7000,t=nr2", "a.bin"), d, "b", A_SIZE, a_sha), 0);
	assert_content(d, "b", data_a, A_SIZE);
	assert_int_equal(f.requests, 3);
	lb_fetch_free(&f);
	close(d);
}

static void assert_too_large(int r, int d)
{
	char want[128];
	snprintf(want, sizeof want, "larger than the %d bytes the signed metadata says", A_SIZE);
	assert_int_equal(r, -LBE_HASH);
	assert_non_null(strstr(lb_err_msg(), want));
	assert_false(exists(d, "a"));
	assert_false(exists(d, "a.part"));
}

/* More bytes than the signed size: cut off at once, not retried. */
static void test_oversized(void **state)
{
	struct lb_fetch f;
	int d = newdir();

	fetch_init(&f);
	/* announced by Content-Length: nothing is written */
	int r = lb_fetch_file(&f, py_url("extra=500000,t=big", "a.bin"), d, "a", A_SIZE, a_sha);
	assert_too_large(r, d);
	assert_non_null(strstr(lb_err_msg(), py_url("extra=500000,t=big", "a.bin")));
	assert_int_equal(f.requests, 1);
	assert_true(f.bytes <= 16384);

	/* no Content-Length: stopped as soon as the bytes go past the size */
	f.bytes = f.requests = 0;
	r = lb_fetch_file(&f, py_url("extra=5000000,nolen,t=big2", "a.bin"), d, "a", A_SIZE, a_sha);
	assert_too_large(r, d);
	assert_int_equal(f.requests, 1);
	assert_true(f.bytes <= A_SIZE + 16384);

	/* a resumed transfer that goes on past the size */
	f.bytes = f.requests = 0;
	assert_int_equal(put(d, "a.part", data_a, 1000), 0);
	r = lb_fetch_file(&f, py_url("extra=5000000,nolen,t=big3", "a.bin"), d, "a", A_SIZE, a_sha);
	assert_too_large(r, d);
	assert_int_equal(f.requests, 1);
	assert_true(f.bytes <= A_SIZE + 16384);
	lb_fetch_free(&f);
	close(d);
}

static void test_wrong_hash(void **state)
{
	struct lb_fetch f;
	int d = newdir();
	const char *url = nginx_url("a.bin?t=hash");

	fetch_init(&f);
	int r = lb_fetch_file(&f, url, d, "a", A_SIZE, b_sha);
	assert_int_equal(r, -LBE_HASH);
	assert_non_null(strstr(lb_err_msg(), url));
	assert_non_null(strstr(lb_err_msg(), a_sha));
	assert_non_null(strstr(lb_err_msg(), b_sha));
	assert_false(exists(d, "a"));
	assert_false(exists(d, "a.part"));
	assert_int_equal(f.requests, 1);

	/* the server has fewer bytes than the signed size (416 on the resume) */
	char want[128];
	snprintf(want, sizeof want, "got %d bytes, the signed metadata says %d", A_SIZE,
	         A_SIZE + 10);
	assert_int_equal(put(d, "a.part", data_a, A_SIZE), 0);
	r = lb_fetch_file(&f, nginx_url("a.bin?t=short"), d, "a", A_SIZE + 10, a_sha);
	assert_int_equal(r, -LBE_HASH);
	assert_non_null(strstr(lb_err_msg(), want));
	assert_false(exists(d, "a"));
	assert_false(exists(d, "a.part"));

	char bad[65] = "00";
	assert_int_equal(lb_fetch_file(&f, url, d, "a", A_SIZE, bad), -EINVAL);
	lb_fetch_free(&f);
	close(d);
}

/* 500 twice, then the file; 503 every time gives up after retries + 1. */
static void test_retries(void **state)
{
	struct lb_fetch f;
	int d = newdir();
	char lines[4][160];

	fetch_init(&f);
	assert_int_equal(
	    lb_fetch_file(&f, py_url("fail=2,t=retry", "a.bin"), d, "a", A_SIZE, a_sha), 0);
	assert_content(d, "a", data_a, A_SIZE);
	assert_int_equal(f.requests, 3);
	assert_int_equal(f.retried, 2);
	assert_int_equal(f.bytes, A_SIZE);
	assert_int_equal(log_lines("py.log", "/fail=2,t=retry/a.bin", 3, lines, 4), 3);
	assert_string_equal(lines[0], "- 500 0\n");
	assert_string_equal(lines[2], "- 200 300000\n");

	f.requests = 0;
	f.retries = 2;
	int r = lb_fetch_file(&f, py_url("status=503,t=retry2", "a.bin"), d, "b", A_SIZE, a_sha);
	assert_int_equal(r, -EIO);
	assert_non_null(strstr(lb_err_msg(), "503 Service Unavailable"));
	assert_non_null(strstr(lb_err_msg(), "gave up after 3 attempts"));
	assert_int_equal(f.requests, 3);
	assert_false(exists(d, "b.part"));

	/* nobody listening */
	f.requests = 0;
	f.retries = 1;
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/a.bin", free_port());
	assert_int_equal(lb_fetch_file(&f, url, d, "c", A_SIZE, a_sha), -ECONNREFUSED);
	assert_int_equal(f.requests, 2);
	lb_fetch_free(&f);
	close(d);
}

static void test_not_found(void **state)
{
	struct lb_fetch f;
	int d = newdir();
	char want[300];
	const char *url = nginx_url("missing.bin");

	fetch_init(&f);
	assert_int_equal(lb_fetch_file(&f, url, d, "m", A_SIZE, a_sha), -ENOENT);
	snprintf(want, sizeof want, "%s: 404 Not Found", url);
	assert_string_equal(lb_err_msg(), want);
	assert_int_equal(f.requests, 1);
	assert_false(exists(d, "m.part"));

	f.requests = 0;
	assert_int_equal(
	    lb_fetch_file(&f, py_url("status=403,t=nf", "a.bin"), d, "m", A_SIZE, a_sha), -EACCES);
	assert_int_equal(f.requests, 1);
	char *body = NULL;
	size_t len = 1;
	assert_int_equal(lb_fetch_small(&f, url, 1000, NULL, &body, &len, NULL, NULL), -ENOENT);
	assert_null(body);
	assert_int_equal(len, 0);
	lb_fetch_free(&f);
	close(d);
}

static void test_redirects(void **state)
{
	struct lb_fetch f;
	int d = newdir();

	fetch_init(&f);
	assert_int_equal(lb_fetch_file(&f, nginx_url("redirect"), d, "a", A_SIZE, a_sha), 0);
	assert_content(d, "a", data_a, A_SIZE);
	assert_int_equal(f.requests, 2);
	assert_int_equal(lb_fetch_file(&f, nginx_url("loop"), d, "b", A_SIZE, a_sha), -ELOOP);
	lb_fetch_free(&f);
	close(d);
}

static void test_etag(void **state)
{
	struct lb_fetch f;
	char *body = NULL;
	size_t len = 0;
	char etag[LB_FETCH_ETAG_MAX], etag2[LB_FETCH_ETAG_MAX];
	int nm = -1;
	const char *url = nginx_url("small.txt");

	fetch_init(&f);
	assert_int_equal(lb_fetch_small(&f, url, 100000, NULL, &body, &len, etag, &nm), 0);
	assert_int_equal(nm, 0);
	assert_int_equal(len, SMALL_SIZE);
	assert_memory_equal(body, small, SMALL_SIZE);
	assert_int_equal(body[len], 0);
	assert_true(strlen(etag) > 2);
	free(body);
	assert_true(f.bytes == SMALL_SIZE); /* gzip'd on the wire, counted decoded */

	assert_int_equal(lb_fetch_small(&f, url, 100000, etag, &body, &len, etag2, &nm), 0);
	assert_int_equal(nm, 1);
	assert_null(body);
	assert_int_equal(len, 0);
	assert_string_equal(etag2, etag);
	assert_int_equal(f.requests, 2);
	assert_int_equal(f.bytes, SMALL_SIZE);

	/* another ETag: the whole file again */
	assert_int_equal(lb_fetch_small(&f, url, 100000, "\"other\"", &body, &len, etag2, &nm), 0);
	assert_int_equal(nm, 0);
	assert_int_equal(len, SMALL_SIZE);
	free(body);
	assert_int_equal(lb_fetch_small(&f, url, 100000, "bad\r\nX: y", &body, &len, etag2, &nm),
	                 -EINVAL);

	/* too large: announced, or not */
	assert_int_equal(lb_fetch_small(&f, nginx_url("a.bin"), 100, NULL, &body, &len, NULL, NULL),
	                 -EFBIG);
	assert_non_null(strstr(lb_err_msg(), "larger than the 100 bytes allowed"));
	assert_null(body);
	f.bytes = 0;
	assert_int_equal(lb_fetch_small(&f, py_url("nolen,t=small", "a.bin"), 100000, NULL, &body,
	                                &len, NULL, NULL),
	                 -EFBIG);
	assert_true(f.bytes <= 100000 + 16384);
	lb_fetch_free(&f);
}

static void test_file_url(void **state)
{
	struct lb_fetch f;
	int d = newdir();
	char url[PATH_MAX + 16], *body = NULL;
	char etag[LB_FETCH_ETAG_MAX];
	size_t len = 0;
	int nm = -1;

	fetch_init(&f);
	snprintf(url, sizeof url, "file://%s", path("www/a.bin"));
	assert_int_equal(lb_fetch_file(&f, url, d, "a", A_SIZE, a_sha), 0);
	assert_content(d, "a", data_a, A_SIZE);
	assert_int_equal(f.bytes, A_SIZE);

	f.bytes = 0;
	assert_int_equal(put(d, "b.part", data_a, 1000), 0);
	assert_int_equal(lb_fetch_file(&f, url, d, "b", A_SIZE, a_sha), 0);
	assert_content(d, "b", data_a, A_SIZE);
	assert_int_equal(f.bytes, A_SIZE - 1000);
	assert_int_equal(f.reused, 1000);

	assert_int_equal(lb_fetch_file(&f, url, d, "c", A_SIZE, b_sha), -LBE_HASH);
	assert_false(exists(d, "c.part"));
	/* a shorter file than the signed size: no retries, the size error */
	assert_int_equal(lb_fetch_file(&f, url, d, "c", A_SIZE + 1, a_sha), -LBE_HASH);
	assert_non_null(strstr(lb_err_msg(), "got 300000 bytes"));

	snprintf(url, sizeof url, "file://%s", path("www/small.txt"));
	assert_int_equal(lb_fetch_small(&f, url, 100000, NULL, &body, &len, etag, &nm), 0);
	assert_int_equal(len, SMALL_SIZE);
	assert_memory_equal(body, small, SMALL_SIZE);
	assert_string_equal(etag, "");
	assert_int_equal(nm, 0);
	free(body);

	snprintf(url, sizeof url, "file://%s", path("www/missing"));
	f.requests = 0;
	assert_int_equal(lb_fetch_file(&f, url, d, "m", 10, a_sha), -ENOENT);
	assert_int_equal(f.requests, 1);
	lb_fetch_free(&f);
	close(d);
}

/* 200 KiB at 100 kB/s takes about 2 s. */
static void test_bandwidth_cap(void **state)
{
	struct lb_fetch f;
	int d = newdir();

	fetch_init(&f);
	f.max_speed = 100000;
	double t0 = now_s();
	assert_int_equal(lb_fetch_file(&f, nginx_url("b.bin?t=slow"), d, "b", B_SIZE, b_sha), 0);
	double t = now_s() - t0;
	assert_content(d, "b", data_b, B_SIZE);
	if (t < 1.4)
		fail_msg("200 KiB at 100 kB/s took %.2f s", t);
	lb_fetch_free(&f);
	close(d);
}

/* The first answer stops after 500 bytes: the low-speed limit ends the
 * attempt, and the retry resumes. */
static void test_stall(void **state)
{
	struct lb_fetch f;
	int d = newdir();
	char lines[4][160];

	fetch_init(&f);
	f.low_speed_limit = 1000;
	f.low_speed_time = 1;
	assert_int_equal(
	    lb_fetch_file(&f, py_url("stall=500,t=stall", "a.bin"), d, "a", A_SIZE, a_sha), 0);
	assert_content(d, "a", data_a, A_SIZE);
	assert_int_equal(f.requests, 2);
	assert_int_equal(f.bytes, A_SIZE);
	assert_int_equal(log_lines("py.log", "/stall=500,t=stall/a.bin", 2, lines, 4), 2);
	assert_string_equal(lines[1], "bytes=500- 206 299500\n");

	/* always stalling: gives up with a timeout */
	f.retries = 1;
	f.requests = 0;
	assert_int_equal(put(d, "b.part", data_a, 10), 0);
	int r = lb_fetch_file(&f, py_url("hang,t=stall2", "a.bin"), d, "b", A_SIZE, a_sha);
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(f.requests, 2);
	assert_true(exists(d, "b.part")); /* kept for the next run */
	lb_fetch_free(&f);
	close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_resume_after_cut),
	    cmocka_unit_test(test_resume_part),
	    cmocka_unit_test(test_resume_bad_part),
	    cmocka_unit_test(test_no_range_support),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_wrong_hash),
	    cmocka_unit_test(test_retries),
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_redirects),
	    cmocka_unit_test(test_etag),
	    cmocka_unit_test(test_file_url),
	    cmocka_unit_test(test_bandwidth_cap),
	    cmocka_unit_test(test_stall),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
