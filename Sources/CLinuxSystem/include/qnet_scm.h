// UNIX stream sockets for QMP: connecting by path and passing descriptors with
// SCM_RIGHTS (QMP `getfd`/`add-fd`). CMSG_* are function-like macros Swift cannot
// import, so the message building lives here.
#ifndef QNET_SCM_H
#define QNET_SCM_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

/// The longest UNIX socket path connect(2) accepts (sun_path minus its NUL).
static const unsigned int QNET_UNIX_PATH_MAX = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

/// socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK).
static inline int qnet_unix_stream_socket(void) {
    return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

/// socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): two connected ends (tests, helpers).
static inline int qnet_unix_stream_pair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

/// Fills `address` with AF_UNIX and `path`; -1 with ENAMETOOLONG when it does not fit.
static inline int qnet_unix_address(struct sockaddr_un *address, const char *path) {
    memset(address, 0, sizeof(*address));
    address->sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length >= sizeof(address->sun_path)) { errno = ENAMETOOLONG; return -1; }
    memcpy(address->sun_path, path, length);
    return 0;
}

/// connect(2) to the UNIX socket at `path`; -1 with ENAMETOOLONG when it does not fit.
static inline int qnet_unix_connect(int fd, const char *path) {
    struct sockaddr_un address;
    if (qnet_unix_address(&address, path) != 0) return -1;
    return connect(fd, (const struct sockaddr *)&address, sizeof(address));
}

/// A listening UNIX stream socket bound at `path` (close-on-exec); -1 with errno on failure.
static inline int qnet_unix_listen(const char *path) {
    struct sockaddr_un address;
    if (qnet_unix_address(&address, path) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (bind(fd, (const struct sockaddr *)&address, sizeof(address)) != 0 || listen(fd, 8) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/// sendmsg(2) of `length` bytes with `descriptor` attached as SCM_RIGHTS (none when < 0).
/// MSG_NOSIGNAL: a closed peer gives EPIPE rather than killing the process with SIGPIPE.
static inline ssize_t qnet_send_with_descriptor(int socket_fd, const void *buffer, size_t length, int descriptor) {
    struct iovec io = { .iov_base = (void *)buffer, .iov_len = length };
    union { char space[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr message;
    memset(&control, 0, sizeof(control));
    memset(&message, 0, sizeof(message));
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    if (descriptor >= 0) {
        message.msg_control = control.space;
        message.msg_controllen = sizeof(control.space);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(header), &descriptor, sizeof(int));
    }
    return sendmsg(socket_fd, &message, MSG_NOSIGNAL);
}

/// recvmsg(2) into `buffer`; the first SCM_RIGHTS descriptor received goes to
/// `*descriptor` (close-on-exec; -1 when none), any others are closed.
static inline ssize_t qnet_receive_with_descriptor(int socket_fd, void *buffer, size_t length, int *descriptor) {
    struct iovec io = { .iov_base = buffer, .iov_len = length };
    union { char space[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr align; } control;
    struct msghdr message;
    memset(&control, 0, sizeof(control));
    memset(&message, 0, sizeof(message));
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof(control.space);
    *descriptor = -1;
    ssize_t received = recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
    if (received < 0) return received;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
            if (*descriptor < 0) *descriptor = fd; else close(fd);
        }
    }
    return received;
}

#endif
