import CFuzzer
import Glibc

/// A libFuzzer entry point: `LLVMFuzzerTestOneInput(data, size)`, returning 0.
public typealias FuzzEntry = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

/// The `main` of every fuzz target. Built for fuzzing (`make fuzz`: -sanitize=fuzzer,address
/// -DQNET_FUZZING) it hands the command line to libFuzzer's driver (LLVMFuzzerRunDriver; SwiftPM
/// points `main` at the target's own, which shadows libFuzzer's). In an ordinary build it
/// replays the files (or folders of files) named on the command line once each, so a saved
/// crash input replays under the debugger with a plain `swift build`.
public func fuzzMain(_ entry: FuzzEntry) -> Never {
    #if QNET_FUZZING
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, entry))
    #else
    replayInputs { bytes in _ = bytes.withUnsafeBufferPointer { entry($0.baseAddress, $0.count) } }
    exit(0)
    #endif
}

/// Runs every file named in `arguments` (after the program's name), or every file in a
/// folder named there, through `body` once; prints how many ran.
public func replayInputs(_ arguments: [String] = CommandLine.arguments, _ body: ([UInt8]) -> Void) {
    var count = 0
    for path in arguments.dropFirst() {
        var files = [path]
        if let directory = opendir(path) {
            files = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { files.append(path + "/" + name) }
            }
            closedir(directory)
        }
        for file in files.sorted() {
            guard let bytes = readFile(file) else { print("cannot read \(file)"); exit(1) }
            body(bytes)
            count += 1
        }
    }
    print("replayed \(count) input(s) without a crash")
}

/// The bytes libFuzzer hands to `LLVMFuzzerTestOneInput`, as an array.
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

private func readFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count == 0 { break }
        bytes += chunk[0..<count]
    }
    return bytes
}
