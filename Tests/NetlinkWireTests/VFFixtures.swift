// SR-IOV VF settings on the wire (issue 13).
//
// Requests: captured, not written. Linux 6.18, iproute2 6.1.0, in a throwaway namespace with a
// veth (no SR-IOV NIC exists on the capture machine, and neither the host kernel nor the guest's
// Debian kernel has netdevsim):
//     ip netns add qnet-vfcap
//     ip -n qnet-vfcap link add v0 type veth peer name v1      (v0 = index 3)
//     ip netns exec qnet-vfcap strace -xx -e trace=sendmsg,recvmsg -e write=all -e read=all -s 4096 \
//         ip link set v0 vf 1 ARGS
//     ip netns del qnet-vfcap
// with the ARGS named on each fixture. The kernel refuses every one (a veth has no ndo_set_vf_*:
// EOPNOTSUPP), but the request is what ip sends to any PF. Comments were generated from the bytes.
// iproute2 quirks the captures show: `vlan ID qos Q` alone is IFLA_VF_VLAN (struct ifla_vf_vlan);
// only with `proto` does ip send IFLA_VF_VLAN_LIST; `rate R` is the legacy IFLA_VF_TX_RATE; and
// several settings in one command go in one IFLA_VF_INFO, in the order MAC, VLAN, SPOOFCHK,
// TRUST, LINK_STATE, RATE.
//
// Responses: `pfWithTwoVFs` was *built*, not captured (no device here reports VFs): a
// Python script packed the UAPI structures of <linux/if_link.h> (struct ifla_vf_mac,
// ifla_vf_vlan, ifla_vf_rate, ifla_vf_tx_rate, ifla_vf_spoofchk, ifla_vf_link_state,
// ifla_vf_rss_query_en, ifla_vf_trust, ifla_vf_vlan_info; IFLA_VF_STATS u64 counters) little-endian
// in the order rtnl_fill_vfinfo (net/core/rtnetlink.c) emits them: MAC, BROADCAST, VLAN, RATE,
// TX_RATE, SPOOFCHK, LINK_STATE, RSS_QUERY_EN, TRUST, VLAN_LIST, STATS; nests without
// NLA_F_NESTED, no IFLA_VF_STATS_PAD (x86_64 has efficient unaligned access). Only IFNAME, MTU,
// ADDRESS, NUM_VF and VFINFO_LIST are present of a real PF's reply; the decoder ignores order.

import NetlinkTestSupport

extension Fixture {
    /// `ip link set v0 vf 1 ...` looks the PF up first: RTM_GETLINK with IFLA_EXT_MASK = RTEXT_FILTER_VF|RTEXT_FILTER_SKIP_STATS.
    static let getLinkWithVFs: [UInt8] = hex(
        "30000000 12000100 761a0d6b 00000000",  // nlmsghdr (16 B): len 48, RTM_GETLINK, REQUEST, seq 0x6b0d1a76, pid 0
        "00000000 00000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 0, flags 0x0, change 0x0
        "08001d00 09000000",                    // IFLA_EXT_MASK 9 (RTEXT_FILTER_VF|RTEXT_FILTER_SKIP_STATS)
        "07000300 76300000"                     // IFLA_IFNAME 'v0'
    )

    /// `ip link set v0 vf 1 mac 52:54:00:12:34:56`: the RTM_NEWLINK request.
    static let vfSetMAC: [UInt8] = hex(
        "50000000 10000500 771a0d6b 00000000",                             // nlmsghdr (16 B): len 80, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a77, pid 0
        "00000000 03000000 00000000 00000000",                             // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "30001600",                                                        // IFLA_VFINFO_LIST (48 B, no NLA_F_NESTED)
        "2c000100",                                                        //   IFLA_VF_INFO (44 B)
        "28000100 01000000 52540012",                                      //     IFLA_VF_MAC (40 B): vf 1, mac 52:54:00:12:34:56 (+ 26 zero bytes of MAX_ADDR_LEN)
        "34560000 00000000 00000000 00000000 00000000 00000000 00000000"   //       (MAC continued, zero padding)
    )

