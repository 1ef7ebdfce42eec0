#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "qnet_process.h"

static void child_fail(int report_fd, int error) {
    ssize_t ignored = write(report_fd, &error, sizeof(error));
    (void)ignored;
    _exit(127);
}

pid_t qnet_spawn(const char *path, char *const argv[], char *const envp[],
                 const int *from_fds, const int *to_fds, int fd_count,
                 int output_fd, uid_t uid, gid_t gid, int new_session,
                 const char *cwd, int *child_errno) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) { *child_errno = errno; return -1; }
    // Descriptors that must survive must not collide with their own targets while
    // being moved: first move every source above the highest target.
    pid_t pid = fork();
    if (pid < 0) { *child_errno = errno; close(report[0]); close(report[1]); return -1; }
    if (pid == 0) {
        // Child: only async-signal-safe calls from here on.
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (new_session && setsid() < 0) child_fail(report[1], errno);
        int highest = 2;
        for (int i = 0; i < fd_count; i++) if (to_fds[i] > highest) highest = to_fds[i];
        if (report[1] <= highest) {
            int moved = fcntl(report[1], F_DUPFD_CLOEXEC, highest + 1);
            if (moved < 0) _exit(127);
            report[1] = moved;
        }
        int staged[256];
        if (fd_count > 256) child_fail(report[1], EINVAL);
        for (int i = 0; i < fd_count; i++) {
            staged[i] = fcntl(from_fds[i], F_DUPFD, highest + 1 + 256);
            if (staged[i] < 0) child_fail(report[1], errno);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0) child_fail(report[1], errno);
        if (output_fd >= 0) {
            if (dup2(output_fd, 1) < 0 || dup2(output_fd, 2) < 0) child_fail(report[1], errno);
        }
        for (int i = 0; i < fd_count; i++) {
            if (dup2(staged[i], to_fds[i]) < 0) child_fail(report[1], errno);
        }
        // Close everything else above 2 except the targets and the report pipe.
        for (int fd = 3; fd < 4096; fd++) {
            int keep = (fd == report[1]);
            for (int i = 0; i < fd_count; i++) if (to_fds[i] == fd) keep = 1;
            if (!keep) close(fd);
        }
        if (uid != (uid_t)-1) {
            if (setgroups(0, NULL) != 0) child_fail(report[1], errno);
            if (setgid(gid) != 0) child_fail(report[1], errno);
            if (setuid(uid) != 0) child_fail(report[1], errno);
        }
        if (cwd != NULL && chdir(cwd) != 0) child_fail(report[1], errno);
        execve(path, argv, envp);
        child_fail(report[1], errno);
    }
    close(report[1]);
    int error = 0;
    ssize_t got;
    do { got = read(report[0], &error, sizeof(error)); } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof(error)) {
        int status;
        waitpid(pid, &status, 0);
        *child_errno = error;
        return -1;
    }
    *child_errno = 0;
    return pid;
}
