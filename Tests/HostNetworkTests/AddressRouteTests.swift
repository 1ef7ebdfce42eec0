import Foundation
import HostNetwork
import Netlink
import QNetTestSupport
import QNetTypes
import Testing

@Suite(.serialized, Privileged.enabled)
struct AddressRouteTests {
    @Test func addListAndDeleteAddressesOfBothFamilies() throws {
        let ns = try TestNamespace("addr")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try ns.ip("link", "add", "d0", "type", "veth", "peer", "name", "d0peer")
        try ns.ip("link", "set", "d0peer", "up")
        try ns.ip("link", "set", "d0", "up")
        let v4 = try #require(IPPrefix("192.0.2.10/24"))
        let v6 = try #require(IPPrefix("2001:db8::10/64"))
        try host.addAddress(v4, to: "d0")
        try host.addAddress(v6, to: "d0", metric: 300)

        let witness = try ns.json("addr", "show", "dev", "d0")
        let infos = (witness.first?["addr_info"] as? [[String: Any]]) ?? []
        #expect(infos.contains { $0["local"] as? String == "192.0.2.10" && $0["prefixlen"] as? Int == 24 })
        #expect(infos.contains { $0["local"] as? String == "2001:db8::10" && $0["prefixlen"] as? Int == 64 })

        let d0 = try host.link(named: "d0")
        let listed = try host.addresses(index: d0.index).map(\.prefix)
        #expect(listed.contains(v4) && listed.contains(v6))

        #expect(throws: HostNetworkError.self) { try host.addAddress(v4, to: "d0") }
        try host.deleteAddress(v4, from: "d0")
        try host.deleteAddress(v6, from: "d0")
        #expect(throws: HostNetworkError.self) { try host.deleteAddress(v4, from: "d0") }
        let after = (try ns.json("addr", "show", "dev", "d0").first?["addr_info"] as? [[String: Any]]) ?? []
        #expect(!after.contains { ($0["local"] as? String) == "192.0.2.10" || ($0["local"] as? String) == "2001:db8::10" })
    }

    @Test func addListAndDeleteRoutesIncludingDefault() throws {
        let ns = try TestNamespace("route")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try ns.ip("link", "add", "d0", "type", "veth", "peer", "name", "d0peer")
        try ns.ip("link", "set", "d0peer", "up")
        try ns.ip("link", "set", "d0", "up")
        try ns.ip("addr", "add", "192.0.2.10/24", "dev", "d0")
        let d0 = try host.link(named: "d0").index

        let defaultRoute = Route(destination: nil, gateway: IPAddress("192.0.2.1"), outputIndex: d0, metric: 100)
        let subnetRoute = Route(destination: IPPrefix("198.51.100.0/24"), gateway: IPAddress("192.0.2.254"), outputIndex: d0)
        let onLink = Route(destination: IPPrefix("203.0.113.0/25"), outputIndex: d0, metric: 7)
        for route in [defaultRoute, subnetRoute, onLink] { try host.addRoute(route) }

        let witness = try ns.json("route", "show")
        #expect(witness.contains { $0["dst"] as? String == "default" && $0["gateway"] as? String == "192.0.2.1" && $0["metric"] as? Int == 100 })
        #expect(witness.contains { $0["dst"] as? String == "198.51.100.0/24" && $0["gateway"] as? String == "192.0.2.254" })
        #expect(witness.contains { $0["dst"] as? String == "203.0.113.0/25" && $0["scope"] as? String == "link" && $0["metric"] as? Int == 7 })

        let listed = try host.routes()
        #expect(listed.contains { $0.isDefault && $0.gateway == IPAddress("192.0.2.1") && $0.metric == 100 })
        #expect(throws: HostNetworkError.self) { try host.addRoute(defaultRoute) }

        for route in [defaultRoute, subnetRoute, onLink] { try host.deleteRoute(route) }
        let after = try ns.json("route", "show")
        #expect(after.count == 1)  // only the kernel's prefix route is left
        #expect(after.first?["protocol"] as? String == "kernel")
    }

    @Test func ipv6DefaultRoute() throws {
        let ns = try TestNamespace("route6")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try ns.ip("link", "add", "d0", "type", "veth", "peer", "name", "d0peer")
        try ns.ip("link", "set", "d0peer", "up")
        try ns.ip("link", "set", "d0", "up")
        try ns.ip("-6", "addr", "add", "2001:db8::10/64", "dev", "d0", "nodad")
        let d0 = try host.link(named: "d0").index
        let route = Route(destination: nil, gateway: IPAddress("2001:db8::1"), outputIndex: d0, metric: 50)
        try host.addRoute(route)
        #expect(try ns.json("-6", "route", "show", "default").first?["gateway"] as? String == "2001:db8::1")
        #expect(try host.routes(family: .inet6).contains { $0.isDefault && $0.gateway == IPAddress("2001:db8::1") && $0.metric == 50 })
        try host.deleteRoute(route)
        #expect(try ns.json("-6", "route", "show", "default").isEmpty)
    }
}
