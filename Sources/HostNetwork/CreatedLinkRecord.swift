import Netlink
import NetlinkWire
import QNetSystem
import QNetTypes

/// The journal record of links a transaction is about to create (a bridge, persistent
/// TAPs): rolling back deletes each one that still is the link this transaction made. Never
/// completed: a creation is never past a point of no return.
///
/// Identity, so that a namesake made by someone else after a kill is never deleted: the
/// name and kind, plus the interface index where the kernel has chosen it already (a TAP
/// after TUNSETIFF; indexes are not reused soon) or the MAC qnet chose (a bridge, whose MAC
/// is set in the request that creates it).
public struct CreatedLinkRecord: JournalRecord, Equatable {
    public static let kind = "created-link"

    public struct Created: Codable, Equatable, Sendable {
        public var name: String
        /// IFLA_INFO_KIND: "bridge", "tun".
        public var kind: String
        public var index: InterfaceIndex?
        public var mac: String?

        public init(name: String, kind: String, index: InterfaceIndex? = nil, mac: String? = nil) {
            self.name = name
            self.kind = kind
            self.index = index
            self.mac = mac
        }
    }

    public var links: [Created]

    public init(links: [Created]) { self.links = links }

    /// Written by hand: every `qnet tap create` and bridge creation journals one (see ``JournalJSON``).
    public var handWrittenJSON: [UInt8]? {
        var json = JournalJSON()
        json.object { json in
            json.key("links")
            json.array(links) { json, created in
                json.object { json in
                    json.member("index", created.index?.rawValue)
                    json.member("kind", created.kind)
                    json.member("mac", created.mac)
                    json.member("name", created.name)
                }
            }
        }
        return json.bytes
    }
}

extension HostNetwork {
    /// Rolls back a `CreatedLinkRecord`: `ip link delete NAME` for each link that is still
    /// the one recorded. Idempotent.
    func recover(_ record: CreatedLinkRecord, _ context: RecoveryContext) throws -> String? {
        guard context.direction == .rollBack else { return nil }
        var deleted: [String] = []
        for created in record.links.reversed() {
            guard let link = try linkIfPresent(named: created.name), link.kind?.kernelName == created.kind else { continue }
            if let index = created.index, link.index != index { continue }
            if let mac = created.mac, link.macAddress?.description != mac { continue }
            try deleteLinkTolerantly(link)
            deleted.append(created.name)
            context.pause()
        }
        return deleted.isEmpty ? nil : "deleted the half-made \(deleted.joined(separator: ", "))"
    }
}
