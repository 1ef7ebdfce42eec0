/// gzip (RFC 1952) compression with qnet's own DEFLATE (RFC 1951) encoder, so the
/// initramfs can be compressed in-process without zlib.
///
/// Equivalent to `gzip -6 -n` in ratio class (LZ77 over a 32 KiB window with hash chains
/// and one-step lazy matching, dynamic Huffman codes per block, stored blocks for data
/// that does not compress). The Linux kernel unpacks gzip initramfs archives
/// (CONFIG_RD_GZIP, on in Debian's kernels) and accepts them concatenated with
/// uncompressed ones.
public enum Gzip {
    /// How hard the match finder looks: longer hash chains find longer matches, slower.
    public struct Effort: Sendable, Equatable {
        /// Hash-chain entries examined per position.
        public var maximumChain: Int
        /// A match at least this long is taken without looking further.
        public var niceLength: Int
        /// Matches shorter than this are re-checked one byte later (lazy matching).
        public var lazyLength: Int

        public static let fast = Effort(maximumChain: 8, niceLength: 32, lazyLength: 8)
        public static let `default` = Effort(maximumChain: 48, niceLength: 128, lazyLength: 32)

        public init(maximumChain: Int, niceLength: Int, lazyLength: Int) {
            self.maximumChain = max(1, maximumChain)
            self.niceLength = min(258, max(3, niceLength))
            self.lazyLength = min(258, max(0, lazyLength))
        }
    }

    /// The gzip member for `input` (no file name, mtime 0: identical input gives identical output).
    public static func compress(_ input: [UInt8], effort: Effort = .default) -> [UInt8] {
        var output: [UInt8] = [0x1F, 0x8B, 8 /* deflate */, 0 /* flags */, 0, 0, 0, 0 /* mtime */, 0 /* xfl */, 3 /* Unix */]
        output.reserveCapacity(input.count / 2 + 1024)
        input.withUnsafeBufferPointer { data in
            let encoder = DeflateEncoder(effort: effort)
            encoder.compress(data, into: &output)
        }
        let crc = CRC32.checksum(input)
        let size = UInt32(truncatingIfNeeded: input.count)
        for shift in stride(from: 0, to: 32, by: 8) { output.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        for shift in stride(from: 0, to: 32, by: 8) { output.append(UInt8(truncatingIfNeeded: size >> UInt32(shift))) }
        return output
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as gzip's trailer uses.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    public static func checksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt32 {
        var crc = ~initial
        table.withUnsafeBufferPointer { table in
            bytes.withUnsafeBufferPointer { data in
                for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
            }
        }
        return ~crc
    }
}

/// LSB-first bit packing, as DEFLATE wants it.
struct BitWriter {
    var output: [UInt8]
    private var buffer: UInt64 = 0
    private var count = 0

    init(output: [UInt8]) { self.output = output }

    /// Appends the low `width` bits of `bits` (width ≤ 32).
    @inline(__always)
    mutating func write(_ bits: UInt32, _ width: Int) {
        buffer |= UInt64(bits) << UInt64(count)
        count += width
        if count >= 32 {
            output.append(UInt8(truncatingIfNeeded: buffer))
            output.append(UInt8(truncatingIfNeeded: buffer >> 8))
            output.append(UInt8(truncatingIfNeeded: buffer >> 16))
            output.append(UInt8(truncatingIfNeeded: buffer >> 24))
            buffer >>= 32
            count -= 32
        }
    }

    /// Pads with zero bits to a byte boundary and flushes.
    mutating func alignToByte() {
        while count > 0 {
            output.append(UInt8(truncatingIfNeeded: buffer))
            buffer >>= 8
            count = max(0, count - 8)
        }
        buffer = 0
    }
}

/// DEFLATE tables (RFC 1951 §3.2.5).
enum DeflateTables {
    static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                                      4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    /// Order in which code-length code lengths are sent.
    static let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// Length 3...258 → length code index 0...28 (symbol 257 + index).
    static let lengthCode: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 259)
        for code in 0..<28 {
            for length in lengthBase[code]..<(lengthBase[code] + (1 << lengthExtra[code])) where length <= 258 { table[length] = UInt8(code) }
        }
        table[258] = 28  // 258 has its own code (285), though 284 + 31 would reach it.
        return table
    }()

    /// Distance 1...32768 → distance code 0...29.
    static let distanceCode: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 32769)
        for code in 0..<30 {
            for distance in distanceBase[code]..<min(32769, distanceBase[code] + (1 << distanceExtra[code])) { table[distance] = UInt8(code) }
        }
        return table
    }()
}

