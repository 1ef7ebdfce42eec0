
/// qnet's nftables rules for nat and isolated networks: one `nft -f` script that replaces
/// qnet's own table, `table inet qnet`, atomically. No rule outside that table is added or
/// changed (equivalent to libvirt's nftables backend or Incus's per-network tables).
///
/// Pure: this type only renders text. Apply: `nft -f FILE` (capability CAP_NET_ADMIN; kernel ≥ 5.2 for NAT in the inet family).
/// nft runs the whole file as one transaction, so the table is replaced entirely or not at all.
///
/// What the rules do, modelled on libvirt's networkxml2firewall output:
/// - `postrouting` (nat, priority srcnat): masquerade a NAT network's subnet when it leaves
///   through any interface other than its bridge, to source ports 1024–65535 for TCP and UDP
///   (so guests never get a privileged source port) and plainly for everything else (ICMP);
///   multicast 224.0.0.0/24, broadcast 255.255.255.255 and traffic within the subnet stay untranslated.
/// - `forward` (filter, policy accept — the host's forwarding policy is not ours to change),
///   in three sections in libvirt's order so one network's "out" rule cannot let traffic into
///   another: within a bridge accept; into NAT subnets only replies (established/related),
///   the rest rejected, into isolated bridges drop; out of NAT bridges only from the subnet
///   (anything else, e.g. spoofed or IPv6, rejected), out of isolated bridges drop.
/// - `input` (filter, policy accept): accepts DHCP (udp 67) and DNS (udp/tcp 53) on each bridge.
/// - IPv6 (networks with a prefix): isolated bridges already drop every forwarded packet,
///   whatever its family. A nat network masquerades its prefix like its subnet (NAT66: `ip6`
///   rules in the same postrouting chain; multicast ff00::/8 and traffic within the prefix
///   stay untranslated) and takes only replies in; with `ipv6_nat` off the prefix is routed
///   (no masquerade, and the outside may open connections to guests, as with libvirt's
///   `<forward mode='route'>`). The input chain also accepts DHCPv6 (udp 547).
///
/// Limitation: every base chain on a hook sees each packet, whatever table it is in, and an
/// `accept` ends only its own chain. Our accepts therefore cannot override a `drop` in another
/// table (a host firewall whose input or forward policy is drop, or Docker's iptables-nft
/// FORWARD policy drop): such a firewall must allow the bridges itself. The input chain's
/// accepts document what the networks need; with its accept policy they change nothing here.
public enum FirewallRuleset {
    /// The table qnet owns.
    public static let family = "inet"
    public static let table = "qnet"

