#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import QNetSystem

/// What the KVM probe saw.
public struct KVMProbeResult: Codable, Sendable, Equatable {
    public enum Verdict: String, Codable, Sendable {
        /// The test guest finished its work and told QEMU so (exit status 67).
        case runsGuests
        /// The guest was still running at the deadline: KVM accepts guests but does not run
        /// them usefully (here: a nested "PVM" KVM that emulates ordinary guests at
        /// ~1 µs per instruction, so Linux guests sit at "Booting from ROM").
        case stalled
        /// QEMU refused or failed (no /dev/kvm access, no KVM support, bad binary...).
        case failed
    }

    public var verdict: Verdict
    /// "kvm", or "tcg" when the probe itself is being tested.
    public var accelerator: String
    /// Which steps the guest reached, in order: "3" 32-bit protected mode (firmware and
    /// multiboot loader done), "P" paging and long mode on, "L" 64-bit code running,
    /// "E" its loop finished.
    public var stagesReached: String
    public var seconds: Double
    /// One line for people: what happened and what it means.
    public var detail: String
    /// Whether this came from the per-boot cache rather than a fresh run.
    public var fromCache: Bool

    public var canRunGuests: Bool { verdict == .runsGuests }

    public init(verdict: Verdict, accelerator: String, stagesReached: String, seconds: Double, detail: String, fromCache: Bool = false) {
        self.verdict = verdict
        self.accelerator = accelerator
        self.stagesReached = stagesReached
        self.seconds = seconds
        self.detail = detail
        self.fromCache = fromCache
    }
}

/// A bounded test that KVM can actually run a guest — /dev/kvm existing is not enough.
///
/// QEMU boots a 16 KiB multiboot image through the same firmware path as real guests
/// (SeaBIOS, "Booting from ROM", the multiboot option ROM). The guest switches to 64-bit
/// long mode with paging, as every x86-64 kernel does, runs 20 million iterations of a
/// two-instruction loop (milliseconds on working KVM, 0.2 s under TCG here) and writes 0x21
/// to an `isa-debug-exit` port, so QEMU exits with status (0x21 << 1) | 1 = 67. A guest
/// still running at the deadline is killed with SIGKILL.
///
/// Measured on the nested "PVM" KVM of the build machines: a guest that only reaches
/// 32-bit protected mode and exits *does* finish (in 2.7 s, vs 0.06 s under TCG), so a
/// probe that stops there would wrongly say KVM works; 10 million iterations of the 64-bit
/// loop took 15.5 s there (~1.3 µs each: every guest instruction is emulated), which is why Linux
/// guests look hung at "Booting from ROM".
///
/// Also used by `qnet vm run --accel auto`: ``cached(qemu:timeout:cacheDirectory:bootIDPath:)``.
public enum KVMProbe {
    public static let defaultTimeout: Duration = .seconds(5)
    /// Where the verdict is kept for the rest of the boot.
    public static let defaultCacheDirectory = "/run/qnet"
    public static let cacheFileName = "kvm-probe.json"
    public static let bootIDPath = "/proc/sys/kernel/random/boot_id"
    public static let loopIterations: UInt32 = 20_000_000
    /// QEMU's exit status when the guest writes 0x21 to isa-debug-exit: (0x21 << 1) | 1.
    public static let successExitStatus: Int32 = 67

    /// Physical address the image is loaded at (1 MiB, above the BIOS area).
    static let loadAddress: UInt32 = 0x10_0000

