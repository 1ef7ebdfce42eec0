#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "qnet_hostchecks.h"

int qnet_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int qnet_spawn_actions_closefrom(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

ssize_t qnet_getxattr(const char *path, const char *name, void *value, size_t size) {
    return getxattr(path, name, value, size);
}

int qnet_setxattr(const char *path, const char *name, const void *value, size_t size) {
    return setxattr(path, name, value, size, 0);
}

int qnet_sealed_copy(int fd, const char *name) {
    int copy = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (copy < 0) return -1;
    char buffer[65536];
    off_t offset = 0;
    for (;;) {
        ssize_t got = pread(fd, buffer, sizeof buffer, offset);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) goto fail;
        if (got == 0) break;
        for (ssize_t done = 0; done < got;) {
            ssize_t put = write(copy, buffer + done, (size_t)(got - done));
            if (put < 0 && errno == EINTR) continue;
            if (put < 0) goto fail;
            done += put;
        }
        offset += got;
    }
    if (fcntl(copy, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) goto fail;
    if (lseek(copy, 0, SEEK_SET) != 0) goto fail;
    return copy;
fail:;
    int saved = errno;
    close(copy);
    errno = saved;
    return -1;
}
