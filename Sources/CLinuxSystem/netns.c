#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "qnet_netns.h"

// These wrappers need _GNU_SOURCE, which the module's header cannot define without
// changing how every other header is read.

int qnet_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET);
}

int qnet_unshare_mount_namespace(void) {
    return unshare(CLONE_NEWNS);
}

int qnet_remount_sysfs(void) {
    // What `ip netns exec` does so /sys/class/net shows the current network namespace:
    // make mounts private, then mount a fresh sysfs over /sys.
    if (mount("", "/", "none", MS_SLAVE | MS_REC, NULL) != 0) return -1;
    umount2("/sys", MNT_DETACH);
    return mount("sysfs", "/sys", "sysfs", 0, NULL);
}

int qnet_netns_create(const char *directory, const char *path) {
    mkdir(directory, 0755);
    // Like iproute2: make the directory a shared mount point so namespaces pinned here
    // are visible in mount namespaces created later (ip netns exec makes private ones).
    if (mount("", directory, "none", MS_SHARED | MS_REC, NULL) != 0) {
        if (errno != EINVAL) return -1;
        if (mount(directory, directory, "none", MS_BIND | MS_REC, NULL) != 0) return -1;
        if (mount("", directory, "none", MS_SHARED | MS_REC, NULL) != 0) return -1;
    }
    int file = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (file < 0) return -1;
    close(file);
    int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (original < 0) { int saved = errno; unlink(path); errno = saved; return -1; }
    int result = 0, saved = 0;
    if (unshare(CLONE_NEWNET) != 0) {
        saved = errno; result = -1;
    } else {
        if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) != 0) { saved = errno; result = -1; }
        if (setns(original, CLONE_NEWNET) != 0 && result == 0) { saved = errno; result = -1; }
    }
    close(original);
    if (result != 0) { unlink(path); errno = saved; }
    return result;
}

int qnet_netns_delete(const char *path) {
    if (umount2(path, MNT_DETACH) != 0 && errno != EINVAL) return -1;
    return unlink(path);
}
