/* weftd_load — load driver for bench_daemon.sh: CONNS threads, each with its own
 * connection, send submits in pipelined batches of WINDOW lines (one write per batch,
 * responses read back in bulk), retrying "busy" answers. Then polls stats until every
 * job is done. Prints jobs/s (end to end: submitted to result available) and the submit
 * latency percentiles (from the batch's write to its response line).
 *   weftd_load SOCKET PIPELINE CONNS WINDOW TOTAL */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path, *pipeline;
static long window, per_conn;
static atomic_long busy_total;

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

struct worker {
	pthread_t t;
	uint32_t *lat_us;   /* one per accepted submit */
	long nlat;
};

static void *run(void *arg)
{
	struct worker *w = arg;
	int fd = dial();
	char line[160];
	int len = snprintf(line, sizeof(line), "{\"id\":1,\"op\":\"submit\",\"pipeline\":\"%s\",\"payload\":\"x\"}\n", pipeline);
	char *out = malloc((size_t)len * (size_t)window), *in = malloc(1 << 20);
	size_t inlen = 0;
	long left = per_conn;

	w->lat_us = malloc(sizeof(uint32_t) * (size_t)per_conn);
	for (long i = 0; i < window; i++)
		memcpy(out + i * len, line, (size_t)len);
	while (left > 0) {
		long n = left < window ? left : window, got = 0;
		int64_t t0 = now_ns();
		size_t off = 0, total = (size_t)(n * len);
		while (off < total) {
			ssize_t k = write(fd, out + off, total - off);
			if (k <= 0) { perror("write"); exit(3); }
			off += (size_t)k;
		}
		while (got < n) {
			ssize_t k = read(fd, in + inlen, (1 << 20) - inlen);
			if (k <= 0) { perror("read"); exit(3); }
			inlen += (size_t)k;
			int64_t t1 = now_ns();
			char *p = in, *nl;
			while ((nl = memchr(p, '\n', inlen - (size_t)(p - in)))) {
				if (memmem(p, (size_t)(nl - p), "\"ok\":true", 9)) {
					w->lat_us[w->nlat++] = (uint32_t)((t1 - t0) / 1000);
					left--;
				} else {
					atomic_fetch_add(&busy_total, 1);
				}
				got++;
				p = nl + 1;
			}
			inlen -= (size_t)(p - in);
			memmove(in, p, inlen);
		}
		if (atomic_load(&busy_total) && got < n)
			usleep(100);
	}
	close(fd);
	free(out);
	free(in);
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

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: weftd_load SOCKET PIPELINE CONNS WINDOW TOTAL\n");
		return 2;
	}
	sock_path = argv[1];
	pipeline = argv[2];
	long conns = atol(argv[3]);
	window = atol(argv[4]);
	long total = atol(argv[5]);
	per_conn = total / conns;
	total = per_conn * conns;
	struct worker *ws = calloc((size_t)conns, sizeof(*ws));
	int sfd = dial();
	long done0 = stats_done(sfd);

	int64_t t0 = now_ns();
	for (long i = 0; i < conns; i++)
		pthread_create(&ws[i].t, NULL, run, &ws[i]);
	for (long i = 0; i < conns; i++)
		pthread_join(ws[i].t, NULL);
	int64_t t_sub = now_ns();
	while (stats_done(sfd) - done0 < total)
		usleep(200);
	int64_t t_done = now_ns();

	uint32_t *all = malloc(sizeof(uint32_t) * (size_t)total);
	long n = 0;
	for (long i = 0; i < conns; i++) {
		memcpy(all + n, ws[i].lat_us, sizeof(uint32_t) * (size_t)ws[i].nlat);
		n += ws[i].nlat;
	}
	qsort(all, (size_t)n, sizeof(*all), cmp_u32);
	printf("jobs %ld submit_s %.3f done_s %.3f jobs_per_s %.0f submit_p50_us %u submit_p99_us %u busy %ld\n",
	       total, (double)(t_sub - t0) / 1e9, (double)(t_done - t0) / 1e9,
	       (double)total / ((double)(t_done - t0) / 1e9), all[n / 2], all[n * 99 / 100],
	       atomic_load(&busy_total));
	return 0;
}
