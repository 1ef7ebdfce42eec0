// Named network namespaces the way `ip netns add/del` makes them: a bind mount of a
// namespace file under /run/netns. The calling thread returns to its own namespace.
#ifndef QNET_NETNS_H
#define QNET_NETNS_H

/// Creates a new network namespace and pins it at `path` (a file under /run/netns).
/// Returns 0, or -1 with errno set; on failure nothing is left at `path`.
int qnet_netns_create(const char *directory, const char *path);

/// Unpins and removes a namespace file made by qnet_netns_create (or `ip netns add`).
int qnet_netns_delete(const char *path);

#include <sys/socket.h>
/// Socket types as plain ints: Swift sees glibc's as an enum that some optimised builds
/// fail to resolve inside nested functions.
static const int QNET_SOCK_STREAM = SOCK_STREAM;
static const int QNET_SOCK_DGRAM = SOCK_DGRAM;
static const int QNET_SOCK_CLOEXEC = SOCK_CLOEXEC;

#endif
