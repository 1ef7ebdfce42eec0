import Foundation
@testable import GuestImage
import QNetTestSupport
import Testing

/// qnet's DEFLATE/gzip encoder, checked by the real `gzip -d` (the kernel's inflate is the
/// same zlib code; the boot tests exercise that too).
struct GzipTests {
    /// Decompresses with GNU gzip and returns the bytes (or throws with gzip's complaint).
    static func gunzip(_ compressed: [UInt8]) throws -> [UInt8] {
        let scratch = try ScratchDirectory("gz")
        let file = scratch.path + "/x.gz"
        try Data(compressed).write(to: URL(fileURLWithPath: file))
        let result = try run("/bin/sh", ["-c", "gzip -t '\(file)' && gzip -dc '\(file)' > '\(file).out'"])
        guard result.status == 0 else { throw TestSupportError("gzip rejected the stream: \(result.stderr)") }
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: file + ".out")))
    }

    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test func crc32KnownVector() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    static let cases: [(String, [UInt8])] = [
        ("empty", []),
        ("one byte", [0x41]),
        ("zeros 100 KiB", [UInt8](repeating: 0, count: 100 * 1024)),
        ("random 300 KiB (stored blocks)", random(300 * 1024, seed: 1)),
        ("text", Array(String(repeating: "qnet bridges TAPs and QEMU guests; ", count: 5000).utf8)),
        // A random 32 KiB block repeated: matches at the maximum distance 32768.
        ("window-distance repeats", { let block = random(32768, seed: 2); return block + block + block }()),
        // Runs of exactly 258 and 259 bytes: the maximum length and one past it.
        ("max-length runs", [UInt8](repeating: 7, count: 258) + [1] + [UInt8](repeating: 9, count: 259) + [2] + [UInt8](repeating: 3, count: 1000)),
        ("mixed", random(50_000, seed: 3) + [UInt8](repeating: 0x55, count: 70_000) + random(50_000, seed: 3)),
    ]

    @Test(arguments: 0..<cases.count)
    func roundTripThroughGNUGzip(index: Int) throws {
        let (name, input) = Self.cases[index]
        for effort in [Gzip.Effort.fast, .default] {
            let compressed = Gzip.compress(input, effort: effort)
            #expect(try Self.gunzip(compressed) == input, "\(name)")
            // Header: magic, deflate, no flags, mtime 0, Unix.
            #expect(Array(compressed.prefix(10)) == [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3], "\(name)")
        }
    }

    /// On a real binary the ratio is in gzip -6's class (busybox: ~52% with gzip -6).
    @Test(Host.needsGuestInputs) func compressesBusyboxLikeGzip() throws {
        let input = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/bin/busybox")))
        let start = Date()
        let compressed = Gzip.compress(input)
        let seconds = Date().timeIntervalSince(start)
        #expect(try Self.gunzip(compressed) == input)
        let reference = try run("/bin/sh", ["-c", "gzip -6 -c /bin/busybox | wc -c"])
        let gzipSize = Int(reference.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        print("busybox \(input.count) B: qnet gzip \(compressed.count) B in \(String(format: "%.2f", seconds)) s, GNU gzip -6 \(gzipSize) B")
        #expect(Double(compressed.count) < Double(gzipSize) * 1.05)
        #expect(Gzip.compress(input) == compressed, "not deterministic")
    }

    @Test func huffmanLengthsAreLimitedAndComplete() {
        // Fibonacci frequencies make an unlimited Huffman tree 30 levels deep.
        var fibonacci = [1, 1]
        while fibonacci.count < 30 { fibonacci.append(fibonacci[fibonacci.count - 1] + fibonacci[fibonacci.count - 2]) }
        for limit in [7, 15] {
            let lengths = Huffman.codeLengths(fibonacci, maximumLength: limit)
            #expect(lengths.allSatisfy { $0 >= 1 && Int($0) <= limit })
            let kraft = lengths.reduce(0.0) { $0 + pow(2.0, -Double($1)) }
            #expect(kraft == 1.0)
            // Rarer symbols never get shorter codes than more frequent ones.
            for index in 1..<lengths.count { #expect(lengths[index] <= lengths[index - 1]) }
        }
        // One used symbol still yields a complete two-code tree.
        let lone = Huffman.codeLengths([0, 0, 5, 0], maximumLength: 15)
        #expect(lone.filter { $0 == 1 }.count == 2)
    }

    @Test func canonicalCodesFromRFC1951Example() {
        // RFC 1951 §3.2.2: lengths (3, 3, 3, 3, 3, 2, 4, 4) give codes 010 011 100 101 110 00 1110 1111.
        let codes = Huffman.codes([3, 3, 3, 3, 3, 2, 4, 4])
        let expected: [(UInt32, Int)] = [(0b010, 3), (0b011, 3), (0b100, 3), (0b101, 3), (0b110, 3), (0b00, 2), (0b1110, 4), (0b1111, 4)]
        for (code, (value, width)) in zip(codes, expected) {
            // Stored bit-reversed for LSB-first output.
            var reversed: UInt32 = 0
            for bit in 0..<width where value & (1 << bit) != 0 { reversed |= 1 << UInt32(width - 1 - bit) }
            #expect(code == reversed)
        }
    }
}
