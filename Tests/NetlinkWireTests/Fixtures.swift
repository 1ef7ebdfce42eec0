// Byte fixtures captured from real kernel traffic. Generated once from strace dumps; do
// not edit by hand (the tests check both directions against these exact bytes).
//
// Capture set-up: Linux 6.18, iproute2 6.1.0, in a throwaway namespace made for the purpose:
//     ip netns add qnet-fx
//     ip netns exec qnet-fx strace -f -e trace=sendmsg,sendto,recvmsg \
//         -e write=all -e read=all -xx COMMAND
//     ...
//     ip netns del qnet-fx
// Commands, in order: `ip link add br0 type bridge stp_state 1 forward_delay 400` (br0 = index 2),
// `ip link add veth0 type veth peer name veth1` (veth1 = 3, veth0 = 4), then the commands named
// on each fixture. Sequence numbers are iproute2's (time-based); port ids are the `ip` process's.
// Netlink is host byte order: these are little-endian (x86_64) captures.
// The `capped*` fixtures are what a NETLINK_EXT_ACK + NETLINK_CAP_ACK socket (as NetlinkSocket
// opens) receives: the named request's captured bytes were re-sent from python3
// (`socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)`, setsockopt(SOL_NETLINK, 11 and 10, 1)) in the
// same namespace, and the replies recorded. Comments were generated from the bytes; names
// marked * are newer than the host's UAPI headers.

import NetlinkTestSupport

enum Fixture {
    /// `ip link add br0 type bridge stp_state 1 forward_delay 400`: the RTM_NEWLINK request.
    /// iproute2 sends IFLA_INFO_KIND without a terminating NUL (nla_len 10).
    static let linkAddBridge: [UInt8] = hex(
        "4c000000 10000506 12a1066b 00000000",  // nlmsghdr (16 B): len 76, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 0x6b06a112, pid 0
        "00000000 00000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 0, flags 0x0, change 0x0
        "08000300 62723000",                    // IFLA_IFNAME 'br0'
        "24001200",                             // IFLA_LINKINFO (nested, nla_len 36)
        "0a000100 62726964 67650000",           //   IFLA_INFO_KIND 'bridge' (no NUL)
        "14000200",                             //   IFLA_INFO_DATA (nested, nla_len 20)
        "08000500 01000000",                    //     IFLA_BR_STP_STATE 1
        "08000100 90010000",                    //     IFLA_BR_FORWARD_DELAY 400
    )

    /// `ip link add br0 type bridge stp_state 1 forward_delay 400`: the kernel's ack.
    /// An ack (error 0) echoes only the request header and is flagged NLM_F_CAPPED even though
    /// iproute2 does not set NETLINK_CAP_ACK.
    static let linkAddBridgeAck: [UInt8] = hex(
        "24000000 02000001 12a1066b 59100000",  // nlmsghdr (16 B): len 36, NLMSG_ERROR, CAPPED, seq 0x6b06a112, pid 4185
        "00000000",                             // nlmsgerr.error 0
        "4c000000 10000506 12a1066b 00000000",  // nlmsgerr.msg: request header (16 B)
    )

    /// `ip link set dev veth0 master br0` (veth0 is index 4, br0 index 2): the RTM_NEWLINK request.
    static let setMaster: [UInt8] = hex(
        "28000000 10000500 12a1066b 00000000",  // nlmsghdr (16 B): len 40, RTM_NEWLINK, REQUEST|ACK, seq 0x6b06a112, pid 0
        "00000000 04000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 4, flags 0x0, change 0x0
        "08000a00 02000000",                    // IFLA_MASTER 2
    )

    /// `ip link set dev veth0 master br0`: the kernel's ack.
    static let setMasterAck: [UInt8] = hex(
        "24000000 02000001 12a1066b 88100000",  // nlmsghdr (16 B): len 36, NLMSG_ERROR, CAPPED, seq 0x6b06a112, pid 4232
        "00000000",                             // nlmsgerr.error 0
        "28000000 10000500 12a1066b 00000000",  // nlmsgerr.msg: request header (16 B)
    )