/// Huffman code construction for DEFLATE.
enum Huffman {
    /// Optimal prefix-code lengths for `frequencies`, none longer than `maximumLength`.
    /// At least two symbols get a code (a lone code is padded with a second one), so the
    /// code is always complete — the shape every inflater accepts.
    static func codeLengths(_ frequencies: [Int], maximumLength: Int) -> [UInt8] {
        var lengths = [UInt8](repeating: 0, count: frequencies.count)
        var used = frequencies.indices.filter { frequencies[$0] > 0 }
        if used.count < 2 {
            // Zero or one symbol: give two symbols one bit each.
            let first = used.first ?? 0
            let second = first == 0 ? 1 : 0
            lengths[first] = 1
            lengths[second] = 1
            return lengths
        }
        used.sort { frequencies[$0] != frequencies[$1] ? frequencies[$0] < frequencies[$1] : $0 < $1 }
        let leafCount = used.count
        // Two-queue Huffman: sorted leaves, and internal nodes created in non-decreasing weight order.
        var weight = used.map { frequencies[$0] } + [Int](repeating: 0, count: leafCount - 1)
        var parent = [Int](repeating: -1, count: 2 * leafCount - 1)
        var nextLeaf = 0, nextInternal = leafCount, created = leafCount
        func takeSmallest() -> Int {
            if nextLeaf < leafCount && (nextInternal >= created || weight[nextLeaf] <= weight[nextInternal]) {
                nextLeaf += 1
                return nextLeaf - 1
            }
            nextInternal += 1
            return nextInternal - 1
        }
        while created < 2 * leafCount - 1 {
            let a = takeSmallest(), b = takeSmallest()
            weight[created] = weight[a] + weight[b]
            parent[a] = created
            parent[b] = created
            created += 1
        }
        var depth = [Int](repeating: 0, count: 2 * leafCount - 1)
        for node in stride(from: 2 * leafCount - 3, through: 0, by: -1) { depth[node] = depth[parent[node]] + 1 }

        // Limit the lengths: move overlong leaves to the limit, then restore the Kraft
        // equality by lengthening shorter codes, one unit of excess at a time.
        var count = [Int](repeating: 0, count: maximumLength + 1)
        for leaf in 0..<leafCount { count[min(depth[leaf], maximumLength)] += 1 }
        var kraft = 0
        for length in 1...maximumLength { kraft += count[length] << (maximumLength - length) }
        while kraft > 1 << maximumLength {
            count[maximumLength] -= 1
            for length in stride(from: maximumLength - 1, through: 1, by: -1) where count[length] > 0 {
                count[length] -= 1
                count[length + 1] += 2
                break
            }
            kraft -= 1
        }
        // Longest codes to the rarest symbols.
        var position = 0
        for length in stride(from: maximumLength, through: 1, by: -1) {
            for _ in 0..<count[length] {
                lengths[used[position]] = UInt8(length)
                position += 1
            }
        }
        return lengths
    }

    /// Canonical codes for `lengths`, bit-reversed for LSB-first output.
    static func codes(_ lengths: [UInt8]) -> [UInt32] {
        var lengthCount = [Int](repeating: 0, count: 16)
        for length in lengths where length > 0 { lengthCount[Int(length)] += 1 }
        var next = [Int](repeating: 0, count: 16)
        var code = 0
        for length in 1..<16 {
            code = (code + lengthCount[length - 1]) << 1
            next[length] = code
        }
        return lengths.map { length in
            guard length > 0 else { return 0 }
            let value = next[Int(length)]
            next[Int(length)] += 1
            var reversed: UInt32 = 0
            for bit in 0..<Int(length) where value & (1 << bit) != 0 { reversed |= 1 << UInt32(Int(length) - 1 - bit) }
            return reversed
        }
    }
}

