import NetlinkTestSupport

// What HostNetwork's verbs send, byte for byte (tier 2: checked against FakeKernel, no root).
//
// Indexes follow the capture namespace: lo 1, eth0 2, br0 3, tap0 4, tap1 5. Sequence
// numbers are written as 00000000 and checked apart (expectRequests). Little-endian
// (x86_64). Each fixture names the `ip` command it corresponds to. "Same bytes as `ip
// ...`" means the request was compared with iproute2 6.1's, captured on Linux 6.18 in a
// throwaway namespace with
//     ip netns exec T strace -e trace=sendmsg -e write=3 -xx ip ...
// and differs only in the sequence number. Where qnet differs from iproute2, the comment
// says how.
enum Sent {
    // MARK: lookups and dumps

    /// `ip link show dev br0`: iproute2 asks for family AF_PACKET and RTEXT_FILTER_VF;
    /// qnet asks for AF_UNSPEC and RTEXT_FILTER_SKIP_STATS (smaller replies).
    static let getBr0 = ExpectedRequest("ip link show dev br0", hex(
        "30000000 12000500 00000000 00000000",  // nlmsghdr (16 B): len 48, RTM_GETLINK, REQUEST|ACK, seq, pid 0
        "00000000 00000000 00000000 00000000",  // ifinfomsg (16 B): family 0, index 0 (by name), flags 0, change 0
        "08000300 62723000",                    // IFLA_IFNAME 'br0'
        "08001d00 08000000",                    // IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
    ))

    /// `ip link show dev eth0` (see ``getBr0``).
    static let getEth0 = ExpectedRequest("ip link show dev eth0", hex(
        "34000000 12000500 00000000 00000000",  // nlmsghdr (16 B): len 52, RTM_GETLINK, REQUEST|ACK, seq, pid 0
        "00000000 00000000 00000000 00000000",  // ifinfomsg (16 B): index 0 (by name)
        "09000300 65746830 00000000",           // IFLA_IFNAME 'eth0' (+3 B padding)
        "08001d00 08000000",                    // IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
    ))

    /// `ip link show dev tap0` (see ``getBr0``).
    static let getTap0 = ExpectedRequest("ip link show dev tap0", hex(
        "34000000 12000500 00000000 00000000",  // nlmsghdr (16 B): len 52, RTM_GETLINK, REQUEST|ACK, seq, pid 0
        "00000000 00000000 00000000 00000000",  // ifinfomsg (16 B): index 0 (by name)
        "09000300 74617030 00000000",           // IFLA_IFNAME 'tap0' (+3 B padding)
        "08001d00 08000000",                    // IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
    ))

    /// `ip link show dev tap1` (see ``getBr0``).
    static let getTap1 = ExpectedRequest("ip link show dev tap1", hex(
        "34000000 12000500 00000000 00000000",  // nlmsghdr (16 B): len 52, RTM_GETLINK, REQUEST|ACK, seq, pid 0
        "00000000 00000000 00000000 00000000",  // ifinfomsg (16 B): index 0 (by name)
        "09000300 74617031 00000000",           // IFLA_IFNAME 'tap1' (+3 B padding)
        "08001d00 08000000",                    // IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
    ))

    /// Interface 4 read back by index after a refused change (`ip link show` of index 4).
    static let getIndex4 = ExpectedRequest("ip link show (index 4)", hex(
        "28000000 12000500 00000000 00000000",  // nlmsghdr (16 B): len 40, RTM_GETLINK, REQUEST|ACK, seq, pid 0
        "00000000 04000000 00000000 00000000",  // ifinfomsg (16 B): index 4
        "08001d00 08000000",                    // IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
    ))

    /// `ip addr show`: a dump of every family's addresses.
    static let dumpAddresses = ExpectedRequest("ip addr show", hex(
        "18000000 16000103 00000000 00000000",  // nlmsghdr (16 B): len 24, RTM_GETADDR, REQUEST|DUMP, seq, pid 0
        "00000000 00000000",                    // ifaddrmsg (8 B): family 0 (all), index 0
    ))