    /// The test guest: a flat multiboot image with the a.out-kludge flag (bit 16), so the
    /// loader takes addresses from the header instead of an ELF file.
    ///
    /// Layout (file offset = address - 0x100000): 0x000 multiboot header, 0x020 32-bit
    /// entry, 0x080 64-bit code, 0x0c0 GDT pointer, 0x0d0 GDT, 0x1000 PML4, 0x2000 PDPT,
    /// 0x3000 page directory (one 2 MiB identity page covering the image). Page tables are
    /// prebuilt in the file, so the code needs no loops to build them.
    public static func image(loopIterations: UInt32 = loopIterations) -> [UInt8] {
        var image = [UInt8](repeating: 0, count: 0x4000)
        func put(_ offset: Int, _ bytes: [UInt8]) { image.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
        func le64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

        let magic: UInt32 = 0x1BAD_B002, flags: UInt32 = 0x0001_0000
        let base = loadAddress
        // Multiboot header: magic, flags, checksum (magic + flags + checksum == 0),
        // header_addr, load_addr, load_end_addr, bss_end_addr (none), entry_addr.
        put(0x000, le32(magic) + le32(flags) + le32(0 &- (magic &+ flags))
            + le32(base) + le32(base) + le32(base + UInt32(image.count)) + le32(0) + le32(base + 0x20))

        // 32-bit protected mode, flat segments, paging off (the multiboot hand-over state).
        put(0x020, [
            0xFA,                               // cli
            0xB0, 0x33, 0xE6, 0xE9,             // mov al,'3'; out 0xe9,al   (debugcon: stage 3)
            0x0F, 0x20, 0xE0,                   // mov eax,cr4
            0x83, 0xC8, 0x20,                   // or eax,0x20              (CR4.PAE)
            0x0F, 0x22, 0xE0,                   // mov cr4,eax
            0xB8] + le32(base + 0x1000) + [     // mov eax,PML4
            0x0F, 0x22, 0xD8,                   // mov cr3,eax
            0xB9, 0x80, 0x00, 0x00, 0xC0,       // mov ecx,0xC0000080       (IA32_EFER)
            0x0F, 0x32,                         // rdmsr
            0x0D, 0x00, 0x01, 0x00, 0x00,       // or eax,0x100             (EFER.LME)
            0x0F, 0x30,                         // wrmsr
            0x0F, 0x20, 0xC0,                   // mov eax,cr0
            0x0D, 0x01, 0x00, 0x00, 0x80,       // or eax,0x80000001        (CR0.PG | CR0.PE)
            0x0F, 0x22, 0xC0,                   // mov cr0,eax              (long mode active)
            0xB0, 0x50, 0xE6, 0xE9,             // mov al,'P'; out 0xe9,al   (stage P)
            0x0F, 0x01, 0x15] + le32(base + 0xC0) + [   // lgdt [GDT pointer]
            0xEA] + le32(base + 0x80) + [0x08, 0x00])   // jmp 0x08:64-bit code

        // 64-bit long mode.
        put(0x080, [
            0xB0, 0x4C, 0xE6, 0xE9,             // mov al,'L'; out 0xe9,al   (stage L)
            0x48, 0xC7, 0xC1] + le32(loopIterations) + [  // mov rcx,N
            0x48, 0xFF, 0xC9,                   // 1: dec rcx
            0x75, 0xFB,                         //    jnz 1b
            0xB0, 0x45, 0xE6, 0xE9,             // mov al,'E'; out 0xe9,al   (stage E)
            0xB0, 0x21, 0xE6, 0xF4,             // mov al,0x21; out 0xf4,al  (isa-debug-exit: QEMU exits 67)
            0xF4,                               // 2: hlt
            0xEB, 0xFD])                        //    jmp 2b

        // GDT pointer (limit, base) and GDT: null, 64-bit code (0x08), data (0x10).
        put(0x0C0, [23, 0] + le32(base + 0xD0))
        put(0x0D0, le64(0) + le64(0x00AF_9A00_0000_FFFF) + le64(0x00CF_9200_0000_FFFF))
        // Page tables: PML4[0] → PDPT, PDPT[0] → PD, PD[0] = 2 MiB page at 0 (present, writable, PS).
        put(0x1000, le64(UInt64(base) + 0x2000 | 0x3))
        put(0x2000, le64(UInt64(base) + 0x3000 | 0x3))
        put(0x3000, le64(0x83))
        return image
    }

    /// QEMU's arguments for one probe run.
    /// Equivalent to `qemu-system-x86_64 -accel kvm -machine pc -nodefaults -display none
    /// -no-user-config -m 32 -chardev file,... -device isa-debugcon,iobase=0xe9,...
    /// -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel probe.img`.
    public static func arguments(accelerator: String, imagePath: String, stagesPath: String) -> [String] {
        ["-accel", accelerator, "-machine", "pc", "-nodefaults", "-display", "none", "-no-user-config", "-m", "32",
         "-chardev", "file,id=stages,path=" + stagesPath.split(separator: ",", omittingEmptySubsequences: false).joined(separator: ",,"),
         "-device", "isa-debugcon,iobase=0xe9,chardev=stages",
         "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
         "-kernel", imagePath]
    }

    /// Boots the test guest once, bounded by `timeout`. Needs read/write access to /dev/kvm
    /// for `accelerator` "kvm"; nothing else (no root, no network). The image and the stage
    /// log live in a fresh directory under `temporaryBase` (default `$TMPDIR` or /tmp),
    /// removed afterwards.
    public static func run(qemu: String, accelerator: String = "kvm", timeout: Duration = defaultTimeout,
                           temporaryBase: String? = nil) -> KVMProbeResult {
        let temporaryBase = temporaryBase ?? getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((temporaryBase + "/qnet-kvm-probe.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            return KVMProbeResult(verdict: .failed, accelerator: accelerator, stagesReached: "", seconds: 0,
                                  detail: "cannot create a temporary directory in \(temporaryBase): \(String(cString: strerror(errno)))")
        }
        let directory = String(cString: made)
        let imagePath = directory + "/probe.img", stagesPath = directory + "/stages"
        defer {
            unlink(imagePath)
            unlink(stagesPath)
            rmdir(directory)
        }
        do { try FileSystem.writeAtomically(imagePath, image(), mode: 0o600) } catch {
            return KVMProbeResult(verdict: .failed, accelerator: accelerator, stagesReached: "", seconds: 0, detail: "\(error)")
        }
        let result: SubprocessResult
        do {
            result = try Subprocess.run(Command(qemu, arguments(accelerator: accelerator, imagePath: imagePath, stagesPath: stagesPath)), timeout: timeout)
        } catch {
            return KVMProbeResult(verdict: .failed, accelerator: accelerator, stagesReached: "", seconds: 0, detail: "\(error)")
        }
        let stages = HostRoot.host.read(stagesPath) ?? ""
        return interpret(result.termination, stages: stages, seconds: result.seconds, errors: result.standardError,
                         accelerator: accelerator, timeout: timeout)
    }

    /// Turns QEMU's ending and the stages the guest reported into a verdict.
    public static func interpret(_ termination: Termination, stages: String, seconds: Double, errors: String,
                                 accelerator: String, timeout: Duration) -> KVMProbeResult {
        let time = formatSeconds(seconds)
        let name = accelerator.uppercased()
        switch termination {
        case .exited(successExitStatus):
            return KVMProbeResult(verdict: .runsGuests, accelerator: accelerator, stagesReached: stages, seconds: seconds,
                                  detail: "a test guest booted through the firmware, entered 64-bit mode and ran \(loopIterations / 1_000_000) million loop iterations under \(name) in \(time) s")
        case .timedOut:
            let reached: String
            if stages.contains("L") {
                reached = "it reached 64-bit mode but had not finished \(loopIterations / 1_000_000) million loop iterations (milliseconds of work on a working KVM): \(name) runs guest code far too slowly, as if emulated (nested or PVM KVM)"
            } else if stages.contains("3") {
                reached = "it reached 32-bit protected mode but never got through enabling paging and long mode"
            } else {
                reached = "it never reached its first instruction (stuck in the firmware, \"Booting from ROM\")"
            }
            return KVMProbeResult(verdict: .stalled, accelerator: accelerator, stagesReached: stages, seconds: seconds,
                                  detail: "a test guest did not finish within \(formatSeconds(timeout.seconds)) s and was killed: \(reached)")
        case let .exited(code):
            let message = firstMeaningfulLine(errors) ?? "no message"
            return KVMProbeResult(verdict: .failed, accelerator: accelerator, stagesReached: stages, seconds: seconds,
                                  detail: "QEMU exited with status \(code) under \(name): \(message)")
        case let .signaled(signal):
            return KVMProbeResult(verdict: .failed, accelerator: accelerator, stagesReached: stages, seconds: seconds,
                                  detail: "QEMU was killed by signal \(signal) under \(name)")
        }
    }

    /// QEMU prints "warning: host doesn't support requested feature" lines even on
    /// success; the first other line is the reason it failed.
    static func firstMeaningfulLine(_ text: String) -> String? {
        text.split(separator: "\n").map { $0.trimmingWhitespace() }.first { !$0.isEmpty && !$0.contains("warning:") }
    }

    // MARK: - Per-boot cache

    struct CacheEntry: Codable {
        var schemaVersion: Int
        var bootID: String
        var qemu: String
        var result: KVMProbeResult
    }

    /// The cached verdict for this boot and this QEMU binary, if there is one.
    public static func cachedResult(qemu: String, cacheDirectory: String = defaultCacheDirectory,
                                    bootIDPath: String = bootIDPath) -> KVMProbeResult? {
        guard let bootID = HostRoot.host.readValue(bootIDPath) else { return nil }
        for directory in cacheDirectories(cacheDirectory) {
            // State: read through checked directories, never through a symlink, and only
            // from a regular file of qnet's user (a planted verdict would pick the accelerator).
            guard let bytes = try? DirectoryDescriptor.openState(directory, create: false)?
                      .readStateFile(cacheFileName, kind: "KVM probe verdict"),
                  let entry = try? JSONDecoder().decode(CacheEntry.self, from: Data(bytes)),
                  entry.schemaVersion == 1, entry.bootID == bootID, entry.qemu == qemu else { continue }
            var result = entry.result
            result.fromCache = true
            return result
        }
        return nil
    }

    /// The verdict for this boot: from `cacheDirectory/kvm-probe.json` when it was made
    /// during this boot (same `/proc/sys/kernel/random/boot_id`) with the same QEMU, else
    /// a fresh ``run(qemu:accelerator:timeout:temporaryBase:)`` whose host-wide verdicts
    /// (runs / stalled) are stored there. A user who cannot write /run/qnet keeps it in
    /// `$XDG_RUNTIME_DIR/qnet` instead. `failed` verdicts depend on the caller's
    /// permissions and are never cached.
    public static func cached(qemu: String, timeout: Duration = defaultTimeout, cacheDirectory: String = defaultCacheDirectory,
                              bootIDPath: String = bootIDPath) -> KVMProbeResult {
        if let cached = cachedResult(qemu: qemu, cacheDirectory: cacheDirectory, bootIDPath: bootIDPath) { return cached }
        let result = run(qemu: qemu, accelerator: "kvm", timeout: timeout)
        if result.verdict != .failed, let bootID = HostRoot.host.readValue(bootIDPath) {
            let entry = CacheEntry(schemaVersion: 1, bootID: bootID, qemu: qemu, result: result)
            for directory in cacheDirectories(cacheDirectory) where store(entry, in: directory) { break }
        }
        return result
    }

    /// The cache directory, plus `$XDG_RUNTIME_DIR/qnet` when it is the default /run/qnet.
    static func cacheDirectories(_ directory: String) -> [String] {
        guard directory == defaultCacheDirectory, let runtime = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }),
              runtime.hasPrefix("/") else { return [directory] }
        return [directory, runtime + "/qnet"]
    }

    /// Writes the cache atomically (temporary file, then rename); silently skipped when
    /// the directory cannot be created or written (an unprivileged user and /run/qnet).
    @discardableResult
    static func store(_ entry: CacheEntry, in directory: String) -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(entry) else { return false }
        do {
            guard let opened = try DirectoryDescriptor.openState(directory) else { return false }
            try opened.writeStateFile(cacheFileName, Array(data), mode: 0o644, kind: "KVM probe verdict")
        } catch {
            return false
        }
        return true
    }
}