    /// `ip link set dev veth0 up`: the RTM_NEWLINK request (IFF_UP in both ifi_flags and ifi_change).
    static let setUp: [UInt8] = hex(
        "20000000 10000500 13a1066b 00000000",  // nlmsghdr (16 B): len 32, RTM_NEWLINK, REQUEST|ACK, seq 0x6b06a113, pid 0
        "00000000 04000000 01000000 01000000",  // ifinfomsg (16 B): family 0, type 0, index 4, flags 0x1, change 0x1
    )

    /// `ip link set veth0 type bridge_slave cost 10 isolated on`: the RTM_NEWLINK request.
    /// iproute2 names the kind "bridge_slave" in IFLA_INFO_KIND (no NUL) and puts the port
    /// attributes in IFLA_INFO_SLAVE_DATA.
    static let setBridgePort: [UInt8] = hex(
        "48000000 10000500 13a1066b 00000000",  // nlmsghdr (16 B): len 72, RTM_NEWLINK, REQUEST|ACK, seq 0x6b06a113, pid 0
        "00000000 04000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 4, flags 0x0, change 0x0
        "28001200",                             // IFLA_LINKINFO (nested, nla_len 40)
        "10000100 62726964 67655f73 6c617665",  //   IFLA_INFO_KIND 'bridge_slave' (no NUL)
        "14000500",                             //   IFLA_INFO_SLAVE_DATA (nested, nla_len 20)
        "08000300 0a000000",                    //     IFLA_BRPORT_COST 10
        "05002100 01000000",                    //     IFLA_BRPORT_ISOLATED 1
    )

    /// `ip addr add 192.168.1.10/24 dev veth0`: the RTM_NEWADDR request (IFA_LOCAL before IFA_ADDRESS).
    static let addAddressV4: [UInt8] = hex(
        "28000000 14000506 13a1066b 00000000",  // nlmsghdr (16 B): len 40, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE, seq 0x6b06a113, pid 0
        "02180000 04000000",                    // ifaddrmsg (8 B): family 2, prefixlen 24, flags 0, scope 0, index 4
        "08000200 c0a8010a",                    // IFA_LOCAL 192.168.1.10
        "08000100 c0a8010a",                    // IFA_ADDRESS 192.168.1.10
    )

    /// `ip -6 addr add 2001:db8::1/64 dev veth0`: the RTM_NEWADDR request.
    static let addAddressV6: [UInt8] = hex(
        "40000000 14000506 13a1066b 00000000",           // nlmsghdr (16 B): len 64, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE, seq 0x6b06a113, pid 0
        "0a400000 04000000",                             // ifaddrmsg (8 B): family 10, prefixlen 64, flags 0, scope 0, index 4
        "14000200 20010db8 00000000 00000000 00000001",  // IFA_LOCAL 2001:db8::1
        "14000100 20010db8 00000000 00000000 00000001",  // IFA_ADDRESS 2001:db8::1
    )

    /// `ip route add default via 192.168.1.254 dev veth0 metric 100`: the RTM_NEWROUTE request.
    static let addDefaultRoute: [UInt8] = hex(
        "34000000 18000506 13a1066b 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE, seq 0x6b06a113, pid 0
        "02000000 fe030001 00000000",           // rtmsg (12 B): family 2, dst_len 0, src_len 0, tos 0, table 254, protocol 3, scope 0, type 1, flags 0
        "08000500 c0a801fe",                    // RTA_GATEWAY 192.168.1.254
        "08000600 64000000",                    // RTA_PRIORITY 100
        "08000400 04000000",                    // RTA_OIF 4
    )

    /// `ip link del veth0`: the RTM_DELLINK request.
    static let deleteLink: [UInt8] = hex(
        "20000000 11000500 84a1066b 00000000",  // nlmsghdr (16 B): len 32, RTM_DELLINK, REQUEST|ACK, seq 0x6b06a184, pid 0
        "00000000 04000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 4, flags 0x0, change 0x0
    )

