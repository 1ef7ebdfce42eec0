// Process spawning with descriptor hand-over and privilege drop, for starting QEMU as an
// unprivileged user with the TAP descriptors qnet opened. posix_spawn cannot change
// uid/gid, and fork() in Swift is unsafe, so the child side is C using only
// async-signal-safe calls.
#ifndef QNET_PROCESS_H
#define QNET_PROCESS_H

#include <sys/types.h>

/// Forks and execs `path` with `argv`/`envp`.
/// In the child: a new session (setsid) when `new_session`; stdin from /dev/null; stdout
/// and stderr to `output_fd` (when >= 0); each `from_fds[i]` duplicated to `to_fds[i]`
/// (without FD_CLOEXEC); every other descriptor above 2 closed; supplementary groups,
/// gid and uid set when `uid` != (uid_t)-1; working directory `cwd` when non-NULL.
/// Returns the child's pid, or -1 with `*child_errno` set when fork or exec failed
/// (exec failures are reported back through a close-on-exec pipe).
pid_t qnet_spawn(const char *path, char *const argv[], char *const envp[],
                 const int *from_fds, const int *to_fds, int fd_count,
                 int output_fd, uid_t uid, gid_t gid, int new_session,
                 const char *cwd, int *child_errno);

#endif
