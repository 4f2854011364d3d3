/* SPDX-License-Identifier: MIT */
/* weftd_load — load driver for bench_daemon.sh (plain threads, blocking sockets).
 *
 *   weftd_load SOCKET PIPELINE CONNS WINDOW TOTAL [RATE]
 *   weftd_load --spawn THREADS TOTAL   (reference: posix_spawn + waitpid of /bin/true)
 *
 * Throughput: CONNS connections, one thread each, keep up to WINDOW submits in flight
 * (a sliding window: whenever responses come back the freed slots are refilled with one
 * write), TOTAL accepted submits in all; "busy" answers are counted and resubmitted.
 * The run ends when the daemon's stats say every job is done (the result is available),
 * so jobs_per_s is end to end: first submit written -> last job finished. With RATE
 * (jobs/s in all) the connections are paced: each sends no more than its share of RATE
 * since the start (an open load, as a service sees from independent clients), still
 * within its window.
 *
 * Latency: a separate probe connection sends one submit at a time during the run and
 * times each from the write to its response line (what one client sees under that
 * load); submit_p50_us / submit_p99_us are over those samples. */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LAT_MAX (1 << 20)

static const char *sock_path, *pipeline;
static long window, per_conn;
static double rate_per_conn;     /* submits/s per connection; 0: as fast as the window allows */
static int64_t t_start;
static atomic_long busy_total, probe_jobs;
static atomic_bool load_done;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int dial(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(3);
	}
	return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k <= 0) { perror("write"); exit(3); }
		p += k;
		n -= (size_t)k;
	}
}

static int submit_line(char *buf, size_t cap)
{
	return snprintf(buf, cap, "{\"id\":1,\"op\":\"submit\",\"pipeline\":\"%s\",\"payload\":\"x\"}\n",
			pipeline);
}

/* Read what is there (at least one byte), count whole lines: ok ones and busy ones. */
struct reader {
	char *buf;
	size_t len;
};

static void read_lines(int fd, struct reader *r, long *ok, long *busy)
{
	ssize_t k = read(fd, r->buf + r->len, (1 << 20) - r->len);
	if (k <= 0) { perror("read"); exit(3); }
	r->len += (size_t)k;
	char *p = r->buf, *nl;
	while ((nl = memchr(p, '\n', r->len - (size_t)(p - r->buf)))) {
		if (memmem(p, (size_t)(nl - p), "\"ok\":true", 9))
			(*ok)++;
		else
			(*busy)++;
		p = nl + 1;
	}
	r->len -= (size_t)(p - r->buf);
	memmove(r->buf, p, r->len);
}

static void *run(void *arg)
{
	int fd = dial();
	char line[160];
	int len = submit_line(line, sizeof(line));
	char *out = malloc((size_t)len * (size_t)window);
	struct reader rd = { .buf = malloc(1 << 20) };
	long accepted = 0, inflight = 0, sent = 0;

	for (long i = 0; i < window; i++)
		memcpy(out + i * len, line, (size_t)len);
	while (accepted < per_conn) {
		long room = window - inflight, want = per_conn - accepted - inflight;
		long n = room < want ? room : want;
		if (rate_per_conn > 0) {
			long due = (long)(rate_per_conn * (double)(now_ns() - t_start) / 1e9) - sent;
			if (due < n)
				n = due;
			if (n <= 0 && inflight == 0) {
				usleep(50); /* ahead of the schedule, nothing to read */
				continue;
			}
		}
		if (n > 0) {
			write_all(fd, out, (size_t)(n * len));
			inflight += n;
			sent += n;
		}
		long ok = 0, busy = 0;
		read_lines(fd, &rd, &ok, &busy);
		accepted += ok;
		inflight -= ok + busy;
		if (busy) {
			atomic_fetch_add(&busy_total, busy);
			usleep(100); /* the first queue is full: let the workers catch up */
		}
	}
	close(fd);
	free(out);
	free(rd.buf);
	return NULL;
}

struct probe {
	uint32_t *lat_us;
	long n;
};