    /// `ip link del veth0`: the kernel's ack.
    static let deleteLinkAck: [UInt8] = hex(
        "24000000 02000001 84a1066b 191b0000",  // nlmsghdr (16 B): len 36, NLMSG_ERROR, CAPPED, seq 0x6b06a184, pid 6937
        "00000000",                             // nlmsgerr.error 0
        "20000000 11000500 84a1066b 00000000",  // nlmsgerr.msg: request header (16 B)
    )

    /// `ip link show br0`: the RTM_GETLINK request (AF_PACKET, by name, RTEXT_FILTER_VF).
    static let getLinkBr0: [UInt8] = hex(
        "30000000 12000100 13a1066b 00000000",  // nlmsghdr (16 B): len 48, RTM_GETLINK, REQUEST, seq 0x6b06a113, pid 0
        "11000000 00000000 00000000 00000000",  // ifinfomsg (16 B): family 17, type 0, index 0, flags 0x0, change 0x0
        "08000300 62723000",                    // IFLA_IFNAME 'br0'
        "08001d00 01000000",                    // IFLA_EXT_MASK RTEXT_FILTER_VF
    )

    /// `ip link show br0`: the kernel's RTM_NEWLINK reply for br0 (created with
    /// `stp_state 1 forward_delay 400`, veth0 enslaved). Attributes marked * are newer than the
    /// host's UAPI headers (kernel 6.2+); qnet keeps them as unknown raw attributes.
    static let newLinkBr0Reply: [UInt8] = hex(
        "58070000 10000000 13a1066b 9c110000",                                      // nlmsghdr (16 B): len 1880, RTM_NEWLINK, flags 0, seq 0x6b06a113, pid 4508
        "00000100 02000000 02100000 00000000",                                      // ifinfomsg (16 B): family 0, type 1, index 2, flags 0x1002, change 0x0
        "08000300 62723000",                                                        // IFLA_IFNAME 'br0'
        "08000d00 e8030000",                                                        // IFLA_TXQLEN 1000
        "05001000 02000000",                                                        // IFLA_OPERSTATE 2 (DOWN)
        "05001100 00000000",                                                        // IFLA_LINKMODE 0
        "05004300 01000000",                                                        // IFLA_NETNS_IMMUTABLE* 1
        "08000400 dc050000",                                                        // IFLA_MTU 1500
        "08003200 44000000",                                                        // IFLA_MIN_MTU 68
        "08003300 ffff0000",                                                        // IFLA_MAX_MTU 65535
        "08001b00 00000000",                                                        // IFLA_GROUP 0
        "08001e00 00000000",                                                        // IFLA_PROMISCUITY 0
        "08003d00 00000000",                                                        // IFLA_ALLMULTI 0
        "08001f00 01000000",                                                        // IFLA_NUM_TX_QUEUES 1
        "08002800 ffff0000",                                                        // IFLA_GSO_MAX_SEGS 65535
        "08002900 00000100",                                                        // IFLA_GSO_MAX_SIZE 65536
        "08003a00 00000100",                                                        // IFLA_GRO_MAX_SIZE 65536
        "08003f00 00000100",                                                        // IFLA_GSO_IPV4_MAX_SIZE* 65536
        "08004000 00000100",                                                        // IFLA_GRO_IPV4_MAX_SIZE* 65536
        "08003b00 f8ff0700",                                                        // IFLA_TSO_MAX_SIZE 524280
        "08003c00 ffff0000",                                                        // IFLA_TSO_MAX_SEGS 65535
        "08004200 00000000",                                                        // IFLA_MAX_PACING_OFFLOAD_HORIZON* 0
        "08002000 01000000",                                                        // IFLA_NUM_RX_QUEUES 1
        "05002100 00000000",                                                        // IFLA_CARRIER 0
        "08002300 01000000",                                                        // IFLA_CARRIER_CHANGES 1
        "08002f00 00000000",                                                        // IFLA_CARRIER_UP_COUNT 0
        "08003000 01000000",                                                        // IFLA_CARRIER_DOWN_COUNT 1
        "06004400 00000000",                                                        // IFLA_HEADROOM* 0
        "06004500 00000000",                                                        // IFLA_TAILROOM* 0
        "05002700 00000000",                                                        // IFLA_PROTO_DOWN 0
        "0a000100 52fd9189 9b860000",                                               // IFLA_ADDRESS 52:fd:91:89:9b:86
        "0a000200 ffffffff ffff0000",                                               // IFLA_BROADCAST ff:ff:ff:ff:ff:ff
        "cc001700 00000000 00000000 00000000 00000000 00000000 00000000 00000000",  // IFLA_STATS64 (200 B payload)
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000",
        "64000700 00000000 00000000 00000000 00000000 00000000 00000000 00000000",  // IFLA_STATS (96 B payload)
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000",
        "0c002b00 05000200 00000000",                                               // IFLA_XDP (nested: IFLA_XDP_ATTACHED 0)
        "9c011200",                                                                 // IFLA_LINKINFO (nested, nla_len 412)
        "0b000100 62726964 67650000",                                               //   IFLA_INFO_KIND 'bridge'
        "8c010200",                                                                 //   IFLA_INFO_DATA (nested, nla_len 396)
        "0c001000 00000000 00000000",                                               //     IFLA_BR_HELLO_TIMER 0
        "0c001100 00000000 00000000",                                               //     IFLA_BR_TCN_TIMER 0
        "0c001200 00000000 00000000",                                               //     IFLA_BR_TOPOLOGY_CHANGE_TIMER 0
        "0c001300 00000000 00000000",                                               //     IFLA_BR_GC_TIMER 0
        "08000100 90010000",                                                        //     IFLA_BR_FORWARD_DELAY 400
        "08000200 c8000000",                                                        //     IFLA_BR_HELLO_TIME 200
        "08000300 d0070000",                                                        //     IFLA_BR_MAX_AGE 2000
        "08000400 30750000",                                                        //     IFLA_BR_AGEING_TIME 30000
        "08000500 01000000",                                                        //     IFLA_BR_STP_STATE 1
        "06000600 00800000",                                                        //     IFLA_BR_PRIORITY 32768
        "05000700 00000000",                                                        //     IFLA_BR_VLAN_FILTERING 0
        "06000900 00000000",                                                        //     IFLA_BR_GROUP_FWD_MASK 0
        "0c000b00 800052fd 91899b86",                                               //     IFLA_BR_BRIDGE_ID 8000.52:fd:91:89:9b:86
        "0c000a00 800052fd 91899b86",                                               //     IFLA_BR_ROOT_ID 8000.52:fd:91:89:9b:86
        "06000c00 00000000",                                                        //     IFLA_BR_ROOT_PORT 0
        "08000d00 00000000",                                                        //     IFLA_BR_ROOT_PATH_COST 0
        "05000e00 00000000",                                                        //     IFLA_BR_TOPOLOGY_CHANGE 0
        "05000f00 00000000",                                                        //     IFLA_BR_TOPOLOGY_CHANGE_DETECTED 0
        "0a001400 0180c200 00000000",                                               //     IFLA_BR_GROUP_ADDR 01:80:c2:00:00:00
        "0c002e00 00000000 1f000000",                                               //     IFLA_BR_MULTI_BOOLOPT optval 0x0, optmask 0x1f
        "08003000 00000000",                                                        //     IFLA_BR_FDB_N_LEARNED* 0
        "08003100 00000000",                                                        //     IFLA_BR_FDB_MAX_LEARNED* 0
        "05001600 01000000",                                                        //     IFLA_BR_MCAST_ROUTER 1
        "05001700 01000000",                                                        //     IFLA_BR_MCAST_SNOOPING 1
        "05001800 00000000",                                                        //     IFLA_BR_MCAST_QUERY_USE_IFADDR 0
        "05001900 00000000",                                                        //     IFLA_BR_MCAST_QUERIER 0
        "05002a00 00000000",                                                        //     IFLA_BR_MCAST_STATS_ENABLED 0
        "08001a00 10000000",                                                        //     IFLA_BR_MCAST_HASH_ELASTICITY 16
        "08001b00 00100000",                                                        //     IFLA_BR_MCAST_HASH_MAX 4096
        "08001c00 02000000",                                                        //     IFLA_BR_MCAST_LAST_MEMBER_CNT 2
        "08001d00 02000000",                                                        //     IFLA_BR_MCAST_STARTUP_QUERY_CNT 2
        "05002b00 02000000",                                                        //     IFLA_BR_MCAST_IGMP_VERSION 2
        "05002c00 01000000",                                                        //     IFLA_BR_MCAST_MLD_VERSION 1
        "0c001e00 64000000 00000000",                                               //     IFLA_BR_MCAST_LAST_MEMBER_INTVL 100
        "0c001f00 90650000 00000000",                                               //     IFLA_BR_MCAST_MEMBERSHIP_INTVL 26000
        "0c002000 9c630000 00000000",                                               //     IFLA_BR_MCAST_QUERIER_INTVL 25500
        "0c002100 d4300000 00000000",                                               //     IFLA_BR_MCAST_QUERY_INTVL 12500
        "0c002200 e8030000 00000000",                                               //     IFLA_BR_MCAST_QUERY_RESPONSE_INTVL 1000
        "0c002300 340c0000 00000000",                                               //     IFLA_BR_MCAST_STARTUP_QUERY_INTVL 3124
        "05002400 00000000",                                                        //     IFLA_BR_NF_CALL_IPTABLES 0
        "05002500 00000000",                                                        //     IFLA_BR_NF_CALL_IP6TABLES 0
        "05002600 00000000",                                                        //     IFLA_BR_NF_CALL_ARPTABLES 0
        "09000600 6e6f6f70 00000000",                                               // IFLA_QDISC 'noop'
        "30031a00 8c000200 88000100 00000000 00000000 00000000 01000000 01000000",  // IFLA_AF_SPEC (812 B payload)
        "01000000 01000000 00000000 01000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 10270000 e8030000 00000000",
        "00000000 00000000 00000000 01000000 a0020a00 08000100 00000000 14000500",
        "ffff0000 8c9e0000 14930000 e8030000 f4000200 00000000 40000000 dc050000",
        "01000000 01000000 01000000 01000000 ffffffff a00f0000 e8030000 00000000",
        "803a0900 80510100 03000000 58020000 10000000 00000000 01000000 01000000",
        "01000000 60ea0000 00000000 00000000 00000000 00000000 00000000 00000000",
        "01000000 00000000 00000000 10270000 e8030000 01000000 00000000 00000000",
        "01000000 00000000 00000000 01000000 00000000 00000000 00000000 00000000",
        "80ee3600 00000000 00000000 01000000 00000000 00000000 00000000 00000000",
        "00000000 00040000 00000000 ffff0000 ffffffff 01000000 00000000 00000000",
        "00000000 34010300 26000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 3c000600 07000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 14000700 00000000 00000000",
        "00000000 00000000 05000800 00000000",
        "24000e00 00000000 00000000 00000000 00000000 00000000 00000000 00000000",  // IFLA_MAP (32 B payload)
        "00000000",
        "04003e80",                                                                 // IFLA_DEVLINK_PORT*|NESTED (empty)
        "04004180",                                                                 // IFLA_DPLL_PIN*|NESTED (empty)
    )

