import HostNetwork
import QNetTypes

/// What an importer made of another tool's files: configuration objects, and one line for
/// every setting that was changed on the way or not translated (nothing is dropped silently).
public struct ImportResult: Equatable, Sendable {
    public var bridges: [BridgeConfig] = []
    public var taps: [TapConfig] = []
    /// "ifcfg-br0: STP=on with DELAY=0: ..." — translated, but not as written.
    public var adjusted: [String] = []
    /// "ifcfg-eth0: NM_CONTROLLED=no: not translated (...)".
    public var untranslated: [String] = []

    public init() {}

    /// The report: every adjusted and untranslated setting, one per line.
    public var report: [String] {
        adjusted.map { "adjusted: \($0)" } + untranslated.map { "not translated: \($0)" }
    }

    /// The objects as configuration files, each headed by the path it belongs at under
    /// CONFIG_DIR, then the report as comments (what `qnet import` prints).
    public func rendered() throws -> String {
        var text = try files().map { "# \($0.path)\n\($0.text)" }.joined(separator: "---\n")
        for line in report { text += "# \(line)\n" }
        return text
    }

    /// Files to write: relative path → contents.
    public func files() throws -> [(path: String, text: String)] {
        try bridges.map { ("bridges/\($0.name).yaml", try ConfigurationText.yaml($0)) }
            + taps.map { ("taps/\($0.name).yaml", try ConfigurationText.yaml($0)) }
    }

    /// STP on with a forward delay outside 2-30 s: the kernel refuses it (ERANGE), so the
    /// nearest valid value is used and the change reported.
    mutating func checkForwardDelay(_ bridge: inout BridgeConfig, source: String, written: String) {
        guard bridge.stp == true, let delay = bridge.forwardDelay, !BridgeOptions.stpForwardDelayRange.contains(delay) else { return }
        let range = BridgeOptions.stpForwardDelayRange
        let nearest = min(max(delay, range.lowerBound), range.upperBound)
        adjusted.append("\(source): \(written): the kernel refuses a forward delay of \(formatDelay(delay)) s while STP is on (it needs 2 to 30 s); using \(formatDelay(nearest)) s (or turn STP off to keep \(formatDelay(delay)) s)")
        bridge.forwardDelay = nearest
    }

    /// Drops each bridge option `qnet apply` would refuse (a hello time of 0, a max age of
    /// 50 s, a forward delay out of range with STP off, NaN...), reporting it, so that the
    /// imported file loads: the kernel keeps its default for it. Found by FuzzImporters.
    mutating func dropInvalidOptions(_ bridge: inout BridgeConfig, source: String) {
        for _ in 0..<5 {
            do {
                try bridge.options.validate()
                return
            } catch let HostNetworkError.invalidValue(what, value, allowed) {
                untranslated.append("\(source): \(what) \(value): \(allowed); left out (the kernel's default applies)")
                switch what {
                case "forward delay": bridge.options.forwardDelay = nil
                case "hello time": bridge.options.helloTime = nil
                case "max age": bridge.options.maxAge = nil
                case "ageing time": bridge.options.ageingTime = nil
                default: return
                }
            } catch {
                return
            }
        }
    }

    private func formatDelay(_ value: Double) -> String { ImportValues.seconds(value) }
}

/// Settings shared by the importers.
enum ImportValues {
    /// The text without leading and trailing blanks (spaces, tabs, carriage returns).
    static func trimmed(_ text: String) -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        return String(text.drop(while: blank).reversed().drop(while: blank).reversed())
    }

    /// 2, not 2.0; 0.5 as it is; "?" when absent.
    static func seconds(_ value: Double?) -> String {
        guard let value else { return "?" }
        return value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(value)
    }

    static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "on", "yes", "true", "1": true
        case "off", "no", "false", "0": false
        default: nil
        }
    }

    /// 255.255.255.0 → 24; nil for a non-contiguous mask.
    static func prefixLength(netmask: String) -> UInt8? {
        let parts = netmask.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4 else { return nil }
        let value = parts.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let length = value.nonzeroBitCount
        guard value == (length == 0 ? 0 : UInt32.max << (32 - length)) else { return nil }
        return UInt8(length)
    }

    /// `ip route add TO via GW [metric N] [table T]` (an ifupdown up/post-up line) as a route.
    static func route(fromIPCommand words: [String]) -> RouteConfig? {
        guard words.count >= 4, words[0] == "ip" || words[0].hasSuffix("/ip"), words[1] == "route" || words[1] == "r",
              words[2] == "add" || words[2] == "append" else { return nil }
        var index = 3
        var route = RouteConfig(to: nil)
        let destination = words[index]
        if destination != "default" {
            guard let prefix = IPPrefix(destination.contains("/") ? destination : destination + "/32") else { return nil }
            route.to = prefix
        }
        index += 1
        while index + 1 < words.count {
            let value = words[index + 1]
            switch words[index] {
            case "via": guard let gateway = IPAddress(value) else { return nil }; route.via = gateway
            case "metric": guard let metric = UInt32(value) else { return nil }; route.metric = metric
            case "table": guard let table = UInt32(value) else { return nil }; route.table = table
            case "dev": break
            default: return nil
            }
            index += 2
        }
        return index == words.count ? route : nil
    }
}
