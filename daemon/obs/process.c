/* SPDX-License-Identifier: MIT */
/* process.c — the process_* families, named as Prometheus' own process collector names
 * them (client_golang, client_python), from /proc/self. These are small procfs reads that
 * never wait on a disk: done in place on the scrape's fiber. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "obs/metrics.h"

/* Read a small /proc file into buf (NUL-terminated). Returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}

static void one(struct weftd_buf *b, const char *name, const char *type, const char *help, double v)
{
	weftd_expo_family(b, name, type, help);
	weftd_expo_f64(b, name, NULL, NULL, 0, v);
}

/* Boot time (seconds since the epoch) from /proc/stat's btime. */
static long long boot_time(void)
{
	char buf[8192];
	const char *p;

	if (slurp("/proc/stat", buf, sizeof(buf)) < 0 || !(p = strstr(buf, "\nbtime ")))
		return -1;
	return atoll(p + 7);
}

static void stat_figures(struct weftd_buf *b)
{
	char buf[1024];
	const char *p;
	unsigned long long utime, stime, start, vsize;
	long long rss;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);

	/* fields after the command name, which may hold spaces and parentheses: start at the
	 * last ')' (proc(5): state is field 3; utime 14, stime 15, starttime 22, vsize 23,
	 * rss 24) */
	if (slurp("/proc/self/stat", buf, sizeof(buf)) < 0 || !(p = strrchr(buf, ')')))
		return;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
			  "%*d %*d %llu %llu %lld", &utime, &stime, &start, &vsize, &rss) != 5 ||
	    tck <= 0 || page <= 0)
		return;
	one(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
	    (double)(utime + stime) / (double)tck);
	one(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
	    (double)rss * (double)page);
	one(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", (double)vsize);
	long long bt = boot_time();
	if (bt >= 0)
		one(b, "process_start_time_seconds", "gauge",
		    "Start time of the process since unix epoch in seconds.",
		    (double)bt + (double)start / (double)tck);
}

static void fd_figures(struct weftd_buf *b)
{
	struct rlimit rl;
	DIR *d = opendir("/proc/self/fd");
	long n = 0;

	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			n += e->d_name[0] != '.';
		closedir(d);
		one(b, "process_open_fds", "gauge", "Number of open file descriptors.", (double)(n - 1)); /* less the listing's own */
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		one(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
		    rl.rlim_cur == RLIM_INFINITY ? 1.0 / 0.0 : (double)rl.rlim_cur);
}

void weftd_metrics_process(struct weftd_buf *b)
{
	stat_figures(b);
	fd_figures(b);
}
