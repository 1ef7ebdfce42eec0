// Wrappers for `qnet doctor` (HostChecks): glibc calls that need _GNU_SOURCE or headers
// that Swift's Glibc module does not import.
#ifndef QNET_HOSTCHECKS_H
#define QNET_HOSTCHECKS_H

#include <spawn.h>
#include <sys/types.h>

/// pipe2(fds, O_CLOEXEC).
int qnet_pipe_cloexec(int fds[2]);
/// posix_spawn_file_actions_addclosefrom_np(actions, lowest): the child inherits no
/// descriptor from `lowest` up, whatever the parent forgot to mark close-on-exec.
int qnet_spawn_actions_closefrom(posix_spawn_file_actions_t *actions, int lowest);
/// getxattr(2) (<sys/xattr.h>), e.g. "system.posix_acl_access".
ssize_t qnet_getxattr(const char *path, const char *name, void *value, size_t size);
/// setxattr(2), for tests that give fixture files an ACL.
int qnet_setxattr(const char *path, const char *name, const void *value, size_t size);

#endif
