/// A disk image size, parsed from `qnet disk create PATH SIZE`.
///
/// Forms: a number of bytes (`1073741824`), or a number with a 1024-based unit
/// K, M, G or T (`512M`, `10G`, `2T`; also written `KiB`, `MiB`, `GiB`, `TiB`, any case).
/// Decimals are allowed when they come to a whole number of bytes (`1.5G` = 1536 MiB),
/// like `qemu-img`. `GB`/`MB` are rejected: they usually mean powers of 1000.
/// The size must be above zero, a multiple of 512 bytes (a sector: QEMU ignores a partial
/// last sector and qcow2 refuses it), and at most 2^63 - 1 bytes (a file offset).
public struct DiskSize: Equatable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: UInt64

    /// The sector size every disk size is a multiple of.
    public static let sectorSize: UInt64 = 512

    /// Wraps a byte count; throws unless it is positive and a multiple of 512 bytes.
    public init(bytes: UInt64) throws {
        guard bytes > 0 else {
            throw QEMUError.invalidValue(what: "disk size", value: String(bytes), allowed: "use a size above zero, e.g. 10G")
        }
        guard bytes % Self.sectorSize == 0 else {
            throw QEMUError.invalidValue(what: "disk size", value: String(bytes),
                                         allowed: "use a multiple of 512 bytes (a sector), e.g. \((bytes / 512 + 1) * 512)")
        }
        guard bytes <= UInt64(Int64.max) else {
            throw QEMUError.invalidValue(what: "disk size", value: String(bytes), allowed: "use at most 8 EiB - 1 (a file offset)")
        }
        self.bytes = bytes
    }

    /// Parses `10G`, `512M`, `1.5T`, `4096`; throws one line naming the value and the forms allowed.
    public init(parsing text: String) throws {
        let allowed = "use a number of bytes or a number with K, M, G or T (1024-based), e.g. 512M, 10G or 1.5T"
        guard let bytes = SizeText.parse(text, defaultUnit: 1) else {
            throw QEMUError.invalidValue(what: "disk size", value: text, allowed: SizeText.problem(text, defaultUnit: 1).map { "\($0); e.g. 512M, 10G or 1.5T" } ?? allowed)
        }
        guard bytes > 0 else {
            throw QEMUError.invalidValue(what: "disk size", value: text, allowed: "use a size above zero, e.g. 10G")
        }
        guard bytes % Self.sectorSize == 0 else {
            throw QEMUError.invalidValue(what: "disk size", value: text,
                                         allowed: "it is \(bytes) bytes; use a multiple of 512 bytes (a sector)")
        }
        guard bytes <= UInt64(Int64.max) else {
            throw QEMUError.invalidValue(what: "disk size", value: text, allowed: "use at most 8 EiB - 1 (a file offset)")
        }
        self.bytes = bytes
    }

    /// The shortest exact form with a unit: `10G`, `1536M`, `4096` (what `parsing` reads back).
    public var description: String { SizeText.exact(bytes) }

    /// Rounded for people: `10 GiB`, `1.5 GiB`, `512 B`.
    public var humanReadable: String { SizeText.human(bytes) }

    /// Any byte count rounded for people: `10 GiB`, `1.5 GiB`, `0 B`.
    public static func human(_ bytes: UInt64) -> String { SizeText.human(bytes) }

    public static func < (lhs: DiskSize, rhs: DiskSize) -> Bool { lhs.bytes < rhs.bytes }
}

/// Guest memory, parsed from `--memory`.
///
/// Forms: a number of MiB (`1024`), or a number with a 1024-based unit K, M, G or T
/// (`512M`, `1G`, `1.5G`; also `MiB`, `GiB`...). It must come to a whole, positive number
/// of MiB (QEMU's `-m` unit) and at most 16 TiB.
public struct MemorySize: Equatable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public let mebibytes: Int

    /// The largest accepted size: 16 TiB.
    public static let maximumMebibytes = 16 << 20

    public init(mebibytes: Int) throws {
        guard mebibytes > 0, mebibytes <= Self.maximumMebibytes else {
            throw QEMUError.invalidValue(what: "memory size", value: "\(mebibytes)M", allowed: "use 1M to 16T")
        }
        self.mebibytes = mebibytes
    }

    /// Parses `1024`, `512M`, `1G`; throws one line naming the value and the forms allowed.
    public init(parsing text: String) throws {
        let allowed = "use a number of MiB or a number with M, G or T (1024-based), e.g. 1024, 512M or 2G"
        guard let bytes = SizeText.parse(text, defaultUnit: 1 << 20) else {
            throw QEMUError.invalidValue(what: "memory size", value: text, allowed: SizeText.problem(text, defaultUnit: 1 << 20).map { "\($0); e.g. 1024, 512M or 2G" } ?? allowed)
        }
        guard bytes > 0 else {
            throw QEMUError.invalidValue(what: "memory size", value: text, allowed: "use a size above zero, e.g. 1024 or 1G")
        }
        guard bytes % (1 << 20) == 0 else {
            throw QEMUError.invalidValue(what: "memory size", value: text, allowed: "use a whole number of MiB (QEMU's -m unit), e.g. 512M")
        }
        guard bytes >> 20 <= UInt64(Self.maximumMebibytes) else {
            throw QEMUError.invalidValue(what: "memory size", value: text, allowed: "use at most 16T")
        }
        mebibytes = Int(bytes >> 20)
    }

    public var bytes: UInt64 { UInt64(mebibytes) << 20 }

    /// `1G`, `1536M` (what `parsing` reads back).
    public var description: String { SizeText.exact(bytes) }

    public static func < (lhs: MemorySize, rhs: MemorySize) -> Bool { lhs.mebibytes < rhs.mebibytes }
}