    /// `ip link show`: the RTM_GETLINK dump request.
    static let dumpLinks: [UInt8] = hex(
        "28000000 12000103 13a1066b 00000000",  // nlmsghdr (16 B): len 40, RTM_GETLINK, REQUEST|ROOT|MATCH, seq 0x6b06a113, pid 0
        "11000000 00000000 00000000 00000000",  // ifinfomsg (16 B): family 17, type 0, index 0, flags 0x0, change 0x0
        "08001d00 01000000",                    // IFLA_EXT_MASK RTEXT_FILTER_VF
    )

    /// `ip link show`: the NLMSG_DONE that ended the dump (in its own datagram), error 0.
    static let dumpLinksDone: [UInt8] = hex(
        "14000000 03000200 13a1066b 54120000",  // nlmsghdr (16 B): len 20, NLMSG_DONE, MULTI, seq 0x6b06a113, pid 4692
        "00000000",                             // NLMSG_DONE payload
    )

    /// `ip link add br0 type bridge` while br0 exists: the RTM_NEWLINK request.
    static let addExistingBridge: [UInt8] = hex(
        "38000000 10000506 13a1066b 00000000",  // nlmsghdr (16 B): len 56, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 0x6b06a113, pid 0
        "00000000 00000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 0, flags 0x0, change 0x0
        "08000300 62723000",                    // IFLA_IFNAME 'br0'
        "10001200",                             // IFLA_LINKINFO (nested, nla_len 16)
        "0a000100 62726964 67650000",           //   IFLA_INFO_KIND 'bridge' (no NUL)
    )