    /// `ip -4 route show table all` (qnet keeps the main table itself).
    static let dumpRoutes4 = ExpectedRequest("ip -4 route show table all", hex(
        "1c000000 1a000103 00000000 00000000",  // nlmsghdr (16 B): len 28, RTM_GETROUTE, REQUEST|DUMP, seq, pid 0
        "02000000 00000000 00000000",           // rtmsg (12 B): family 2, table 0 (all), protocol/scope/type 0
    ))

    /// `ip -6 route show table all` (see ``dumpRoutes4``).
    static let dumpRoutes6 = ExpectedRequest("ip -6 route show table all", hex(
        "1c000000 1a000103 00000000 00000000",  // nlmsghdr (16 B): len 28, RTM_GETROUTE, REQUEST|DUMP, seq, pid 0
        "0a000000 00000000 00000000",           // rtmsg (12 B): family 10, table 0 (all)
    ))

    // MARK: bridges

    /// `ip link add br0 address 52:54:00:00:00:b0 mtu 1400 up type bridge forward_delay 0
    /// stp_state 0`. iproute2 sends IFLA_ADDRESS before IFLA_IFNAME and the kind without
    /// its NUL; the kernel reads attributes by type and accepts both kind forms.
    static let createBr0 = ExpectedRequest("ip link add br0 address 52:54:00:00:00:b0 mtu 1400 up type bridge", hex(
        "60000000 10000506 00000000 00000000",  // nlmsghdr (16 B): len 96, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq, pid 0
        "00000000 00000000 01000000 01000000",  // ifinfomsg (16 B): index 0, flags IFF_UP, change IFF_UP
        "08000300 62723000",                    // IFLA_IFNAME 'br0'
        "0a000100 52540000 00b00000",           // IFLA_ADDRESS 52:54:00:00:00:b0 (pins the bridge's MAC)
        "08000400 78050000",                    // IFLA_MTU 1400
        "24001200",                             // IFLA_LINKINFO (nested, 36 B)
        "0b000100 62726964 67650000",           //   IFLA_INFO_KIND 'bridge' (with NUL)
        "14000200",                             //   IFLA_INFO_DATA (nested, 20 B)
        "08000100 00000000",                    //     IFLA_BR_FORWARD_DELAY 0
        "08000500 00000000",                    //     IFLA_BR_STP_STATE 0
    ))

    /// As ``createBr0`` with eth0's MAC and MTU: `ip link add br0 address
    /// 52:54:00:12:34:56 mtu 1500 up type bridge forward_delay 0 stp_state 0`.
    static let createBr0ForEth0 = ExpectedRequest("ip link add br0 address 52:54:00:12:34:56 mtu 1500 up type bridge", hex(
        "60000000 10000506 00000000 00000000",  // nlmsghdr (16 B): len 96, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq, pid 0
        "00000000 00000000 01000000 01000000",  // ifinfomsg (16 B): index 0, flags IFF_UP, change IFF_UP
        "08000300 62723000",                    // IFLA_IFNAME 'br0'
        "0a000100 52540012 34560000",           // IFLA_ADDRESS 52:54:00:12:34:56 (eth0's)
        "08000400 dc050000",                    // IFLA_MTU 1500 (eth0's)
        "24001200",                             // IFLA_LINKINFO (nested, 36 B)
        "0b000100 62726964 67650000",           //   IFLA_INFO_KIND 'bridge' (with NUL)
        "14000200",                             //   IFLA_INFO_DATA (nested, 20 B)
        "08000100 00000000",                    //     IFLA_BR_FORWARD_DELAY 0
        "08000500 00000000",                    //     IFLA_BR_STP_STATE 0
    ))

    /// `ip link set dev br0 alias qnet:uplink=eth0`: the record of which uplink to give
    /// back. iproute2 sends the alias without its NUL (nla_len 20).
    static let aliasBr0 = ExpectedRequest("ip link set dev br0 alias qnet:uplink=eth0", hex(
        "38000000 10000500 00000000 00000000",            // nlmsghdr (16 B): len 56, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 03000000 00000000 00000000",            // ifinfomsg (16 B): index 3 (br0)
        "15001400 716e6574 3a75706c 696e6b3d 65746830",   // IFLA_IFALIAS 'qnet:uplink=eth0' (nla_len 21: with NUL)
        "00000000",                                       //   NUL + 3 B padding
    ))

