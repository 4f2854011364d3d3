/* SPDX-License-Identifier: MIT */
/* exec_spawn.h — starting an exec child: the program found once per stage, pipes
 * for its stdio, and posix_spawn into a process group of its own with a clean
 * signal state. Private to the exec action (exec.c). */
#ifndef WEFTD_EXEC_SPAWN_H
#define WEFTD_EXEC_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/* Resolve argv0 as execvp would (a name with a '/' is a path, else searched in
 * PATH) to a malloc'd path in *ret_path, once per stage. Returns 0, or -EINVAL
 * (empty), -ENOENT (missing, not in PATH), -EACCES (not an executable file) or
 * -ENOMEM, with err naming stage. Blocks the thread (file system). */
int weftd_exec_find(const char *stage, const char *argv0, char **ret_path, char *err, size_t errlen);

/* Before the first spawn (idempotent, any thread): SIGPIPE becomes SIG_IGN when it
 * is SIG_DFL (a stdin writer must see EPIPE, not die), and the set of ignored
 * signals that children get back at their default is computed once. */
void weftd_exec_signals_init(void);

/* pipe2(O_CLOEXEC) with both ends at fd >= 3, so that dup2 onto 0/1/2 in the child
 * never meets an fd already there. Returns 0 or a negative errno (p left -EBADF). */
int weftd_exec_pipe(int p[2]);

/* Spawn path with argv (environ as is) on stdin in_r, stdout out_w, stderr err_w,
 * leading a new process group, with an empty signal mask and every signal at its
 * default. Does not block a proc for longer than the vfork. Returns 0 with
 * *ret_pid, or a negative errno. The caller still owns the fds. */
int weftd_exec_spawn(const char *path, const char *const *argv, int in_r, int out_w, int err_w,
		     pid_t *ret_pid);

#endif