    /// `ip link add br0 type bridge` while br0 exists: NLMSG_ERROR -EEXIST.
    /// Not capped (iproute2 does not set NETLINK_CAP_ACK), so the whole request is echoed; no ext-ack text.
    static let addExistingBridgeError: [UInt8] = hex(
        "4c000000 02000000 13a1066b f8110000",                                      // nlmsghdr (16 B): len 76, NLMSG_ERROR, flags 0, seq 0x6b06a113, pid 4600
        "efffffff",                                                                 // nlmsgerr.error -17
        "38000000 10000506 13a1066b 00000000 00000000 00000000 00000000 00000000",  // nlmsgerr.msg: echoed request (56 B)
        "08000300 62723000 10001200 0a000100 62726964 67650000",
    )

    /// `ip route add 10.0.0.0/8 via 192.168.99.1` (no route to the gateway): the RTM_NEWROUTE request.
    static let unreachableGatewayRoute: [UInt8] = hex(
        "2c000000 18000506 13a1066b 00000000",  // nlmsghdr (16 B): len 44, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE, seq 0x6b06a113, pid 0
        "02080000 fe030001 00000000",           // rtmsg (12 B): family 2, dst_len 8, src_len 0, tos 0, table 254, protocol 3, scope 0, type 1, flags 0
        "08000100 0a000000",                    // RTA_DST 10.0.0.0
        "08000500 c0a86301",                    // RTA_GATEWAY 192.168.99.1
    )