    /// `ip link delete dev br0`. Same bytes as iproute2's.
    static let deleteBr0 = ExpectedRequest("ip link delete dev br0", hex(
        "20000000 11000500 00000000 00000000",  // nlmsghdr (16 B): len 32, RTM_DELLINK, REQUEST|ACK, seq, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): index 3
    ))

    /// `ip link set dev br0 type bridge stp_state 0`. iproute2 sends the kind without NUL.
    static let stpOff = ExpectedRequest("ip link set dev br0 type bridge stp_state 0", hex(
        "3c000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 60, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): index 3
        "1c001200",                             // IFLA_LINKINFO (nested, 28 B)
        "0b000100 62726964 67650000",           //   IFLA_INFO_KIND 'bridge' (with NUL)
        "0c000200",                             //   IFLA_INFO_DATA (nested, 12 B)
        "08000500 00000000",                    //     IFLA_BR_STP_STATE 0
    ))

    /// `ip link set dev br0 type bridge stp_state 1`: the undo of ``stpOff``.
    static let stpOn = ExpectedRequest("ip link set dev br0 type bridge stp_state 1", hex(
        "3c000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 60, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): index 3
        "1c001200",                             // IFLA_LINKINFO (nested, 28 B)
        "0b000100 62726964 67650000",           //   IFLA_INFO_KIND 'bridge' (with NUL)
        "0c000200",                             //   IFLA_INFO_DATA (nested, 12 B)
        "08000500 01000000",                    //     IFLA_BR_STP_STATE 1
    ))

    /// `ip link set dev br0 type bridge forward_delay 0`. iproute2 sends the kind without NUL.
    static let forwardDelay0 = ExpectedRequest("ip link set dev br0 type bridge forward_delay 0", hex(
        "3c000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 60, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 03000000 00000000 00000000",  // ifinfomsg (16 B): index 3
        "1c001200",                             // IFLA_LINKINFO (nested, 28 B)
        "0b000100 62726964 67650000",           //   IFLA_INFO_KIND 'bridge' (with NUL)
        "0c000200",                             //   IFLA_INFO_DATA (nested, 12 B)
        "08000100 00000000",                    //     IFLA_BR_FORWARD_DELAY 0
    ))

    // MARK: ports

    /// `ip link set dev eth0 master br0`. Same bytes as iproute2's.
    static let eth0MasterBr0 = ExpectedRequest("ip link set dev eth0 master br0", hex(
        "28000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 40, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 02000000 00000000 00000000",  // ifinfomsg (16 B): index 2 (eth0)
        "08000a00 03000000",                    // IFLA_MASTER 3 (br0)
    ))

    /// `ip link set dev eth0 nomaster`. Same bytes as iproute2's.
    static let eth0NoMaster = ExpectedRequest("ip link set dev eth0 nomaster", hex(
        "28000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 40, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 02000000 00000000 00000000",  // ifinfomsg (16 B): index 2 (eth0)
        "08000a00 00000000",                    // IFLA_MASTER 0
    ))

    /// `ip link set dev tap0 master br0`. Same bytes as iproute2's.
    static let tap0MasterBr0 = ExpectedRequest("ip link set dev tap0 master br0", hex(
        "28000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 40, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 04000000 00000000 00000000",  // ifinfomsg (16 B): index 4 (tap0)
        "08000a00 03000000",                    // IFLA_MASTER 3 (br0)
    ))

    /// `ip link set dev tap0 nomaster`. Same bytes as iproute2's.
    static let tap0NoMaster = ExpectedRequest("ip link set dev tap0 nomaster", hex(
        "28000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 40, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 04000000 00000000 00000000",  // ifinfomsg (16 B): index 4 (tap0)
        "08000a00 00000000",                    // IFLA_MASTER 0
    ))

    /// `ip link set dev tap0 type bridge_slave cost 10 isolated on`. iproute2 puts
    /// "bridge_slave" in IFLA_INFO_KIND; qnet names the master's kind in
    /// IFLA_INFO_SLAVE_KIND, as the kernel reports it. Both reach br_port_slave_changelink.
    static let tap0PortOptions = ExpectedRequest("ip link set dev tap0 type bridge_slave cost 10 isolated on", hex(
        "44000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 68, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 04000000 00000000 00000000",  // ifinfomsg (16 B): index 4 (tap0)
        "24001200",                             // IFLA_LINKINFO (nested, 36 B)
        "0b000400 62726964 67650000",           //   IFLA_INFO_SLAVE_KIND 'bridge' (with NUL)
        "14000500",                             //   IFLA_INFO_SLAVE_DATA (nested, 20 B)
        "08000300 0a000000",                    //     IFLA_BRPORT_COST 10
        "05002100 01000000",                    //     IFLA_BRPORT_ISOLATED 1 (+3 B padding)
    ))

