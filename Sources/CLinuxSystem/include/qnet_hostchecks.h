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

/// A sealed in-memory copy of the file open at `fd` (memfd_create(MFD_CLOEXEC |
/// MFD_ALLOW_SEALING), copied, then F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL,
/// offset 0). Its inode is mode 0777 and belongs to nobody's files, so another process that
/// inherits it can reopen it through /proc/self/fd/N whatever the original's mode: how QEMU
/// reads a kernel only root may read. Returns the descriptor, or -1 with errno set.
int qnet_sealed_copy(int fd, const char *name);


#endif
