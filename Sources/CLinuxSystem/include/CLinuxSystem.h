// CLinuxSystem: syscall wrappers Swift cannot call directly (variadic functions,
// function-like macros, fork/exec, setns, SCM_RIGHTS, calls that need _GNU_SOURCE).
// It includes no <linux/...> header: the kernel's constants come from CLinuxNet.
#ifndef QNET_CLINUXSYSTEM_H
#define QNET_CLINUXSYSTEM_H

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <net/if.h>
#include <fcntl.h>

/// ioctl(2) is variadic, which Swift cannot call: one wrapper per argument shape.
static inline int qnet_ioctl_ifreq(int fd, unsigned long request, struct ifreq *ifr) {
    return ioctl(fd, request, ifr);
}
static inline int qnet_ioctl_ulong(int fd, unsigned long request, unsigned long value) {
    return ioctl(fd, request, value);
}
static inline int qnet_ioctl_ptr(int fd, unsigned long request, void *argument) {
    return ioctl(fd, request, argument);
}

/// The terminal's size (struct winsize), for output that fits its width.
static const unsigned long QNET_TIOCGWINSZ = TIOCGWINSZ;

/// open(2) is variadic as well.
static inline int qnet_open(const char *path, int flags) {
    return open(path, flags | O_CLOEXEC);
}

/// Socket types as plain ints: Swift sees glibc's as an enum that some optimised builds
/// fail to resolve inside nested functions.
static const int QNET_SOCK_STREAM = SOCK_STREAM;
static const int QNET_SOCK_DGRAM = SOCK_DGRAM;
static const int QNET_SOCK_CLOEXEC = SOCK_CLOEXEC;

#include "qnet_process.h"
#include "qnet_netns.h"
#include "qnet_scm.h"
#include "qnet_hostchecks.h"
#endif
