import QNetSystem

/// What the dynamic loader needs to start an ELF program: its interpreter (PT_INTERP),
/// the shared libraries it names (DT_NEEDED) and where it says to look first (DT_RUNPATH,
/// or the older DT_RPATH).
///
/// Equivalent to `readelf -l -d FILE` (program interpreter, NEEDED entries), read from the
/// file itself: unlike `ldd`, nothing is executed. ELF64 little-endian only (x86-64).
public struct ELFDependencies: Equatable, Sendable {
    /// The program interpreter, e.g. `/lib64/ld-linux-x86-64.so.2`; nil for static files and libraries.
    public var interpreter: String?
    /// DT_NEEDED names in file order, e.g. `["libiperf.so.0", "libc.so.6"]`.
    public var needed: [String]
    /// DT_RUNPATH (else DT_RPATH) folders as written, `$ORIGIN` unexpanded, e.g. a Swift
    /// debug build's `/opt/swift/usr/lib/swift/linux`.
    public var runPath: [String] = []

    public init(interpreter: String?, needed: [String], runPath: [String] = []) {
        self.interpreter = interpreter
        self.needed = needed
        self.runPath = runPath
    }

    /// Parses the ELF file at `path`.
    public init(path: String) throws {
        try self.init(bytes: try FileSystem.readBytes(path), path: path)
    }

    public init(bytes: [UInt8], path: String = "ELF file") throws {
        func fail(_ reason: String) -> GuestImageError { .invalidELF(path: path, reason: reason) }
        func u16(_ at: Int) throws -> Int {
            guard at >= 0, at + 2 <= bytes.count else { throw fail("truncated at offset \(at)") }
            return Int(bytes[at]) | Int(bytes[at + 1]) << 8
        }
        func u32(_ at: Int) throws -> Int {
            let low = try u16(at), high = try u16(at + 2)
            return low | high << 16
        }
        func u64(_ at: Int) throws -> UInt64 {
            guard at >= 0, at + 8 <= bytes.count else { throw fail("truncated at offset \(at)") }
            var value: UInt64 = 0
            for index in (0..<8).reversed() { value = value << 8 | UInt64(bytes[at + index]) }
            return value
        }
        func offset(_ value: UInt64) throws -> Int {
            guard value < UInt64(Int.max) else { throw fail("offset \(value) out of range") }
            return Int(value)
        }
        func string(at start: Int) throws -> String {
            guard start >= 0, start < bytes.count, let end = bytes[start...].firstIndex(of: 0) else { throw fail("string at \(start) not terminated") }
            return String(decoding: bytes[start..<end], as: UTF8.self)
        }

        guard bytes.count >= 64, Array(bytes[0..<4]) == [0x7F, 0x45, 0x4C, 0x46] else { throw fail("no ELF magic") }
        guard bytes[4] == 2 else { throw fail("not a 64-bit ELF file (EI_CLASS \(bytes[4]))") }
        guard bytes[5] == 1 else { throw fail("not little-endian (EI_DATA \(bytes[5]))") }

        let programHeaders = try offset(try u64(0x20))
        let entrySize = try u16(0x36), entryCount = try u16(0x38)
        guard entrySize >= 56 else { throw fail("program header entries of \(entrySize) bytes") }

        struct Segment { var type: Int; var fileOffset: UInt64; var address: UInt64; var fileSize: UInt64 }
        var segments: [Segment] = []
        for index in 0..<entryCount {
            let at = programHeaders + index * entrySize
            segments.append(Segment(type: try u32(at), fileOffset: try u64(at + 8), address: try u64(at + 16), fileSize: try u64(at + 32)))
        }
        let ptLoad = 1, ptDynamic = 2, ptInterp = 3

        var interpreter: String?
        if let segment = segments.first(where: { $0.type == ptInterp }) {
            interpreter = try string(at: try offset(segment.fileOffset))
        }

        var needed: [String] = [], runPath: [String] = []
        if let dynamic = segments.first(where: { $0.type == ptDynamic }) {
            // DT_STRTAB holds a virtual address: map it to a file offset through PT_LOAD.
            let dtNull: UInt64 = 0, dtNeeded: UInt64 = 1, dtStrtab: UInt64 = 5, dtRpath: UInt64 = 15, dtRunpath: UInt64 = 29
            var neededOffsets: [UInt64] = []
            var rpathOffset: UInt64?, runpathOffset: UInt64?
            var stringTableAddress: UInt64?
            let start = try offset(dynamic.fileOffset)
            let count = Int(dynamic.fileSize / 16)
            for index in 0..<count {
                let tag = try u64(start + index * 16), value = try u64(start + index * 16 + 8)
                if tag == dtNull { break }
                if tag == dtNeeded { neededOffsets.append(value) }
                if tag == dtStrtab { stringTableAddress = value }
                if tag == dtRpath { rpathOffset = value }
                if tag == dtRunpath { runpathOffset = value }
            }
            if !neededOffsets.isEmpty || rpathOffset != nil || runpathOffset != nil {
                guard let address = stringTableAddress else { throw fail("DT_NEEDED without DT_STRTAB") }
                guard let load = segments.first(where: { $0.type == ptLoad && address >= $0.address && address < $0.address + $0.fileSize }) else {
                    throw fail("DT_STRTAB address \(address) is in no loaded segment")
                }
                let table = try offset(address - load.address + load.fileOffset)
                for name in neededOffsets {
                    let nameOffset = try offset(name)
                    needed.append(try string(at: table + nameOffset))
                }
                // The loader ignores DT_RPATH when DT_RUNPATH is present.
                if let pathOffset = runpathOffset ?? rpathOffset {
                    runPath = try string(at: table + (try offset(pathOffset))).split(separator: ":").map(String.init)
                }
            }
        }
        self.interpreter = interpreter
        self.needed = needed
        self.runPath = runPath
    }
}