/// The size syntax shared by disks and memory.
enum SizeText {
    static let units: [(suffix: String, shift: UInt64)] = [("K", 10), ("M", 20), ("G", 30), ("T", 40)]

    enum Outcome: Equatable {
        case bytes(UInt64)
        /// Not `NUMBER[.DIGITS][UNIT]`.
        case malformed
        /// A decimal that does not come to a whole number of bytes (`0.1K`).
        case notWhole
        /// More than 2^64 - 1 bytes.
        case overflow
    }

    /// Bytes for `NUMBER[UNIT]`, or nil (see `problem` for why).
    static func parse(_ text: String, defaultUnit: UInt64) -> UInt64? {
        if case let .bytes(value) = evaluate(text, defaultUnit: defaultUnit) { return value }
        return nil
    }

    static func evaluate(_ text: String, defaultUnit: UInt64) -> Outcome {
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else { return .malformed }
        let upper = text.uppercased()
        var number = Substring(text)
        var multiplier = defaultUnit
        search: for (suffix, shift) in units {
            for spelling in [suffix + "IB", suffix] where upper.hasSuffix(spelling) {
                number = text.dropLast(spelling.count)
                multiplier = 1 << shift
                break search
            }
        }
        let pieces = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let isDigits = { (part: Substring) in !part.isEmpty && part.allSatisfy { $0.isASCII && $0.isNumber } }
        guard let whole = pieces.first, isDigits(whole) else { return .malformed }
        let fraction = pieces.count == 2 ? pieces[1] : ""
        guard pieces.count == 1 || isDigits(fraction) else { return .malformed }
        guard let wholeValue = UInt64(whole) else { return .overflow }
        let (wholeBytes, wholeOverflow) = wholeValue.multipliedReportingOverflow(by: multiplier)
        guard !wholeOverflow else { return .overflow }
        let significant = fraction.reversed().drop { $0 == "0" }.reversed()
        guard !significant.isEmpty else { return .bytes(wholeBytes) }
        // fraction x multiplier must be a whole number of bytes: 0.5K = 512, 0.1K is not.
        guard significant.count <= 18, let fractionValue = UInt64(String(significant)) else { return .notWhole }
        var scale: UInt64 = 1
        for _ in significant { scale *= 10 }
        let (scaled, fractionOverflow) = fractionValue.multipliedReportingOverflow(by: multiplier)
        guard !fractionOverflow, scaled % scale == 0 else { return .notWhole }
        let (total, sumOverflow) = wholeBytes.addingReportingOverflow(scaled / scale)
        return sumOverflow ? .overflow : .bytes(total)
    }

    /// A more specific reason than the generic list of forms, when there is one.
    static func problem(_ text: String, defaultUnit: UInt64) -> String? {
        let upper = text.uppercased()
        if text.isEmpty { return "it is empty" }
        if text.hasPrefix("-") { return "a size cannot be negative" }
        if ["KB", "MB", "GB", "TB"].contains(where: { upper.hasSuffix($0) }) {
            return "units are 1024-based: write K, M, G or T (or KiB, MiB, GiB, TiB), e.g. 10G"
        }
        switch evaluate(text, defaultUnit: defaultUnit) {
        case .notWhole: return "it does not come to a whole number of bytes"
        case .overflow: return "it is too large"
        case .malformed, .bytes: return nil
        }
    }

    /// The shortest exact spelling: the largest unit that divides the size.
    static func exact(_ bytes: UInt64) -> String {
        for (suffix, shift) in units.reversed() where bytes != 0 && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(suffix)"
        }
        return String(bytes)
    }

    /// One decimal at most: `10 GiB`, `1.5 GiB`, `640 KiB`, `512 B`.
    static func human(_ bytes: UInt64) -> String {
        for (suffix, shift) in units.reversed() where bytes >= (1 << shift) {
            let unit: UInt64 = 1 << shift
            let tenths = (bytes >> shift) * 10 + ((bytes & (unit - 1)) * 10 + unit / 2) / unit
            let text = tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
            return "\(text) \(suffix)iB"
        }
        return "\(bytes) B"
    }
}
