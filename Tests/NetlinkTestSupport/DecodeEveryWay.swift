import NetlinkWire

/// Decodes a datagram every way qnet could: frames, then each payload as the body its
/// type names *and* as every other body type, touching the convenience accessors too.
/// Returns the first non-WireError error's description, if any (there must be none).
/// Shared by FuzzTests (deterministic cuts and flips) and the FuzzNetlink libFuzzer target.
public func decodeEveryWay(_ datagram: [UInt8]) -> String? {
    func attempt(_ body: () throws -> Void) -> String? {
        do { try body() } catch is WireError {} catch { return "\(type(of: error)): \(error)" }
        return nil
    }
    var messages: [NetlinkMessage] = []
    if let failure = attempt({ messages = try NetlinkMessage.parseAll(datagram) }) { return failure }
    for message in messages {
        let payload = message.payload
        let attempts: [() throws -> Void] = [
            {
                let link = try LinkMessage(payload: payload)
                _ = (link.name, link.mtu, link.kind, link.portKind, link.operState, link.masterIndex, link.group)
                _ = (link.bridgeAttributes, link.bridgePortAttributes, link.hardwareAddress, link.encoded())
                _ = (link.vfCount, link.virtualFunctions)
            },
            {
                // The hot paths' decoder: never a different answer from the full one.
                if let disagreement = typedOnlyDecodeDisagreement(payload) { throw TypedDecodeMismatch(text: disagreement) }
                let link = try LinkMessage(decodingTypedOnly: payload)
                _ = (link.name, link.kind, link.bridgePortAttributes, link.tunAttributes, link.vxlanAttributes)
            },
            {
                let address = try AddressMessage(payload: payload)
                _ = (address.prefix?.network, address.prefix?.description, address.label, address.allFlags, address.encoded())
            },
            {
                let route = try RouteMessage(payload: payload)
                _ = (route.destination?.description, route.gateway, route.fullTable, route.preferredSource, route.encoded())
            },
            {
                let error = try ErrorMessage(payload: payload, flags: message.header.flags)
                _ = error.encoded()
            },
            { _ = try ErrorMessage(payload: payload, flags: []) },
            { _ = try ErrorMessage(payload: payload, flags: [.capped, .acknowledgeTLVs]) },
            { _ = try ErrorMessage(payload: payload, flags: .acknowledgeTLVs) },
            { _ = try RawAttribute.parseAll(payload, space: "fuzz") },
            { _ = try BridgeAttribute.decodeAll(payload) },
            { _ = try BridgePortAttribute.decodeAll(payload) },
            { _ = try VFInfoListAttribute.decodeAll(payload) },
            { _ = try VFAttribute.decodeAll(payload) },
            { _ = try VFVLANListAttribute.decodeAll(payload) },
            { _ = try VFStatisticsAttribute.decodeAll(payload) },
        ]
        for body in attempts {
            if let failure = attempt(body) { return failure }
        }
    }
    return nil
}

/// The typed-only link decode disagreed with the full one (reported as a failure).
struct TypedDecodeMismatch: Error, CustomStringConvertible {
    var text: String
    var description: String { text }
}