    /// `ip link set v0 vf 1 mac 52:54:00:12:34:56`: the kernel's answer, EOPNOTSUPP (a veth has no ndo_set_vf_mac).
    static let vfSetMACNotSupported: [UInt8] = hex(
        "64000000 02000000 771a0d6b ad470000",                             // nlmsghdr (16 B): len 100, NLMSG_ERROR, 0, seq 0x6b0d1a77, pid 18349
        "a1ffffff",                                                        // nlmsgerr.error -95 (-EOPNOTSUPP)
        "50000000 10000500 771a0d6b 00000000",                             // nlmsgerr.msg: the request echoed whole (80 B; iproute2 sets no NETLINK_CAP_ACK)
        "00000000 03000000 00000000 00000000",                             //   its ifinfomsg
        "30001600",                                                        //   IFLA_VFINFO_LIST (48 B, no NLA_F_NESTED)
        "2c000100",                                                        //     IFLA_VF_INFO (44 B)
        "28000100 01000000 52540012",                                      //       IFLA_VF_MAC (40 B): vf 1, mac 52:54:00:12:34:56 (+ 26 zero bytes of MAX_ADDR_LEN)
        "34560000 00000000 00000000 00000000 00000000 00000000 00000000"   //         (MAC continued, zero padding)
    )

    /// `ip link set v0 vf 1 vlan 10 qos 3`: the RTM_NEWLINK request.
    static let vfSetVLAN: [UInt8] = hex(
        "38000000 10000500 761a0d6b 00000000",  // nlmsghdr (16 B): len 56, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a76, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "18001600",                             // IFLA_VFINFO_LIST (24 B, no NLA_F_NESTED)
        "14000100",                             //   IFLA_VF_INFO (20 B)
        "10000200 01000000 0a000000 03000000"   //     IFLA_VF_VLAN: vf 1, vlan 10, qos 3
    )

    /// `ip link set v0 vf 1 vlan 10 qos 3 proto 802.1ad`: the RTM_NEWLINK request.
    static let vfSetVLAN8021AD: [UInt8] = hex(
        "40000000 10000500 761a0d6b 00000000",           // nlmsghdr (16 B): len 64, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a76, pid 0
        "00000000 03000000 00000000 00000000",           // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "20001600",                                      // IFLA_VFINFO_LIST (32 B, no NLA_F_NESTED)
        "1c000100",                                      //   IFLA_VF_INFO (28 B)
        "18000c00",                                      //     IFLA_VF_VLAN_LIST (24 B)
        "14000100 01000000 0a000000 03000000 88a80000"   //       IFLA_VF_VLAN_INFO: vf 1, vlan 10, qos 3, vlan_proto 0x88a8 (big-endian) + 2 B padding
    )

    /// `ip link set v0 vf 1 vlan 0`: the RTM_NEWLINK request.
    static let vfSetVLANOff: [UInt8] = hex(
        "38000000 10000500 761a0d6b 00000000",  // nlmsghdr (16 B): len 56, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a76, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "18001600",                             // IFLA_VFINFO_LIST (24 B, no NLA_F_NESTED)
        "14000100",                             //   IFLA_VF_INFO (20 B)
        "10000200 01000000 00000000 00000000"   //     IFLA_VF_VLAN: vf 1, vlan 0, qos 0
    )

    /// `ip link set v0 vf 1 rate 100`: the RTM_NEWLINK request.
    static let vfSetTxRate: [UInt8] = hex(
        "34000000 10000500 761a0d6b 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a76, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "14001600",                             // IFLA_VFINFO_LIST (20 B, no NLA_F_NESTED)
        "10000100",                             //   IFLA_VF_INFO (16 B)
        "0c000300 01000000 64000000"            //     IFLA_VF_TX_RATE: vf 1, rate 100
    )