static void *probe_run(void *arg)
{
	struct probe *pr = arg;
	int fd = dial();
	char line[160];
	int len = submit_line(line, sizeof(line));
	struct reader rd = { .buf = malloc(1 << 20) };

	pr->lat_us = malloc(sizeof(uint32_t) * LAT_MAX);
	while (!atomic_load(&load_done) && pr->n < LAT_MAX) {
		long ok = 0, busy = 0;
		int64_t t0 = now_ns();
		write_all(fd, line, (size_t)len);
		while (ok + busy == 0)
			read_lines(fd, &rd, &ok, &busy);
		pr->lat_us[pr->n++] = (uint32_t)((now_ns() - t0) / 1000);
		atomic_fetch_add(&probe_jobs, ok);
	}
	close(fd);
	free(rd.buf);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static long stats_done(int fd)
{
	char req[160], buf[65536];
	int n = snprintf(req, sizeof(req), "{\"id\":0,\"op\":\"stats\",\"pipeline\":\"%s\"}\n", pipeline);
	size_t len = 0;
	if (write(fd, req, (size_t)n) != n)
		return -1;
	while (!memchr(buf, '\n', len)) {
		ssize_t k = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (k <= 0)
			return -1;
		len += (size_t)k;
	}
	buf[len] = 0;
	char *p = strstr(buf, "\"submitted\":");
	p = p ? strstr(p, "\"done\":") : NULL;
	return p ? atol(p + 7) : -1;
}

/* What the exec stage pays at least per job: the same spawn as daemon/exec.c (own process
 * group, signal mask and dispositions reset), awaited with waitpid, THREADS at a time. */
extern char **environ;
static long spawn_each;

static void *spawn_run(void *arg)
{
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char *av[] = { "/bin/true", NULL };

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	for (long i = 0; i < spawn_each; i++) {
		pid_t pid;
		int st;
		if (posix_spawn(&pid, av[0], NULL, &attr, av, environ) != 0) {
			perror("posix_spawn");
			exit(3);
		}
		waitpid(pid, &st, 0);
	}
	posix_spawnattr_destroy(&attr);
	return NULL;
}

static int spawn_ref(long threads, long total)
{
	pthread_t ts[64];

	if (threads < 1 || threads > 64)
		return 2;
	spawn_each = total / threads;
	int64_t t0 = now_ns();
	for (long i = 0; i < threads; i++)
		pthread_create(&ts[i], NULL, spawn_run, NULL);
	for (long i = 0; i < threads; i++)
		pthread_join(ts[i], NULL);
	printf("spawn_per_s %.0f\n", (double)(spawn_each * threads) / ((double)(now_ns() - t0) / 1e9));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--spawn") == 0)
		return spawn_ref(atol(argv[2]), atol(argv[3]));
	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: weftd_load SOCKET PIPELINE CONNS WINDOW TOTAL [RATE]\n");
		return 2;
	}
	sock_path = argv[1];
	pipeline = argv[2];
	long conns = atol(argv[3]);
	window = atol(argv[4]);
	long total = atol(argv[5]);
	per_conn = total / conns;
	total = per_conn * conns;
	rate_per_conn = argc == 7 ? atof(argv[6]) / (double)conns : 0;
	pthread_t *ts = calloc((size_t)conns, sizeof(*ts)), pt;
	struct probe pr = { 0 };
	int sfd = dial();
	long done0 = stats_done(sfd);

	int64_t t0 = t_start = now_ns();
	for (long i = 0; i < conns; i++)
		pthread_create(&ts[i], NULL, run, NULL);
	pthread_create(&pt, NULL, probe_run, &pr);
	for (long i = 0; i < conns; i++)
		pthread_join(ts[i], NULL);
	int64_t t_sub = now_ns();
	atomic_store(&load_done, true);
	pthread_join(pt, NULL);
	long want = total + atomic_load(&probe_jobs);
	while (stats_done(sfd) - done0 < want)
		usleep(100);
	int64_t t_done = now_ns();

	qsort(pr.lat_us, (size_t)pr.n, sizeof(*pr.lat_us), cmp_u32);
	uint32_t p50 = pr.n ? pr.lat_us[pr.n / 2] : 0, p99 = pr.n ? pr.lat_us[pr.n * 99 / 100] : 0;
	printf("jobs %ld submit_s %.3f done_s %.3f jobs_per_s %.0f submit_p50_us %u submit_p99_us %u "
	       "probes %ld busy %ld\n",
	       total, (double)(t_sub - t0) / 1e9, (double)(t_done - t0) / 1e9,
	       (double)want / ((double)(t_done - t0) / 1e9), p50, p99, pr.n,
	       atomic_load(&busy_total));
	return 0;
}