/// Host files an ELF program needs in the guest: the program, its interpreter and every
/// shared library, transitively — what `ldd PROGRAM` lists, found without running it.
public struct ProgramClosure: Equatable, Sendable {
    /// Each file as (path in the guest, path on the host to copy from).
    public var files: [(guestPath: String, hostPath: String)]

    public static func == (a: ProgramClosure, b: ProgramClosure) -> Bool {
        a.files.map(\.guestPath) == b.files.map(\.guestPath) && a.files.map(\.hostPath) == b.files.map(\.hostPath)
    }

    /// Where glibc's loader looks when there is no /etc/ld.so.cache (Debian multiarch first).
    public static let librarySearchPath = [
        "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
    ]

    /// Resolves `program` and its libraries. Libraries are placed in the guest under
    /// /lib/x86_64-linux-gnu by their DT_NEEDED name (symlinks on the host are followed),
    /// the interpreter at the path the program names. Each file's DT_RUNPATH is searched
    /// before `searchPath`, as the loader does (`$ORIGIN`: the file's own folder), so a
    /// Swift debug build finds its runtime in the toolchain.
    public init(program: String, guestPath: String, searchPath: [String] = ProgramClosure.librarySearchPath) throws {
        var files: [(guestPath: String, hostPath: String)] = [(guestPath, Files.resolved(program))]
        var seen: Set<String> = []
        var queue: [(name: String, neededBy: String, path: String)] = []
        let top = try ELFDependencies(path: program)
        if let interpreter = top.interpreter {
            guard Files.isReadableFile(interpreter) else { throw GuestImageError.libraryNotFound(name: interpreter, neededBy: program) }
            files.append((interpreter, Files.resolved(interpreter)))
            seen.insert((interpreter.split(separator: "/").last).map(String.init) ?? interpreter)
        }
        func enqueue(_ dependencies: ELFDependencies, of path: String) throws {
            let origin = Files.resolved(path).split(separator: "/").dropLast().joined(separator: "/")
            let runPath = dependencies.runPath.map { $0.replacing("$ORIGIN", with: "/" + origin).replacing("${ORIGIN}", with: "/" + origin) }
            for name in dependencies.needed where !seen.contains(name) {
                seen.insert(name)
                guard let found = (runPath + searchPath).map({ "\($0)/\(name)" }).first(where: Files.isReadableFile) else {
                    throw GuestImageError.libraryNotFound(name: name, neededBy: path)
                }
                queue.append((name, path, found))
            }
        }
        try enqueue(top, of: program)
        while !queue.isEmpty {
            let next = queue.removeFirst()
            files.append(("/lib/x86_64-linux-gnu/\(next.name)", Files.resolved(next.path)))
            try enqueue(try ELFDependencies(path: next.path), of: next.path)
        }
        self.files = files
    }
}