    /// `ip link set v0 vf 1 max_tx_rate 500 min_tx_rate 100`: the RTM_NEWLINK request.
    static let vfSetRate: [UInt8] = hex(
        "38000000 10000500 771a0d6b 00000000",  // nlmsghdr (16 B): len 56, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a77, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "18001600",                             // IFLA_VFINFO_LIST (24 B, no NLA_F_NESTED)
        "14000100",                             //   IFLA_VF_INFO (20 B)
        "10000600 01000000 64000000 f4010000"   //     IFLA_VF_RATE: vf 1, min_tx_rate 100, max_tx_rate 500
    )

    /// `ip link set v0 vf 1 spoofchk on`: the RTM_NEWLINK request.
    static let vfSpoofCheckOn: [UInt8] = hex(
        "34000000 10000500 771a0d6b 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a77, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "14001600",                             // IFLA_VFINFO_LIST (20 B, no NLA_F_NESTED)
        "10000100",                             //   IFLA_VF_INFO (16 B)
        "0c000400 01000000 01000000"            //     IFLA_VF_SPOOFCHK: vf 1, setting 1
    )

    /// `ip link set v0 vf 1 spoofchk off`: the RTM_NEWLINK request.
    static let vfSpoofCheckOff: [UInt8] = hex(
        "34000000 10000500 771a0d6b 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a77, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "14001600",                             // IFLA_VFINFO_LIST (20 B, no NLA_F_NESTED)
        "10000100",                             //   IFLA_VF_INFO (16 B)
        "0c000400 01000000 00000000"            //     IFLA_VF_SPOOFCHK: vf 1, setting 0
    )

    /// `ip link set v0 vf 1 trust on`: the RTM_NEWLINK request.
    static let vfTrustOn: [UInt8] = hex(
        "34000000 10000500 771a0d6b 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a77, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "14001600",                             // IFLA_VFINFO_LIST (20 B, no NLA_F_NESTED)
        "10000100",                             //   IFLA_VF_INFO (16 B)
        "0c000900 01000000 01000000"            //     IFLA_VF_TRUST: vf 1, setting 1
    )

    /// `ip link set v0 vf 1 trust off`: the RTM_NEWLINK request.
    static let vfTrustOff: [UInt8] = hex(
        "34000000 10000500 771a0d6b 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a77, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "14001600",                             // IFLA_VFINFO_LIST (20 B, no NLA_F_NESTED)
        "10000100",                             //   IFLA_VF_INFO (16 B)
        "0c000900 01000000 00000000"            //     IFLA_VF_TRUST: vf 1, setting 0
    )

    /// `ip link set v0 vf 1 state auto`: the RTM_NEWLINK request.
    static let vfStateAuto: [UInt8] = hex(
        "34000000 10000500 771a0d6b 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a77, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "14001600",                             // IFLA_VFINFO_LIST (20 B, no NLA_F_NESTED)
        "10000100",                             //   IFLA_VF_INFO (16 B)
        "0c000500 01000000 00000000"            //     IFLA_VF_LINK_STATE: vf 1, link_state 0 (AUTO)
    )

    /// `ip link set v0 vf 1 state enable`: the RTM_NEWLINK request.
    static let vfStateEnable: [UInt8] = hex(
        "34000000 10000500 771a0d6b 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a77, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "14001600",                             // IFLA_VFINFO_LIST (20 B, no NLA_F_NESTED)
        "10000100",                             //   IFLA_VF_INFO (16 B)
        "0c000500 01000000 01000000"            //     IFLA_VF_LINK_STATE: vf 1, link_state 1 (ENABLE)
    )

    /// `ip link set v0 vf 1 state disable`: the RTM_NEWLINK request.
    static let vfStateDisable: [UInt8] = hex(
        "34000000 10000500 771a0d6b 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a77, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "14001600",                             // IFLA_VFINFO_LIST (20 B, no NLA_F_NESTED)
        "10000100",                             //   IFLA_VF_INFO (16 B)
        "0c000500 01000000 02000000"            //     IFLA_VF_LINK_STATE: vf 1, link_state 2 (DISABLE)
    )