/// The DEFLATE encoder proper. A class with manually allocated tables, so the hot loop
/// works on raw pointers (it also stays tolerable in unoptimised debug builds).
final class DeflateEncoder {
    static let windowSize = 32768
    static let hashBits = 15
    static let maximumMatch = 258
    static let minimumMatch = 3
    /// Symbols per block before its Huffman codes are rebuilt.
    static let blockSymbols = 32768

    let effort: Gzip.Effort
    private let head: UnsafeMutablePointer<Int32>
    private let previous: UnsafeMutablePointer<Int32>
    /// Per symbol: literal byte (< 256) or match length + 256 (259...514); distance or 0.
    private let symbolValue: UnsafeMutablePointer<UInt16>
    private let symbolDistance: UnsafeMutablePointer<UInt16>
    private var symbolCount = 0

    init(effort: Gzip.Effort) {
        self.effort = effort
        head = .allocate(capacity: 1 << Self.hashBits)
        head.initialize(repeating: -1, count: 1 << Self.hashBits)
        previous = .allocate(capacity: Self.windowSize)
        previous.initialize(repeating: -1, count: Self.windowSize)
        symbolValue = .allocate(capacity: Self.blockSymbols)
        symbolDistance = .allocate(capacity: Self.blockSymbols)
    }

    deinit {
        head.deallocate()
        previous.deallocate()
        symbolValue.deallocate()
        symbolDistance.deallocate()
    }

    func compress(_ data: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        var writer = BitWriter(output: output)
        output = []
        let count = data.count
        guard let base = data.baseAddress, count > 0 else {
            // An empty stream is one final fixed-Huffman block holding only end-of-block (7 zero bits).
            writer.write(1, 1)
            writer.write(1, 2)
            writer.write(0, 7)
            writer.alignToByte()
            output = writer.output
            return
        }

        @inline(__always) func hash(_ position: Int) -> Int {
            let value = UInt32(base[position]) | UInt32(base[position + 1]) << 8 | UInt32(base[position + 2]) << 16
            return Int((value &* 2_654_435_761) >> UInt32(32 - Self.hashBits))
        }
        let windowMask = Self.windowSize - 1
        let head = self.head, previous = self.previous
        let maximumChain = effort.maximumChain, niceLength = effort.niceLength, lazyLength = effort.lazyLength

        /// Inserts `position` into its hash chain (it must have 3 bytes ahead).
        @inline(__always) func insert(_ position: Int) -> Int32 {
            let slot = hash(position)
            let candidate = head[slot]
            previous[position & windowMask] = candidate
            head[slot] = Int32(position)
            return candidate
        }

        /// Inserts `position` and returns the longest earlier match within the window.
        @inline(__always) func longestMatch(at position: Int) -> (length: Int, distance: Int) {
            guard position + Self.minimumMatch <= count else { return (0, 0) }
            var candidate = Int(insert(position))
            let limit = min(Self.maximumMatch, count - position)
            var bestLength = Self.minimumMatch - 1, bestDistance = 0
            var chain = maximumChain
            let current = base + position
            while candidate >= 0 && chain > 0 {
                let distance = position - candidate
                if distance > Self.windowSize || distance <= 0 { break }
                let earlier = base + candidate
                if earlier[bestLength] == current[bestLength] && earlier[0] == current[0] && earlier[1] == current[1] {
                    var length = 2
                    while length < limit && earlier[length] == current[length] { length += 1 }
                    if length > bestLength {
                        bestLength = length
                        bestDistance = distance
                        if length >= niceLength || length == limit { break }
                    }
                }
                let next = Int(previous[candidate & windowMask])
                // The slot may hold a newer position once the window has moved on: stop there.
                if next >= candidate { break }
                candidate = next
                chain -= 1
            }
            return bestLength >= Self.minimumMatch ? (bestLength, bestDistance) : (0, 0)
        }

        var blockStart = 0
        var position = 0
        while position < count {
            var match = longestMatch(at: position)
            if match.length >= Self.minimumMatch && match.length < lazyLength && position + 1 < count {
                let later = longestMatch(at: position + 1)
                if later.length > match.length {
                    addLiteral(base[position])
                    position += 1
                    match = later
                    for inside in (position + 1)..<(position + match.length) where inside + Self.minimumMatch <= count { _ = insert(inside) }
                } else {
                    for inside in (position + 2)..<(position + match.length) where inside + Self.minimumMatch <= count { _ = insert(inside) }
                }
                addMatch(length: match.length, distance: match.distance)
                position += match.length
            } else if match.length >= Self.minimumMatch {
                for inside in (position + 1)..<(position + match.length) where inside + Self.minimumMatch <= count { _ = insert(inside) }
                addMatch(length: match.length, distance: match.distance)
                position += match.length
            } else {
                addLiteral(base[position])
                position += 1
            }
            if symbolCount >= Self.blockSymbols - 2 {
                flushBlock(data, from: blockStart, to: position, final: position >= count, writer: &writer)
                blockStart = position
            }
        }
        if symbolCount > 0 || blockStart < count || blockStart == 0 {
            flushBlock(data, from: blockStart, to: count, final: true, writer: &writer)
        }
        writer.alignToByte()
        output = writer.output
    }