    // MARK: addresses and routes

    /// `ip route del default via 192.168.1.254 dev eth0 metric 100 proto boot scope global
    /// type unicast`: qnet names the route exactly as it read it. iproute2's `ip route del`
    /// leaves protocol 0, scope RT_SCOPE_NOWHERE and type 0 as wildcards and orders
    /// RTA_PRIORITY before RTA_OIF.
    static let deleteDefaultRouteEth0 = ExpectedRequest("ip route del default via 192.168.1.254 dev eth0 metric 100", hex(
        "34000000 19000500 00000000 00000000",  // nlmsghdr (16 B): len 52, RTM_DELROUTE, REQUEST|ACK, seq, pid 0
        "02000000 fe030001 00000000",           // rtmsg (12 B): family 2, dst_len 0, table 254, protocol 3 (boot), scope 0, type 1 (unicast)
        "08000500 c0a801fe",                    // RTA_GATEWAY 192.168.1.254
        "08000400 02000000",                    // RTA_OIF 2 (eth0)
        "08000600 64000000",                    // RTA_PRIORITY 100
    ))

    /// `ip route add default via 192.168.1.254 dev eth0 metric 100`: the route given back.
    /// iproute2 sends RTA_PRIORITY before RTA_OIF; otherwise the same bytes.
    static let addDefaultRouteEth0 = ExpectedRequest("ip route add default via 192.168.1.254 dev eth0 metric 100", hex(
        "34000000 18000506 00000000 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE, seq, pid 0
        "02000000 fe030001 00000000",           // rtmsg (12 B): family 2, dst_len 0, table 254, protocol 3 (boot), scope 0, type 1
        "08000500 c0a801fe",                    // RTA_GATEWAY 192.168.1.254
        "08000400 02000000",                    // RTA_OIF 2 (eth0)
        "08000600 64000000",                    // RTA_PRIORITY 100
    ))

    /// `ip route add default via 192.168.1.254 dev br0 metric 100` (see ``addDefaultRouteEth0``).
    static let addDefaultRouteBr0 = ExpectedRequest("ip route add default via 192.168.1.254 dev br0 metric 100", hex(
        "34000000 18000506 00000000 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE, seq, pid 0
        "02000000 fe030001 00000000",           // rtmsg (12 B): family 2, dst_len 0, table 254, protocol 3 (boot), scope 0, type 1
        "08000500 c0a801fe",                    // RTA_GATEWAY 192.168.1.254
        "08000400 03000000",                    // RTA_OIF 3 (br0)
        "08000600 64000000",                    // RTA_PRIORITY 100
    ))

    /// `ip route del default via 192.168.1.254 dev br0 metric 100 proto boot` (see
    /// ``deleteDefaultRouteEth0``).
    static let deleteDefaultRouteBr0 = ExpectedRequest("ip route del default via 192.168.1.254 dev br0 metric 100", hex(
        "34000000 19000500 00000000 00000000",  // nlmsghdr (16 B): len 52, RTM_DELROUTE, REQUEST|ACK, seq, pid 0
        "02000000 fe030001 00000000",           // rtmsg (12 B): family 2, dst_len 0, table 254, protocol 3 (boot), scope 0, type 1
        "08000500 c0a801fe",                    // RTA_GATEWAY 192.168.1.254
        "08000400 03000000",                    // RTA_OIF 3 (br0)
        "08000600 64000000",                    // RTA_PRIORITY 100
    ))