    /// `ip route add 10.0.0.0/8 via 192.168.99.1`: NLMSG_ERROR -ENETUNREACH, not capped (request
    /// echoed), then the ext-ack text (NLM_F_ACK_TLVS).
    static let unreachableGatewayError: [UInt8] = hex(
        "60000000 02000002 13a1066b 26120000",                                      // nlmsghdr (16 B): len 96, NLMSG_ERROR, ACK_TLVS, seq 0x6b06a113, pid 4646
        "9bffffff",                                                                 // nlmsgerr.error -101
        "2c000000 18000506 13a1066b 00000000 02080000 fe030001 00000000 08000100",  // nlmsgerr.msg: echoed request (44 B)
        "0a000000 08000500 c0a86301",
        "20000100 4e657874 686f7020 68617320 696e7661 6c696420 67617465 77617900",  // NLMSGERR_ATTR_MSG 'Nexthop has invalid gateway'
    )

    /// `ip link add br1 gso_max_size 1 type bridge`: the RTM_NEWLINK request.
    static let gsoOutOfRange: [UInt8] = hex(
        "40000000 10000506 78a1066b 00000000",  // nlmsghdr (16 B): len 64, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 0x6b06a178, pid 0
        "00000000 00000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 0, flags 0x0, change 0x0
        "08002900 01000000",                    // IFLA_GSO_MAX_SIZE 1
        "08000300 62723100",                    // IFLA_IFNAME 'br1'
        "10001200",                             // IFLA_LINKINFO (nested, nla_len 16)
        "0a000100 62726964 67650000",           //   IFLA_INFO_KIND 'bridge' (no NUL)
    )