    @inline(__always) private func addLiteral(_ byte: UInt8) {
        symbolValue[symbolCount] = UInt16(byte)
        symbolDistance[symbolCount] = 0
        symbolCount += 1
    }

    @inline(__always) private func addMatch(length: Int, distance: Int) {
        symbolValue[symbolCount] = UInt16(256 + length)
        symbolDistance[symbolCount] = UInt16(distance - 1)  // 0...32767 fits UInt16
        symbolCount += 1
    }

    /// Writes the pending symbols as one block: dynamic Huffman, or stored when that is smaller.
    private func flushBlock(_ data: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, final: Bool, writer: inout BitWriter) {
        var literalFrequency = [Int](repeating: 0, count: 286)
        var distanceFrequency = [Int](repeating: 0, count: 30)
        let lengthCode = DeflateTables.lengthCode, distanceCode = DeflateTables.distanceCode
        for index in 0..<symbolCount {
            let value = Int(symbolValue[index])
            if value < 256 {
                literalFrequency[value] += 1
            } else {
                literalFrequency[257 + Int(lengthCode[value - 256])] += 1
                distanceFrequency[Int(distanceCode[Int(symbolDistance[index]) + 1])] += 1
            }
        }
        literalFrequency[256] = 1

        let literalLengths = Huffman.codeLengths(literalFrequency, maximumLength: 15)
        let distanceLengths = Huffman.codeLengths(distanceFrequency, maximumLength: 15)
        var literalCount = 286
        while literalCount > 257 && literalLengths[literalCount - 1] == 0 { literalCount -= 1 }
        var distanceCount = 30
        while distanceCount > 1 && distanceLengths[distanceCount - 1] == 0 { distanceCount -= 1 }

        // Run-length code the two length tables as one sequence (codes 16, 17, 18).
        let all = Array(literalLengths[0..<literalCount]) + Array(distanceLengths[0..<distanceCount])
        var runs: [(symbol: Int, extra: Int)] = []
        var index = 0
        while index < all.count {
            let value = all[index]
            var run = 1
            while index + run < all.count && all[index + run] == value { run += 1 }
            if value == 0 && run >= 3 {
                var left = run
                while left >= 3 {
                    if left >= 11 {
                        let take = min(left, 138)
                        runs.append((18, take - 11))
                        left -= take
                    } else {
                        runs.append((17, left - 3))
                        left = 0
                    }
                }
                for _ in 0..<left { runs.append((0, 0)) }
            } else if value != 0 && run >= 4 {
                runs.append((Int(value), 0))
                var left = run - 1
                while left >= 3 {
                    let take = min(left, 6)
                    runs.append((16, take - 3))
                    left -= take
                }
                for _ in 0..<left { runs.append((Int(value), 0)) }
            } else {
                for _ in 0..<run { runs.append((Int(value), 0)) }
            }
            index += run
        }
        var codeLengthFrequency = [Int](repeating: 0, count: 19)
        for run in runs { codeLengthFrequency[run.symbol] += 1 }
        let codeLengthLengths = Huffman.codeLengths(codeLengthFrequency, maximumLength: 7)
        var codeLengthCount = 19
        while codeLengthCount > 4 && codeLengthLengths[DeflateTables.codeLengthOrder[codeLengthCount - 1]] == 0 { codeLengthCount -= 1 }

        // Cost in bits of each choice.
        var dynamicBits = 3 + 5 + 5 + 4 + 3 * codeLengthCount
        for run in runs {
            dynamicBits += Int(codeLengthLengths[run.symbol]) + (run.symbol == 16 ? 2 : run.symbol == 17 ? 3 : run.symbol == 18 ? 7 : 0)
        }
        for symbol in 0..<286 where literalFrequency[symbol] > 0 {
            dynamicBits += literalFrequency[symbol] * (Int(literalLengths[symbol]) + (symbol > 256 ? DeflateTables.lengthExtra[symbol - 257] : 0))
        }
        for symbol in 0..<30 where distanceFrequency[symbol] > 0 {
            dynamicBits += distanceFrequency[symbol] * (Int(distanceLengths[symbol]) + DeflateTables.distanceExtra[symbol])
        }
        let rawBytes = end - start
        let storedBits = (rawBytes / 65535 + 1) * (3 + 7 + 32) + rawBytes * 8

        if storedBits < dynamicBits {
            writeStored(data, from: start, to: end, final: final, writer: &writer)
        } else {
            writer.write(final ? 1 : 0, 1)
            writer.write(2, 2)
            writer.write(UInt32(literalCount - 257), 5)
            writer.write(UInt32(distanceCount - 1), 5)
            writer.write(UInt32(codeLengthCount - 4), 4)
            for position in 0..<codeLengthCount { writer.write(UInt32(codeLengthLengths[DeflateTables.codeLengthOrder[position]]), 3) }
            let codeLengthCodes = Huffman.codes(codeLengthLengths)
            for run in runs {
                writer.write(codeLengthCodes[run.symbol], Int(codeLengthLengths[run.symbol]))
                switch run.symbol {
                case 16: writer.write(UInt32(run.extra), 2)
                case 17: writer.write(UInt32(run.extra), 3)
                case 18: writer.write(UInt32(run.extra), 7)
                default: break
                }
            }
            let literalCodes = Huffman.codes(literalLengths), distanceCodes = Huffman.codes(distanceLengths)
            literalCodes.withUnsafeBufferPointer { literalCodes in
                literalLengths.withUnsafeBufferPointer { literalLengths in
                    for index in 0..<symbolCount {
                        let value = Int(symbolValue[index])
                        if value < 256 {
                            writer.write(literalCodes[value], Int(literalLengths[value]))
                        } else {
                            let length = value - 256
                            let code = Int(lengthCode[length])
                            writer.write(literalCodes[257 + code], Int(literalLengths[257 + code]))
                            if DeflateTables.lengthExtra[code] > 0 {
                                writer.write(UInt32(length - DeflateTables.lengthBase[code]), DeflateTables.lengthExtra[code])
                            }
                            let distance = Int(symbolDistance[index]) + 1
                            let dcode = Int(distanceCode[distance])
                            writer.write(distanceCodes[dcode], Int(distanceLengths[dcode]))
                            if DeflateTables.distanceExtra[dcode] > 0 {
                                writer.write(UInt32(distance - DeflateTables.distanceBase[dcode]), DeflateTables.distanceExtra[dcode])
                            }
                        }
                    }
                    writer.write(literalCodes[256], Int(literalLengths[256]))
                }
            }
        }
        symbolCount = 0
    }

    /// Stored blocks (BTYPE 00): byte-aligned LEN, NLEN, then the bytes, 65535 at most each.
    private func writeStored(_ data: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, final: Bool, writer: inout BitWriter) {
        var offset = start
        repeat {
            let length = min(65535, end - offset)
            let last = offset + length >= end
            writer.write(final && last ? 1 : 0, 1)
            writer.write(0, 2)
            writer.alignToByte()
            writer.write(UInt32(length), 16)
            writer.write(UInt32(~UInt16(length)), 16)
            writer.alignToByte()
            writer.output.append(contentsOf: UnsafeBufferPointer(rebasing: data[offset..<(offset + length)]))
            offset += length
        } while offset < end
    }
}
