// VXLAN device and FDB traffic, captured the way Fixtures.swift describes (Linux 6.18, iproute2
// 6.1.0), in a throwaway namespace:
//     ip netns add vxcap
//     ip -n vxcap link add u0 type veth peer name u1     (u0 = index 3, 192.0.2.1/24, up)
//     ip netns exec vxcap strace -e trace=sendmsg,recvmsg -e write=3 -e read=3 COMMAND
// with the commands named on each fixture (vx0 = index 4).

import NetlinkTestSupport

extension Fixture {
    /// `ip link add vx0 type vxlan id 42 local 192.0.2.1 dev u0 dstport 4789 nolearning`.
    static let linkAddVXLAN: [UInt8] = hex(
        "64000000 10000506 9df30c6b 00000000",  // nlmsghdr (16 B): len 100, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
        "00000000 00000000 00000000 00000000",  // ifinfomsg (16 B)
        "08000300 76783000",                    // IFLA_IFNAME 'vx0'
        "3c001200",                             // IFLA_LINKINFO (60 B)
        "09000100 76786c61 6e000000",           //   IFLA_INFO_KIND 'vxlan' (no NUL, iproute2's way)
        "2c000200",                             //   IFLA_INFO_DATA (44 B)
        "08000300 03000000",                    //     IFLA_VXLAN_LINK 3 (u0)
        "08000100 2a000000",                    //     IFLA_VXLAN_ID 42
        "08000400 c0000201",                    //     IFLA_VXLAN_LOCAL 192.0.2.1
        "05000700 00000000",                    //     IFLA_VXLAN_LEARNING 0
        "06000f00 12b50000"                     //     IFLA_VXLAN_PORT 4789 (big-endian)
    )

    /// `bridge fdb append 00:00:00:00:00:00 dev vx0 dst 192.0.2.2`.
    static let fdbAppendDefault: [UInt8] = hex(
        "30000000 1c00050c 9ef30c6b 00000000",  // nlmsghdr (16 B): len 48, RTM_NEWNEIGH, REQUEST|ACK|CREATE|APPEND
        "07000000 04000000 c0000200",           // ndmsg (12 B): AF_BRIDGE, index 4, NOARP|PERMANENT, NTF_SELF, RTN_UNSPEC
        "0a000200 00000000 00000000",           // NDA_LLADDR 00:00:00:00:00:00
        "08000100 c0000202"                     // NDA_DST 192.0.2.2
    )

    /// `bridge fdb del 00:00:00:00:00:00 dev vx0 dst 192.0.2.2`.
    static let fdbDeleteDefault: [UInt8] = hex(
        "30000000 1d000500 a0f30c6b 00000000",  // nlmsghdr (16 B): len 48, RTM_DELNEIGH, REQUEST|ACK
        "07000000 04000000 c0000200",           // ndmsg (12 B): AF_BRIDGE, index 4, NOARP|PERMANENT, NTF_SELF
        "0a000200 00000000 00000000",           // NDA_LLADDR 00:00:00:00:00:00
        "08000100 c0000202"                     // NDA_DST 192.0.2.2
    )
}
