// Wrappers for glibc functions that need _GNU_SOURCE, which the module's header
// cannot define without changing how every other header is read.
#define _GNU_SOURCE
#include <sched.h>
#include <sys/mount.h>
#include "CLinuxNet.h"

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
