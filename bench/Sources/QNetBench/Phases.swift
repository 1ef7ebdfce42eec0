import Foundation
import HostNetwork
import Netlink

/// Where the time of (b) and (c) goes: the same jobs split into parts, each timed on its
/// own (medians). Uses only the library's public API and `ip`.
func benchPhases(lab: Lab, tools: Tools, count: Int, reps: Int, group: UInt32) throws -> [Series] {
    let names = (0..<count).map { "tap\($0)" }
    let host = lab.network
    let ns = lab.name
    func options(_ name: String, attach: Bool) -> TAPOptions {
        TAPOptions(name: name, persistent: true, bridge: attach ? lab.bridge : nil, interfaceGroup: group, up: attach)
    }
    let tuntapFile = try writeBatch(names.map { "tuntap add \($0) mode tap" }, named: "phase-tuntap.batch", in: tools.workDirectory)
    let attachFile = try writeBatch(names.flatMap { ["link set \($0) master br0", "link set \($0) up"] },
                                    named: "phase-attach.batch", in: tools.workDirectory)
    let groupFile = try writeBatch(names.map { "link set \($0) group \(group)" }, named: "phase-group.batch", in: tools.workDirectory)

    var full = Series("qnet `createTAPs`, attached and up, as in (b) (descriptors closed afterwards, untimed)")
    var bare = Series("qnet `createTAPs`, not attached, not up (TUNSETIFF + TUNSETPERSIST + index lookup per TAP; batch sets MAC and group only)")
    var lookups = Series("\(count) × `linkIfPresent(named:)` of fresh TAPs (the index lookup `createTAPs` does after each TUNSETIFF)")
    var missing = Series("\(count) × `linkIfPresent(named:)` of absent names (the existence check before creating)")
    var ipTuntap = Series("`ip -batch` of \(count) `tuntap add` lines only")
    var ipAttach = Series("`ip -batch` of the \(count * 2) `link set master` / `link set up` lines only (carrier off)")
    var deletePorts = Series("`deleteGroup`: \(count) TAPs that are ports of br0")
    var deleteBare = Series("`deleteGroup`: \(count) TAPs, no bridge, down")

    for rep in 0..<reps {
        log("phases repetition \(rep + 1)/\(reps)")
        lab.quiesce()
        var (devices, seconds) = try timed { try host.createTAPs(names.map { options($0, attach: true) }) }
        full.samples.append(seconds)
        for device in devices { device.close() }
        try lab.settle(step: "phases createTAPs")
        try lab.verifyPorts(names, group: group, step: "phases createTAPs")
        lab.quiesce()
        (_, seconds) = try timed { try host.deleteGroup(group) }
        deletePorts.samples.append(seconds)
        try lab.verifyEmpty(step: "phases deleteGroup (ports)")

        lab.quiesce()
        (_, seconds) = try timed {
            for name in names { guard try host.linkIfPresent(named: name) == nil else { throw BenchFailure("\(name) exists") } }
        }
        missing.samples.append(seconds)

        lab.quiesce()
        (devices, seconds) = try timed { try host.createTAPs(names.map { options($0, attach: false) }) }
        bare.samples.append(seconds)
        lab.quiesce()
        (_, seconds) = try timed {
            for name in names { guard try host.linkIfPresent(named: name) != nil else { throw BenchFailure("lookup of \(name) failed") } }
        }
        lookups.samples.append(seconds)
        for device in devices { device.close() }
        let members = try lab.ipLinks(["group", String(group)])
        guard members.count == count, members.allSatisfy({ ($0["master"] as? String) == nil }) else {
            throw BenchFailure("phases: \(members.count) unattached TAPs in group \(group), expected \(count)")
        }
        lab.quiesce()
        (_, seconds) = try timed { try host.deleteGroup(group) }
        deleteBare.samples.append(seconds)
        try lab.verifyEmpty(step: "phases deleteGroup (bare)")

        lab.quiesce()
        ipTuntap.samples.append(try Spawn.time([tools.ip, "-n", ns, "-batch", tuntapFile]))
        guard try lab.ipLinks(["type", "tun"]).count == count else { throw BenchFailure("phases: ip tuntap add made the wrong number of TAPs") }
        lab.quiesce()
        ipAttach.samples.append(try Spawn.time([tools.ip, "-n", ns, "-batch", attachFile]))
        try lab.settle(step: "phases ip attach")
        try lab.verifyPorts(names, step: "phases ip attach")
        try Spawn.check([tools.ip, "-n", ns, "-batch", groupFile])
        try Spawn.check([tools.ip, "-n", ns, "link", "delete", "group", String(group)])
        try lab.verifyEmpty(step: "phases ip cleanup")
    }
    return [full, bare, lookups, missing, ipTuntap, ipAttach, deletePorts, deleteBare]
}
