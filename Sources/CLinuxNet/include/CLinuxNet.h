// CLinuxNet: the only place qnet touches the kernel's UAPI headers: constants and
// structure layouts, no functions. The syscall wrappers live in CLinuxSystem, so the pure
// wire format (NetlinkWire) sees nothing it could call.
//
// Kernel quirk: glibc's headers must come *before* any <linux/...> header, or
// linux/libc-compat.h does not suppress the kernel's duplicate definitions and
// Swift rejects the module ("'in6_addr::__in6_u' ... is not present in definition").
#ifndef QNET_CLINUXNET_H
#define QNET_CLINUXNET_H

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <net/if.h>

#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_bridge.h>
#include <linux/if_tun.h>
#include <linux/if_addr.h>
#include <linux/if_ether.h>
#include <linux/sockios.h>
#include <linux/veth.h>

// Function-like ioctl macros (_IOW/_IOR) do not import into Swift, and their
// values differ between architectures (ppc64, mips), so they are exposed here as
// constants computed by the compiler from the kernel's own definitions.
static const unsigned long QNET_TUNSETIFF = TUNSETIFF;
static const unsigned long QNET_TUNGETIFF = TUNGETIFF;
static const unsigned long QNET_TUNSETPERSIST = TUNSETPERSIST;
static const unsigned long QNET_TUNSETOWNER = TUNSETOWNER;
static const unsigned long QNET_TUNSETGROUP = TUNSETGROUP;
static const unsigned long QNET_TUNGETFEATURES = TUNGETFEATURES;
static const unsigned long QNET_TUNSETQUEUE = TUNSETQUEUE;
static const unsigned long QNET_TUNSETVNETHDRSZ = TUNSETVNETHDRSZ;
static const unsigned long QNET_SIOCETHTOOL = SIOCETHTOOL;

// Netlink framing macros that are expressions rather than constants.
static const unsigned int QNET_NLMSG_HDRLEN = NLMSG_HDRLEN;
static const unsigned int QNET_NLA_HDRLEN = NLA_HDRLEN;
static const unsigned short QNET_NLA_TYPE_MASK = (unsigned short)(NLA_TYPE_MASK & 0xffff);
static const unsigned int QNET_IFINFOMSG_LEN = sizeof(struct ifinfomsg);
static const unsigned int QNET_IFADDRMSG_LEN = sizeof(struct ifaddrmsg);
static const unsigned int QNET_RTMSG_LEN = sizeof(struct rtmsg);
static const unsigned int QNET_RTNEXTHOP_LEN = sizeof(struct rtnexthop);
static const unsigned int QNET_NDMSG_LEN = sizeof(struct ndmsg);
static const unsigned int QNET_NLMSGERR_LEN = sizeof(struct nlmsgerr);

#endif
