// libFuzzer target: netlink datagrams decoded every way qnet could (frames, link, address,
// route, error and attribute bodies). Bad bytes must throw WireError, never trap or throw
// anything else: a trap or the fatalError below is a finding. Seeds: Fuzz/Seeds/netlink
// (the captured fixtures of Tests/NetlinkWireTests, kept equal to them by FuzzSeedTests).
import FuzzSupport
import NetlinkTestSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNetlink(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    if let failure = decodeEveryWay(fuzzInput(data, size)) { fatalError("not a WireError: \(failure)") }
    return 0
}

@main struct Main {
    static func main() { fuzzMain(fuzzNetlink) }
}