    /// `ip link add br1 gso_max_size 1 type bridge`: NLMSG_ERROR -ERANGE, not capped, with ext-ack
    /// text, the offending attribute's offset (32 = IFLA_GSO_MAX_SIZE in the request) and the policy.
    static let gsoOutOfRangeError: [UInt8] = hex(
        "9c000000 02000002 78a1066b 0f190000",                                      // nlmsghdr (16 B): len 156, NLMSG_ERROR, ACK_TLVS, seq 0x6b06a178, pid 6415
        "deffffff",                                                                 // nlmsgerr.error -34
        "40000000 10000506 78a1066b 00000000 00000000 00000000 00000000 00000000",  // nlmsgerr.msg: echoed request (64 B)
        "08002900 01000000 08000300 62723100 10001200 0a000100 62726964 67650000",
        "19000100 696e7465 67657220 6f757420 6f662072 616e6765 00000000",           // NLMSGERR_ATTR_MSG 'integer out of range'
        "08000200 20000000",                                                        // NLMSGERR_ATTR_OFFS 32
        "24000480 0c000400 c1000000 00000000 0c000500 ffffffff 00000000 08000100",  // NLMSGERR_ATTR_POLICY|NESTED (32 B payload)
        "04000000",
    )

    /// The request bytes of `ip route add 10.0.0.0/8 via 192.168.99.1` sent again from a python3
    /// AF_NETLINK socket with NETLINK_EXT_ACK and NETLINK_CAP_ACK set, as NetlinkSocket sets them:
    /// NLMSG_ERROR -ENETUNREACH, capped (request header only), then the ext-ack text.
    static let cappedUnreachableGatewayError: [UInt8] = hex(
        "44000000 02000003 13a1066b 611a0000",                                      // nlmsghdr (16 B): len 68, NLMSG_ERROR, CAPPED|ACK_TLVS, seq 0x6b06a113, pid 6753
        "9bffffff",                                                                 // nlmsgerr.error -101
        "2c000000 18000506 13a1066b 00000000",                                      // nlmsgerr.msg: request header (16 B)
        "20000100 4e657874 686f7020 68617320 696e7661 6c696420 67617465 77617900",  // NLMSGERR_ATTR_MSG 'Nexthop has invalid gateway'
    )

    /// The request bytes of `ip link set dev veth0 up` sent again from the same capped socket: the ack.
    static let cappedSetUpAck: [UInt8] = hex(
        "24000000 02000001 13a1066b 611a0000",  // nlmsghdr (16 B): len 36, NLMSG_ERROR, CAPPED, seq 0x6b06a113, pid 6753
        "00000000",                             // nlmsgerr.error 0
        "20000000 10000500 13a1066b 00000000",  // nlmsgerr.msg: request header (16 B)
    )

    /// The request bytes of `ip link add br1 gso_max_size 1 type bridge` sent from the capped socket:
    /// NLMSG_ERROR -ERANGE, capped, with text, offset and policy.
    static let cappedGsoOutOfRangeError: [UInt8] = hex(
        "6c000000 02000003 78a1066b ce190000",                                      // nlmsghdr (16 B): len 108, NLMSG_ERROR, CAPPED|ACK_TLVS, seq 0x6b06a178, pid 6606
        "deffffff",                                                                 // nlmsgerr.error -34
        "40000000 10000506 78a1066b 00000000",                                      // nlmsgerr.msg: request header (16 B)
        "19000100 696e7465 67657220 6f757420 6f662072 616e6765 00000000",           // NLMSGERR_ATTR_MSG 'integer out of range'
        "08000200 20000000",                                                        // NLMSGERR_ATTR_OFFS 32
        "24000480 0c000400 c1000000 00000000 0c000500 ffffffff 00000000 08000100",  // NLMSGERR_ATTR_POLICY|NESTED (32 B payload)
        "04000000",
    )

}
