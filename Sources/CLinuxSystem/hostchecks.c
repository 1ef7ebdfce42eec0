#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
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