    /// The `nft -f` script for these networks. Bridge-mode networks get no rules; with no
    /// nat or isolated network left, the script is `removal()`. Networks are ordered by
    /// name, so the same set of networks always gives the same script.
    /// Precondition: each addressing came from `AddressPlanner.resolve` for its definition
    /// (bridge names validated, so they need no quoting beyond `"..."`).
    public static func render(networks: [(NetworkDefinition, NetworkAddressing)]) -> String {
        let managed = networks.filter { $0.0.mode != .bridge }.sorted { $0.0.name < $1.0.name }
        guard !managed.isEmpty else { return removal() }
        let nat = managed.filter { $0.0.mode == .nat }

        var lines = header(purpose: "nftables rules for qnet's NAT and isolated networks")
        lines += [
            "# The whole file is one transaction: qnet's table is replaced atomically or not at all.",
            "# Nothing outside table \(family) \(table) is touched.",
        ]
        for (definition, addressing) in managed {
            lines.append("#   \(definition.name): \(definition.mode.rawValue), bridge \(definition.bridge), subnet \(addressing.subnet)"
                         + (addressing.ipv6.map { ", IPv6 prefix \($0.prefix)" + (definition.mode == .nat && !definition.ipv6NAT ? " (routed)" : "") } ?? ""))
        }
        lines += replaceTable
        lines.append("")
        lines.append("table \(family) \(table) {")

        if !nat.isEmpty {
            lines += [
                "\t# Source NAT for guests of NAT networks.",
                "\tchain postrouting {",
                "\t\ttype nat hook postrouting priority srcnat; policy accept;",
            ]
            for (definition, addressing) in nat {
                let subnet = addressing.subnet.description
                let bridge = quoted(definition.bridge)
                lines += [
                    "",
                    "\t\t# \(definition.name): multicast, broadcast and traffic within \(subnet) stay untranslated;",
                    "\t\t# the rest leaving through another interface than \(definition.bridge) takes the host's address,",
                    "\t\t# TCP and UDP with a source port of 1024-65535.",
                    "\t\tip saddr \(subnet) ip daddr 224.0.0.0/24 return",
                    "\t\tip saddr \(subnet) ip daddr 255.255.255.255 return",
                    "\t\tip saddr \(subnet) ip daddr \(subnet) return",
                    "\t\tip saddr \(subnet) oifname != \(bridge) meta l4proto { tcp, udp } masquerade to :1024-65535",
                    "\t\tip saddr \(subnet) oifname != \(bridge) masquerade",
                ]
                if let ipv6 = addressing.ipv6, definition.ipv6NAT {
                    let prefix = ipv6.prefix.description
                    lines += [
                        "\t\t# \(definition.name), IPv6 (NAT66): multicast and traffic within \(prefix) stay untranslated;",
                        "\t\t# the rest leaving through another interface takes the host's IPv6 address.",
                        "\t\tip6 saddr \(prefix) ip6 daddr ff00::/8 return",
                        "\t\tip6 saddr \(prefix) ip6 daddr \(prefix) return",
                        "\t\tip6 saddr \(prefix) oifname != \(bridge) meta l4proto { tcp, udp } masquerade to :1024-65535",
                        "\t\tip6 saddr \(prefix) oifname != \(bridge) masquerade",
                    ]
                }
            }
            lines += ["\t}", ""]
        }

        lines += [
            "\t# Forwarding through the host. Policy accept: the host's own policy is left alone.",
            "\tchain forward {",
            "\t\ttype filter hook forward priority filter; policy accept;",
            "",
            "\t\t# 1. Within one bridge (guest to guest through the host): allowed.",
        ]
        for (definition, _) in managed {
            lines.append("\t\tiifname \(quoted(definition.bridge)) oifname \(quoted(definition.bridge)) accept")
        }
        lines += ["", "\t\t# 2. Into a network: NAT subnets take replies only; isolated bridges nothing."]
        for (definition, addressing) in managed {
            let bridge = quoted(definition.bridge)
            if definition.mode == .nat {
                lines.append("\t\toifname \(bridge) ip daddr \(addressing.subnet) ct state established,related accept")
                if let ipv6 = addressing.ipv6 {
                    lines.append("\t\toifname \(bridge) ip6 daddr \(ipv6.prefix)" + (definition.ipv6NAT ? " ct state established,related accept" : " accept"))
                }
                lines.append("\t\toifname \(bridge) reject")
            } else {
                lines.append("\t\toifname \(bridge) drop")
            }
        }
        lines += ["", "\t\t# 3. Out of a network: NAT guests from their subnet only (spoofed sources rejected); isolated guests nowhere."]
        for (definition, addressing) in managed {
            let bridge = quoted(definition.bridge)
            if definition.mode == .nat {
                lines.append("\t\tiifname \(bridge) ip saddr \(addressing.subnet) accept")
                if let ipv6 = addressing.ipv6 { lines.append("\t\tiifname \(bridge) ip6 saddr \(ipv6.prefix) accept") }
                lines.append("\t\tiifname \(bridge) reject")
            } else {
                lines.append("\t\tiifname \(bridge) drop")
            }
        }
        lines += ["\t}", ""]

        lines += [
            "\t# DHCP and DNS from guests to the network's dnsmasq. Policy accept, so these change nothing in",
            "\t# this table; they cannot override a drop in another table (each table's chains see the packet).",
            "\tchain input {",
            "\t\ttype filter hook input priority filter; policy accept;",
        ]
        for (definition, addressing) in managed {
            let bridge = quoted(definition.bridge)
            lines += [
                "\t\tiifname \(bridge) udp dport 67 accept",
                "\t\tiifname \(bridge) udp dport 53 accept",
                "\t\tiifname \(bridge) tcp dport 53 accept",
            ]
            if addressing.ipv6 != nil { lines.append("\t\tiifname \(bridge) udp dport 547 accept") }
        }
        lines += ["\t}", "}"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The `nft -f` script that removes qnet's table, and only it. Idempotent: the first
    /// line creates the table when it is missing, so the delete never fails ("No such file
    /// or directory") and a second run changes nothing. Equivalent to
    /// `nft delete table inet qnet` without the error when it is already gone.
    public static func removal() -> String {
        (header(purpose: "nftables script removing qnet's table (no NAT or isolated network is running)") + replaceTable).joined(separator: "\n") + "\n"
    }

    private static func header(purpose: String) -> [String] {
        [
            "#!/usr/sbin/nft -f",
            "# \(purpose).",
            "# Generated by qnet each time a network starts or stops: edits here are lost. Apply: nft -f FILE",
        ]
    }

    /// Declaring the table creates it if missing (and changes nothing if present), so the
    /// delete after it always succeeds; the definition that follows (if any) starts empty.
    private static let replaceTable = [
        "",
        "# Create the table if it is missing, so that deleting it cannot fail; then delete it.",
        "table \(family) \(table)",
        "delete table \(family) \(table)",
    ]

    /// An interface name as an nft string. Bridge names are validated (letters, digits, `-_.`).
    private static func quoted(_ name: String) -> String { "\"\(name)\"" }
}