    /// `ip addr del 192.168.1.10/24 broadcast 192.168.1.255 dev eth0`. iproute2 sends
    /// IFA_LOCAL, IFA_BROADCAST, IFA_ADDRESS; qnet IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST.
    static let deleteAddressEth0 = ExpectedRequest("ip addr del 192.168.1.10/24 broadcast 192.168.1.255 dev eth0", hex(
        "30000000 15000500 00000000 00000000",  // nlmsghdr (16 B): len 48, RTM_DELADDR, REQUEST|ACK, seq, pid 0
        "02180000 02000000",                    // ifaddrmsg (8 B): family 2, prefixlen 24, flags 0, scope 0, index 2 (eth0)
        "08000200 c0a8010a",                    // IFA_LOCAL 192.168.1.10
        "08000100 c0a8010a",                    // IFA_ADDRESS 192.168.1.10
        "08000400 c0a801ff",                    // IFA_BROADCAST 192.168.1.255
    ))

    /// `ip addr del 192.168.1.10/24 broadcast 192.168.1.255 dev br0` (see ``deleteAddressEth0``).
    static let deleteAddressBr0 = ExpectedRequest("ip addr del 192.168.1.10/24 broadcast 192.168.1.255 dev br0", hex(
        "30000000 15000500 00000000 00000000",  // nlmsghdr (16 B): len 48, RTM_DELADDR, REQUEST|ACK, seq, pid 0
        "02180000 03000000",                    // ifaddrmsg (8 B): family 2, prefixlen 24, flags 0, scope 0, index 3 (br0)
        "08000200 c0a8010a",                    // IFA_LOCAL 192.168.1.10
        "08000100 c0a8010a",                    // IFA_ADDRESS 192.168.1.10
        "08000400 c0a801ff",                    // IFA_BROADCAST 192.168.1.255
    ))

    /// `ip addr add 192.168.1.10/24 broadcast 192.168.1.255 dev br0 label br0`: the label
    /// follows the address to its new interface. iproute2 orders IFA_LOCAL, IFA_BROADCAST,
    /// IFA_LABEL, IFA_ADDRESS.
    static let addAddressBr0 = ExpectedRequest("ip addr add 192.168.1.10/24 broadcast 192.168.1.255 dev br0 label br0", hex(
        "38000000 14000506 00000000 00000000",  // nlmsghdr (16 B): len 56, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE, seq, pid 0
        "02180000 03000000",                    // ifaddrmsg (8 B): family 2, prefixlen 24, flags 0, scope 0, index 3 (br0)
        "08000200 c0a8010a",                    // IFA_LOCAL 192.168.1.10
        "08000100 c0a8010a",                    // IFA_ADDRESS 192.168.1.10
        "08000400 c0a801ff",                    // IFA_BROADCAST 192.168.1.255
        "08000300 62723000",                    // IFA_LABEL 'br0'
    ))

    /// `ip addr add 192.168.1.10/24 broadcast 192.168.1.255 dev eth0 label eth0`: the
    /// address given back (see ``addAddressBr0``).
    static let addAddressEth0 = ExpectedRequest("ip addr add 192.168.1.10/24 broadcast 192.168.1.255 dev eth0 label eth0", hex(
        "3c000000 14000506 00000000 00000000",  // nlmsghdr (16 B): len 60, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE, seq, pid 0
        "02180000 02000000",                    // ifaddrmsg (8 B): family 2, prefixlen 24, flags 0, scope 0, index 2 (eth0)
        "08000200 c0a8010a",                    // IFA_LOCAL 192.168.1.10
        "08000100 c0a8010a",                    // IFA_ADDRESS 192.168.1.10
        "08000400 c0a801ff",                    // IFA_BROADCAST 192.168.1.255
        "09000300 65746830 00000000",           // IFA_LABEL 'eth0' (+3 B padding)
    ))

    // MARK: TAPs and hooks

    /// `ip link set dev tap0 address fe:00:00:00:00:01 mtu 1400 group 7 master br0 up`:
    /// one TAP's whole configuration after TUNSETIFF. Same bytes as iproute2's.
    static let configureTap0 = ExpectedRequest("ip link set dev tap0 address fe:00:00:00:00:01 mtu 1400 group 7 master br0 up", hex(
        "44000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 68, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 04000000 01000000 01000000",  // ifinfomsg (16 B): index 4, flags IFF_UP, change IFF_UP
        "0a000100 fe000000 00010000",           // IFLA_ADDRESS fe:00:00:00:00:01
        "08000400 78050000",                    // IFLA_MTU 1400 (the bridge's, applied before IFLA_MASTER)
        "08001b00 07000000",                    // IFLA_GROUP 7
        "08000a00 03000000",                    // IFLA_MASTER 3 (br0)
    ))