    /// `ip link set v0 vf 1 mac 52:54:00:12:34:56 vlan 10 qos 3 spoofchk off trust on state enable max_tx_rate 500 min_tx_rate 100`: the RTM_NEWLINK request.
    static let vfSetAll: [UInt8] = hex(
        "94000000 10000500 781a0d6b 00000000",                             // nlmsghdr (16 B): len 148, RTM_NEWLINK, REQUEST|ACK, seq 0x6b0d1a78, pid 0
        "00000000 03000000 00000000 00000000",                             // ifinfomsg (16 B): family 0, type 0, index 3, flags 0x0, change 0x0
        "74001600",                                                        // IFLA_VFINFO_LIST (116 B, no NLA_F_NESTED)
        "70000100",                                                        //   IFLA_VF_INFO (112 B)
        "28000100 01000000 52540012",                                      //     IFLA_VF_MAC (40 B): vf 1, mac 52:54:00:12:34:56 (+ 26 zero bytes of MAX_ADDR_LEN)
        "34560000 00000000 00000000 00000000 00000000 00000000 00000000",  //       (MAC continued, zero padding)
        "10000200 01000000 0a000000 03000000",                             //     IFLA_VF_VLAN: vf 1, vlan 10, qos 3
        "0c000400 01000000 00000000",                                      //     IFLA_VF_SPOOFCHK: vf 1, setting 0
        "0c000900 01000000 01000000",                                      //     IFLA_VF_TRUST: vf 1, setting 1
        "0c000500 01000000 01000000",                                      //     IFLA_VF_LINK_STATE: vf 1, link_state 1 (ENABLE)
        "10000600 01000000 64000000 f4010000"                              //     IFLA_VF_RATE: vf 1, min_tx_rate 100, max_tx_rate 500
    )

