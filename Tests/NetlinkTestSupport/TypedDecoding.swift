import NetlinkWire

/// What `LinkMessage(decodingTypedOnly:)` must produce for a message `LinkMessage(payload:)`
/// decoded as `full`: the same attributes in the same order, without the ones the typed-only
/// decoder skips (top-level `.unknown` of a type outside `LinkAttribute.typesRead`, unknown
/// IFLA_LINKINFO entries, `.unknown` inside the kind's and the port's data).
public func typedOnlyExpectation(of full: LinkMessage) -> LinkMessage {
    func typed<Space: SkippableAttributeSpace>(_ attributes: [Space]) -> [Space] {
        attributes.filter { attribute in
            if attribute == Space.unknown(attribute.raw) { return false }
            return true
        }
    }
    var expected = full
    expected.attributes = full.attributes.compactMap { attribute in
        switch attribute {
        case let .unknown(raw): return LinkAttribute.typesRead.contains(raw.rawType) ? attribute : nil
        case let .linkInfo(info):
            return .linkInfo(info.compactMap { entry in
                switch entry {
                case .unknown: nil
                case let .bridgeData(data): .bridgeData(typed(data))
                case let .bridgePortData(data): .bridgePortData(typed(data))
                case let .tunData(data): .tunData(typed(data))
                case let .vxlanData(data): .vxlanData(typed(data))
                case .kind, .portKind: entry
                }
            })
        default: return attribute
        }
    }
    return expected
}

/// nil when the typed-only decode of `payload` agrees with the full decode (or the full
/// decode fails); otherwise what differs.
public func typedOnlyDecodeDisagreement(_ payload: [UInt8]) -> String? {
    guard let full = try? LinkMessage(payload: payload) else { return nil }
    let typed: LinkMessage
    do { typed = try LinkMessage(decodingTypedOnly: payload) } catch {
        return "the full decode succeeded, the typed-only one threw \(error)"
    }
    let expected = typedOnlyExpectation(of: full)
    return typed == expected ? nil : "typed-only decode \(typed.attributes) differs from the full decode's typed attributes \(expected.attributes)"
}