    /// `ip link set dev tap1 address fe:00:00:00:00:02 mtu 1400 group 7 master br0 up`
    /// (see ``configureTap0``).
    static let configureTap1 = ExpectedRequest("ip link set dev tap1 address fe:00:00:00:00:02 mtu 1400 group 7 master br0 up", hex(
        "44000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 68, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 05000000 01000000 01000000",  // ifinfomsg (16 B): index 5, flags IFF_UP, change IFF_UP
        "0a000100 fe000000 00020000",           // IFLA_ADDRESS fe:00:00:00:00:02
        "08000400 78050000",                    // IFLA_MTU 1400
        "08001b00 07000000",                    // IFLA_GROUP 7
        "08000a00 03000000",                    // IFLA_MASTER 3 (br0)
    ))

    /// `ip link delete dev tap0`: a persistent TAP whose descriptors are closed goes by
    /// RTM_DELLINK. Same bytes as iproute2's.
    static let deleteTap0 = ExpectedRequest("ip link delete dev tap0", hex(
        "20000000 11000500 00000000 00000000",  // nlmsghdr (16 B): len 32, RTM_DELLINK, REQUEST|ACK, seq, pid 0
        "00000000 04000000 00000000 00000000",  // ifinfomsg (16 B): index 4
    ))

    /// `ip link delete dev tap1`.
    static let deleteTap1 = ExpectedRequest("ip link delete dev tap1", hex(
        "20000000 11000500 00000000 00000000",  // nlmsghdr (16 B): len 32, RTM_DELLINK, REQUEST|ACK, seq, pid 0
        "00000000 05000000 00000000 00000000",  // ifinfomsg (16 B): index 5
    ))

    /// `ip link set dev tap0 address fe:00:00:00:00:01 mtu 1400 master br0 up`: `qnet ifup
    /// tap0` in one request. Same bytes as iproute2's.
    static let hookAttachTap0 = ExpectedRequest("ip link set dev tap0 address fe:00:00:00:00:01 mtu 1400 master br0 up", hex(
        "3c000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 60, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 04000000 01000000 01000000",  // ifinfomsg (16 B): index 4, flags IFF_UP, change IFF_UP
        "0a000100 fe000000 00010000",           // IFLA_ADDRESS fe:00:00:00:00:01
        "08000400 78050000",                    // IFLA_MTU 1400 (the bridge's)
        "08000a00 03000000",                    // IFLA_MASTER 3 (br0)
    ))

    /// `ip link set dev tap0 address 02:00:00:00:00:01 mtu 1500`: tap0's MAC and MTU put
    /// back after a refused attach. Same bytes as iproute2's.
    static let restoreTap0MACAndMTU = ExpectedRequest("ip link set dev tap0 address 02:00:00:00:00:01 mtu 1500", hex(
        "34000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 52, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 04000000 00000000 00000000",  // ifinfomsg (16 B): index 4, no flag change
        "0a000100 02000000 00010000",           // IFLA_ADDRESS 02:00:00:00:00:01
        "08000400 dc050000",                    // IFLA_MTU 1500
    ))

    /// `ip link set dev tap0 nomaster down`: `qnet ifdown tap0`. Same bytes as iproute2's.
    static let hookDetachTap0 = ExpectedRequest("ip link set dev tap0 nomaster down", hex(
        "28000000 10000500 00000000 00000000",  // nlmsghdr (16 B): len 40, RTM_NEWLINK, REQUEST|ACK, seq, pid 0
        "00000000 04000000 00000000 01000000",  // ifinfomsg (16 B): index 4, flags 0, change IFF_UP (down)
        "08000a00 00000000",                    // IFLA_MASTER 0
    ))

    // MARK: groups

    /// `ip link delete group 7`: every member in one request. Same bytes as iproute2's.
    static let deleteGroup7 = ExpectedRequest("ip link delete group 7", hex(
        "28000000 11000500 00000000 00000000",  // nlmsghdr (16 B): len 40, RTM_DELLINK, REQUEST|ACK, seq, pid 0
        "00000000 00000000 00000000 00000000",  // ifinfomsg (16 B): index 0
        "08001b00 07000000",                    // IFLA_GROUP 7
    ))
}