    /// A PF, enp1s0f0 (index 2), with 2 VFs, as one RTM_NEWLINK of a dump with RTEXT_FILTER_VF: built, not captured (see the file comment).
    static let pfWithTwoVFs: [UInt8] = hex(
        "a0020000 10000200 801a0d6b 92100000",                                               // nlmsghdr (16 B): len 672, RTM_NEWLINK, MULTI, seq 0x6b0d1a80, pid 4242
        "00000100 02000000 43100100 00000000",                                               // ifinfomsg (16 B): family 0, type 1, index 2, flags 0x11043, change 0x0
        "0d000300 656e7031 73306630 00000000",                                               // IFLA_IFNAME 'enp1s0f0'
        "08000400 dc050000",                                                                 // IFLA_MTU 1500
        "0a000100 52540000 00010000",                                                        // IFLA_ADDRESS 52:54:00:00:00:01
        "08001500 02000000",                                                                 // IFLA_NUM_VF 2
        "54021600",                                                                          // IFLA_VFINFO_LIST (596 B, no NLA_F_NESTED)
        "28010100",                                                                          //   IFLA_VF_INFO (296 B)
        "28000100 00000000 52540012",                                                        //     IFLA_VF_MAC (40 B): vf 0, mac 52:54:00:12:34:56 (+ 26 zero bytes of MAX_ADDR_LEN)
        "34560000 00000000 00000000 00000000 00000000 00000000 00000000",                    //       (MAC continued, zero padding)
        "24000d00 ffffffff ffff0000 00000000 00000000 00000000 00000000 00000000 00000000",  //     IFLA_VF_BROADCAST: ff:ff:ff:ff:ff:ff (dev->broadcast, not typed)
        "10000200 00000000 0a000000 03000000",                                               //     IFLA_VF_VLAN: vf 0, vlan 10, qos 3
        "10000600 00000000 00000000 00000000",                                               //     IFLA_VF_RATE: vf 0, min_tx_rate 0, max_tx_rate 0
        "0c000300 00000000 00000000",                                                        //     IFLA_VF_TX_RATE: vf 0, rate 0
        "0c000400 00000000 01000000",                                                        //     IFLA_VF_SPOOFCHK: vf 0, setting 1
        "0c000500 00000000 00000000",                                                        //     IFLA_VF_LINK_STATE: vf 0, link_state 0 (AUTO)
        "0c000700 00000000 00000000",                                                        //     IFLA_VF_RSS_QUERY_EN: vf 0, setting 0
        "0c000900 00000000 00000000",                                                        //     IFLA_VF_TRUST: vf 0, setting 0
        "18000c00",                                                                          //     IFLA_VF_VLAN_LIST (24 B)
        "14000100 00000000 0a000000 03000000 81000000",                                      //       IFLA_VF_VLAN_INFO: vf 0, vlan 10, qos 3, vlan_proto 0x8100 (big-endian) + 2 B padding
        "64000800",                                                                          //     IFLA_VF_STATS (100 B)
        "0c000000 78000000 00000000",                                                        //       IFLA_VF_STATS_RX_PACKETS 120
        "0c000100 50000000 00000000",                                                        //       IFLA_VF_STATS_TX_PACKETS 80
        "0c000200 003c0000 00000000",                                                        //       IFLA_VF_STATS_RX_BYTES 15360
        "0c000300 00280000 00000000",                                                        //       IFLA_VF_STATS_TX_BYTES 10240
        "0c000400 04000000 00000000",                                                        //       IFLA_VF_STATS_BROADCAST 4
        "0c000500 06000000 00000000",                                                        //       IFLA_VF_STATS_MULTICAST 6
        "0c000700 01000000 00000000",                                                        //       IFLA_VF_STATS_RX_DROPPED 1
        "0c000800 00000000 00000000",                                                        //       IFLA_VF_STATS_TX_DROPPED 0
        "28010100",                                                                          //   IFLA_VF_INFO (296 B)
        "28000100 01000000 00000000",                                                        //     IFLA_VF_MAC (40 B): vf 1, mac 00:00:00:00:00:00 (+ 26 zero bytes of MAX_ADDR_LEN)
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000",                    //       (MAC continued, zero padding)
        "24000d00 ffffffff ffff0000 00000000 00000000 00000000 00000000 00000000 00000000",  //     IFLA_VF_BROADCAST: ff:ff:ff:ff:ff:ff (dev->broadcast, not typed)
        "10000200 01000000 64000000 00000000",                                               //     IFLA_VF_VLAN: vf 1, vlan 100, qos 0
        "10000600 01000000 64000000 e8030000",                                               //     IFLA_VF_RATE: vf 1, min_tx_rate 100, max_tx_rate 1000
        "0c000300 01000000 e8030000",                                                        //     IFLA_VF_TX_RATE: vf 1, rate 1000
        "0c000400 01000000 00000000",                                                        //     IFLA_VF_SPOOFCHK: vf 1, setting 0
        "0c000500 01000000 02000000",                                                        //     IFLA_VF_LINK_STATE: vf 1, link_state 2 (DISABLE)
        "0c000700 01000000 00000000",                                                        //     IFLA_VF_RSS_QUERY_EN: vf 1, setting 0
        "0c000900 01000000 01000000",                                                        //     IFLA_VF_TRUST: vf 1, setting 1
        "18000c00",                                                                          //     IFLA_VF_VLAN_LIST (24 B)
        "14000100 01000000 64000000 00000000 88a80000",                                      //       IFLA_VF_VLAN_INFO: vf 1, vlan 100, qos 0, vlan_proto 0x88a8 (big-endian) + 2 B padding
        "64000800",                                                                          //     IFLA_VF_STATS (100 B)
        "0c000000 00000000 00000000",                                                        //       IFLA_VF_STATS_RX_PACKETS 0
        "0c000100 00000000 00000000",                                                        //       IFLA_VF_STATS_TX_PACKETS 0
        "0c000200 00000000 00000000",                                                        //       IFLA_VF_STATS_RX_BYTES 0
        "0c000300 00000000 00000000",                                                        //       IFLA_VF_STATS_TX_BYTES 0
        "0c000400 00000000 00000000",                                                        //       IFLA_VF_STATS_BROADCAST 0
        "0c000500 00000000 00000000",                                                        //       IFLA_VF_STATS_MULTICAST 0
        "0c000700 00000000 00000000",                                                        //       IFLA_VF_STATS_RX_DROPPED 0
        "0c000800 00000000 00000000"                                                         //       IFLA_VF_STATS_TX_DROPPED 0
    )
}
