/* SPDX-License-Identifier: MIT */
/* noiouring — run a command where io_uring is forbidden, as Docker's default
 * seccomp profile does: io_uring_setup, io_uring_enter and io_uring_register
 * fail with EPERM for the command and everything it starts (the filter is
 * inherited across fork and exec). CI runs weftd's integration tests under it.
 *
 *   noiouring CMD [ARG...]
 *
 * Exits 125 if the filter cannot be installed, 127 if CMD cannot be run. */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static const char *const denied[] = { "io_uring_setup", "io_uring_enter", "io_uring_register" };
	if (argc < 2) {
		fprintf(stderr, "usage: noiouring CMD [ARG...]\n");
		return 125;
	}
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
	if (!f) {
		fprintf(stderr, "noiouring: seccomp_init failed\n");
		return 125;
	}
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		int r = nr == __NR_SCMP_ERROR ? -ENOSYS : seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r < 0) {
			fprintf(stderr, "noiouring: cannot deny %s: %s\n", denied[i], strerror(-r));
			seccomp_release(f);
			return 125;
		}
	}
	int r = seccomp_load(f); /* sets no_new_privs first, as an unprivileged filter must */
	seccomp_release(f);
	if (r < 0) {
		fprintf(stderr, "noiouring: seccomp_load: %s\n", strerror(-r));
		return 125;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "noiouring: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
