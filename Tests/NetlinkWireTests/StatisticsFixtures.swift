// A kernel reply with nonzero counters, captured the way Fixtures.swift describes (Linux 6.18,
// iproute2 6.1.0), in a throwaway namespace:
//     ip netns add qnet-fx-graph
//     ip -n qnet-fx-graph link add veth0 type veth peer name veth1   (veth0 = index 3)
//     (addresses 10.250.0.1/24 on veth0 and .2/24 on veth1, both up, `ping -c 3 -I veth0 10.250.0.2`)
//     ip netns exec qnet-fx-graph strace -f -e trace=recvmsg -e read=all -xx ip -s link show dev veth0
// `ip -s link show dev veth0` printed RX 586 bytes 7 packets, TX 712 bytes 10 packets, no errors
// or drops. Comments were generated from the bytes; "type N*" is newer than the host's headers.

import NetlinkTestSupport

extension Fixture {
    /// `ip -s link show dev veth0`: the RTM_NEWLINK reply, IFLA_STATS64 with 25 counters (200 B).
    static let newLinkVeth0StatsReply: [UInt8] = hex(
        "68040000 10000000 eeee0c6b 48746bdc",                                         // nlmsghdr (16 B): len 1128, RTM_NEWLINK, flags 0x0, seq 0x6b0ceeee, pid 3698029640
        "00000100 03000000 43100100 00000000",                                         // ifinfomsg (16 B): family 0, type 1, index 3, flags 0x11043, change 0x0
        "0a000300 76657468 30000000",                                                  // IFLA_IFNAME (6 B payload)
        "08000d00 e8030000",                                                           // IFLA_TXQLEN (4 B payload)
        "05001000 06000000",                                                           // IFLA_OPERSTATE (1 B payload)
        "05001100 00000000",                                                           // IFLA_LINKMODE (1 B payload)
        "05004300 00000000",                                                           // type 67* (1 B payload)
        "08000400 dc050000",                                                           // IFLA_MTU (4 B payload)
        "08003200 44000000",                                                           // IFLA_MIN_MTU (4 B payload)
        "08003300 ffff0000",                                                           // IFLA_MAX_MTU (4 B payload)
        "08001b00 00000000",                                                           // IFLA_GROUP (4 B payload)
        "08001e00 00000000",                                                           // IFLA_PROMISCUITY (4 B payload)
        "08003d00 00000000",                                                           // IFLA_ALLMULTI (4 B payload)
        "08001f00 02000000",                                                           // IFLA_NUM_TX_QUEUES (4 B payload)
        "08002800 ffff0000",                                                           // IFLA_GSO_MAX_SEGS (4 B payload)
        "08002900 00000100",                                                           // IFLA_GSO_MAX_SIZE (4 B payload)
        "08003a00 00000100",                                                           // IFLA_GRO_MAX_SIZE (4 B payload)
        "08003f00 00000100",                                                           // type 63* (4 B payload)
        "08004000 00000100",                                                           // type 64* (4 B payload)
        "08003b00 f8ff0700",                                                           // IFLA_TSO_MAX_SIZE (4 B payload)
        "08003c00 ffff0000",                                                           // IFLA_TSO_MAX_SEGS (4 B payload)
        "08004200 00000000",                                                           // type 66* (4 B payload)
        "08002000 02000000",                                                           // IFLA_NUM_RX_QUEUES (4 B payload)
        "05002100 01000000",                                                           // IFLA_CARRIER (1 B payload)
        "08002300 02000000",                                                           // IFLA_CARRIER_CHANGES (4 B payload)
        "08002f00 01000000",                                                           // IFLA_CARRIER_UP_COUNT (4 B payload)
        "08003000 01000000",                                                           // IFLA_CARRIER_DOWN_COUNT (4 B payload)
        "06004400 00000000",                                                           // type 68* (2 B payload)
        "06004500 00000000",                                                           // type 69* (2 B payload)
        "05002700 00000000",                                                           // IFLA_PROTO_DOWN (1 B payload)
        "0a000100 a2817e9e 8c890000",                                                  // IFLA_ADDRESS (6 B payload)
        "0a000200 ffffffff ffff0000",                                                  // IFLA_BROADCAST (6 B payload)
        "cc001700 07000000 00000000 0a000000 00000000 4a020000 00000000 c8020000",     // IFLA_STATS64 (200 B payload)
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000",
        "64000700 07000000 0a000000 4a020000 c8020000 00000000 00000000 00000000",     // IFLA_STATS (96 B payload)
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000",
        "0c002b00 05000200 00000000",                                                  // IFLA_XDP (8 B payload)
        "10001200 09000100 76657468 00000000",                                         // IFLA_LINKINFO (12 B payload)
        "08000500 02000000",                                                           // IFLA_LINK (4 B payload)
        "0c000600 6e6f7175 65756500",                                                  // IFLA_QDISC (8 B payload)
        "c0011a00 8c000200 88000100 00000000 00000000 00000000 01000000 01000000",     // IFLA_AF_SPEC (444 B payload)
        "01000000 01000000 00000000 01000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
        "00000000 00000000 00000000 00000000 00000000 10270000 e8030000 00000000",
        "00000000 00000000 00000000 01000000 30010a00 08000100 10000080 14000500",
        "ffff0000 55fd1200 a0ab0000 e8030000 f4000200 00000000 40000000 dc050000",
        "01000000 01000000 01000000 01000000 ffffffff a00f0000 e8030000 00000000",
        "803a0900 80510100 03000000 58020000 10000000 00000000 01000000 01000000",
        "01000000 60ea0000 00000000 00000000 00000000 00000000 00000000 00000000",
        "01000000 00000000 00000000 10270000 e8030000 01000000 00000000 00000000",
        "01000000 00000000 00000000 01000000 00000000 00000000 00000000 00000000",
        "80ee3600 00000000 00000000 01000000 00000000 00000000 00000000 00000000",
        "00000000 00040000 00000000 ffff0000 ffffffff 01000000 00000000 00000000",
        "00000000 14000700 00000000 00000000 00000000 00000000 05000800 00000000",
        "24000e00 00000000 00000000 00000000 00000000 00000000 00000000 00000000",     // IFLA_MAP (32 B payload)
        "00000000",
        "04003e80",                                                                    // type 62* (0 B payload, nested)
        "04004180",                                                                    // type 65* (0 B payload, nested)
    )
}
