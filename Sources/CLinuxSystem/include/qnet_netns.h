// Named network namespaces the way `ip netns add/del` makes them: a bind mount of a
// namespace file under /run/netns. The calling thread returns to its own namespace.
#ifndef QNET_NETNS_H
#define QNET_NETNS_H

/// Creates a new network namespace and pins it at `path` (a file under /run/netns).
/// Returns 0, or -1 with errno set; on failure nothing is left at `path`.
int qnet_netns_create(const char *directory, const char *path);

/// Unpins and removes a namespace file made by qnet_netns_create (or `ip netns add`).
int qnet_netns_delete(const char *path);

/// setns(fd, CLONE_NEWNET): moves the calling thread into the network namespace `fd`.
int qnet_setns_net(int fd);
/// unshare(CLONE_NEWNS).
int qnet_unshare_mount_namespace(void);
/// Remounts /sys in the current (private) mount namespace, as `ip netns exec` does.
int qnet_remount_sysfs(void);

#endif
