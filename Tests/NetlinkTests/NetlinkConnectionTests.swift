import Netlink
import NetlinkTestSupport
import NetlinkWire
import QNetTypes
import SystemPackage
import Testing

/// Runs `body` and returns the NetlinkError it threw (nil, with an issue recorded, otherwise).
func netlinkError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> NetlinkError? {
    do {
        try body()
        Issue.record("expected a NetlinkError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as NetlinkError {
        return error
    } catch {
        Issue.record("expected a NetlinkError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Replies with an ack to every request, from `port`.
func ackEverything(port: UInt32) -> ([NetlinkMessage], Int) -> [[UInt8]] {
    { requests, _ in [Kernel.datagram(requests.map { Kernel.ack($0, port: port) })] }
}

@Suite("NetlinkConnection: requests and acks")
struct ExecuteTests {
    @Test("ack success, against the bytes `ip link set dev veth0 up` exchanged with the kernel")
    func capturedAck() throws {
        // Captured in a throwaway namespace (see Tests/NetlinkWireTests/Fixtures.swift).
        let request = hex(
            "20000000 10000500 13a1066b 00000000",  // nlmsghdr (16 B): len 32, RTM_NEWLINK, REQUEST|ACK, seq 0x6b06a113, pid 0
            "00000000 04000000 01000000 01000000",  // ifinfomsg (16 B): index 4, flags IFF_UP, change IFF_UP
        )
        let ack = hex(
            "24000000 02000001 13a1066b b6100000",  // nlmsghdr (16 B): len 36, NLMSG_ERROR, CAPPED, seq 0x6b06a113, pid 4278
            "00000000",                             // nlmsgerr.error 0
            "20000000 10000500 13a1066b 00000000",  // nlmsgerr.msg: request header (16 B)
        )
        let transport = FakeTransport(portID: 4278) { _, _ in [ack] }
        let connection = NetlinkConnection(transport: transport, firstSequence: 0x6b06_a113)
        let replies = try connection.execute(.newLink, payload: LinkMessage(index: 4, flags: .up, change: .up).encoded())
        #expect(replies.isEmpty)
        #expect(transport.sent == [request])
        #expect(transport.receiveCount == 1)
    }

    @Test("sent bytes: REQUEST|ACK plus the caller's flags, increasing sequence numbers, port 0")
    func sentBytes() throws {
        let transport = FakeTransport(portID: 77, respond: ackEverything(port: 77))
        let connection = NetlinkConnection(transport: transport)
        let payloads: [(MessageType, MessageFlags, [UInt8])] = [
            (.newLink, [.create, .exclusive], LinkMessage(attributes: [.name("br0"), .linkInfo([.kind("bridge")])]).encoded()),
            (.newAddress, [.create, .exclusive], AddressMessage(family: .inet, prefixLength: 24, index: 2).encoded()),
            (.delLink, [], LinkMessage(index: 2).encoded()),
        ]
        for (type, flags, payload) in payloads {
            try connection.execute(type, flags: flags, payload: payload)
        }
        #expect(transport.sent.count == 3)
        for (index, (type, flags, payload)) in payloads.enumerated() {
            let expected = NetlinkMessage(type: type, flags: flags.union([.request, .acknowledge]),
                                          sequence: UInt32(index + 1), portID: 0, payload: payload).encoded()
            #expect(transport.sent[index] == expected)
        }
        let headers = transport.sentMessages.map(\.header)
        #expect(headers.map(\.sequence) == [1, 2, 3])
        #expect(headers.map(\.flags.rawValue) == [0x0605, 0x0605, 0x0005])
        #expect(headers.allSatisfy { $0.portID == 0 })
        #expect(headers.map(\.length) == [UInt32(transport.sent[0].count), 24, 32])
    }

    @Test("sequence numbers wrap past UInt32.max and skip 0")
    func sequenceWraps() throws {
        let transport = FakeTransport(respond: ackEverything(port: 4242))
        let connection = NetlinkConnection(transport: transport, firstSequence: .max)
        for _ in 0..<3 { try connection.execute(.setLink, payload: LinkMessage(index: 1).encoded()) }
        #expect(transport.sentMessages.map(\.header.sequence) == [.max, 1, 2])
    }

    @Test("messages before the ack are returned (get, NLM_F_ECHO)")
    func repliesBeforeAck() throws {
        let transport = FakeTransport(portID: 9) { requests, _ in
            let request = requests[0]
            return [Kernel.datagram(Kernel.link("br0", index: 2, sequence: request.header.sequence, port: 9, flags: []),
                                    Kernel.ack(request, port: 9))]
        }
        let connection = NetlinkConnection(transport: transport)
        let replies = try connection.get(.getLink, payload: LinkMessage(attributes: [.name("br0")]).encoded())
        #expect(try linkNames(replies) == ["br0"])
        #expect(transport.sentMessages.first?.header.flags == [.request, .acknowledge])
    }

    @Test("kernel error with ext-ack, captured: `ip route add 10.0.0.0/8 via 192.168.99.1`", arguments: [
        // Not capped (as iproute2 receives it): the request is echoed before the ext-ack text.
        (UInt32(4646), hex(
            "60000000 02000002 13a1066b 26120000",  // nlmsghdr (16 B): len 96, NLMSG_ERROR, ACK_TLVS, seq 0x6b06a113, pid 4646
            "9bffffff",                             // nlmsgerr.error -101 (ENETUNREACH)
            "2c000000 18000506 13a1066b 00000000",  // nlmsgerr.msg: echoed request (44 B) ...
            "02080000 fe030001 00000000 08000100 0a000000 08000500 c0a86301",
            "20000100 4e657874 686f7020 68617320 696e7661 6c696420 67617465 77617900",  // NLMSGERR_ATTR_MSG
        )),
        // Capped (NETLINK_CAP_ACK, as NetlinkSocket receives it): header only, then the text.
        (UInt32(6753), hex(
            "44000000 02000003 13a1066b 611a0000",  // nlmsghdr (16 B): len 68, NLMSG_ERROR, CAPPED|ACK_TLVS, seq 0x6b06a113, pid 6753
            "9bffffff",                             // nlmsgerr.error -101 (ENETUNREACH)
            "2c000000 18000506 13a1066b 00000000",  // nlmsgerr.msg: request header (16 B)
            "20000100 4e657874 686f7020 68617320 696e7661 6c696420 67617465 77617900",  // NLMSGERR_ATTR_MSG
        )),
    ])
    func capturedKernelError(port: UInt32, reply: [UInt8]) throws {
        let transport = FakeTransport(portID: port) { _, _ in [reply] }
        let connection = NetlinkConnection(transport: transport, firstSequence: 0x6b06_a113)
        let route = RouteMessage(family: .inet, destinationLength: 8, attributes: [
            .destination(try #require(IPAddress("10.0.0.0"))), .gateway(try #require(IPAddress("192.168.99.1"))),
        ])
        let error = netlinkError { try connection.execute(.newRoute, flags: [.create, .exclusive], payload: route.encoded()) }
        #expect(error == .kernel(errno: .networkUnreachable, extAck: "Nexthop has invalid gateway", request: .newRoute))
        #expect(error?.errno == .networkUnreachable)
        #expect(error?.description.contains("(kernel: Nexthop has invalid gateway)") == true)
        // The request went out exactly as iproute2 sent it.
        #expect(transport.sent == [hex(
            "2c000000 18000506 13a1066b 00000000",  // nlmsghdr: len 44, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE
            "02080000 fe030001 00000000",           // rtmsg: AF_INET, dst_len 8, main, boot, universe, unicast
            "08000100 0a000000",                    // RTA_DST 10.0.0.0
            "08000500 c0a86301",                    // RTA_GATEWAY 192.168.99.1
        )])
    }

    @Test("kernel error without ext-ack: EEXIST is told apart from other errors")
    func errorWithoutText() throws {
        let transport = FakeTransport { requests, _ in [Kernel.datagram(Kernel.error(-17, requests[0], port: 4242))] }
        let connection = NetlinkConnection(transport: transport)
        let error = netlinkError { try connection.execute(.newLink, flags: [.create, .exclusive], payload: LinkMessage().encoded()) }
        #expect(error == .kernel(errno: .fileExists, extAck: nil, request: .newLink))
        #expect(error?.errno == .fileExists)
        #expect(error?.errno != .notPermitted)
    }

    @Test("replies with a wrong sequence number or port id are skipped")
    func foreignRepliesSkipped() throws {
        let port: UInt32 = 500
        let transport = FakeTransport(portID: port) { requests, _ in
            let request = requests[0]
            let sequence = request.header.sequence
            return [
                Kernel.datagram(
                    // A stale error for an earlier, abandoned request.
                    Kernel.error(-1, request, port: port, extAck: "stale", sequence: sequence &- 1),
                    // Our sequence number, but another socket's port.
                    Kernel.error(-1, request, port: port + 1, extAck: "other socket"),
                    // Some later sequence number.
                    Kernel.error(-16, request, port: port, sequence: sequence &+ 7),
                    Kernel.link("stale0", index: 9, sequence: sequence &- 1, port: port, flags: [])
                ),
                Kernel.datagram(Kernel.link("other0", index: 9, sequence: sequence, port: 0, flags: [])),
                Kernel.datagram(Kernel.ack(request, port: port)),
            ]
        }
        let connection = NetlinkConnection(transport: transport, firstSequence: 1000)
        let replies = try connection.execute(.setLink, payload: LinkMessage(index: 3, flags: .up, change: .up).encoded())
        #expect(replies.isEmpty)
        #expect(transport.receiveCount == 3)
    }

    @Test("an error code of Int32.min is reported, not trapped on")
    func extremeErrorCode() throws {
        let transport = FakeTransport { requests, _ in [Kernel.datagram(Kernel.error(.min, requests[0], port: 4242))] }
        let connection = NetlinkConnection(transport: transport)
        let error = netlinkError { try connection.execute(.newLink, payload: LinkMessage().encoded()) }
        #expect(error == .kernel(errno: Errno(rawValue: .min), extAck: nil, request: .newLink))
    }

    @Test("a transport that closes surfaces its error")
    func transportCloses() {
        let connection = NetlinkConnection(transport: FakeTransport())
        #expect(netlinkError { try connection.execute(.newLink, payload: LinkMessage().encoded()) } == .connectionClosed)
    }
}

@Suite("NetlinkConnection: dumps")
struct DumpTests {
    static let port: UInt32 = 31337

    @Test("multipart dump across several datagrams ending in NLMSG_DONE")
    func multipart() throws {
        let port = Self.port
        let transport = FakeTransport(portID: port) { requests, _ in
            let sequence = requests[0].header.sequence
            return [
                Kernel.datagram(Kernel.link("lo", index: 1, sequence: sequence, port: port),
                                Kernel.link("br0", index: 2, sequence: sequence, port: port)),
                Kernel.datagram(Kernel.link("veth1", index: 3, sequence: sequence, port: port),
                                NetlinkMessage(type: .noop, flags: .multipart, sequence: sequence, portID: port, payload: []),
                                Kernel.link("stale", index: 9, sequence: sequence &- 1, port: port),
                                Kernel.link("veth0", index: 4, sequence: sequence, port: port)),
                Kernel.datagram(Kernel.done(sequence: sequence, port: port)),
            ]
        }
        let connection = NetlinkConnection(transport: transport, firstSequence: 7)
        let messages = try connection.dump(.getLink, payload: LinkMessage().encoded())
        #expect(try linkNames(messages) == ["lo", "br0", "veth1", "veth0"])
        #expect(messages.allSatisfy { $0.header.type == .newLink })
        #expect(transport.receiveCount == 3)
        // The dump request: REQUEST|DUMP (0x301), no ACK.
        #expect(transport.sent == [NetlinkMessage(type: .getLink, flags: [.request, .dump], sequence: 7,
                                                  payload: LinkMessage().encoded()).encoded()])
        #expect(transport.sentMessages[0].header.flags.rawValue == 0x0301)
    }

    @Test("the captured NLMSG_DONE of `ip link show` ends a dump")
    func capturedDone() throws {
        let done = hex(
            "14000000 03000200 13a1066b 54120000",  // nlmsghdr (16 B): len 20, NLMSG_DONE, MULTI, seq 0x6b06a113, pid 4692
            "00000000",                             // error 0
        )
        let transport = FakeTransport(portID: 4692) { requests, _ in
            [Kernel.datagram(Kernel.link("lo", index: 1, sequence: requests[0].header.sequence, port: 4692)), done]
        }
        let connection = NetlinkConnection(transport: transport, firstSequence: 0x6b06_a113)
        #expect(try linkNames(connection.dump(.getLink, payload: LinkMessage().encoded())) == ["lo"])
    }

    @Test("NLM_F_DUMP_INTR: the dump is retried and the second attempt's result returned",
          arguments: [false, true])
    func interruptedThenRetried(flagOnlyDone: Bool) throws {
        let port = Self.port
        let transport = FakeTransport(portID: port) { requests, index in
            let sequence = requests[0].header.sequence
            if index == 0 {
                let interrupted: MessageFlags = [.multipart, .dumpInterrupted]
                return [Kernel.datagram(
                    Kernel.link("lo", index: 1, sequence: sequence, port: port),
                    Kernel.link("old0", index: 5, sequence: sequence, port: port, flags: flagOnlyDone ? .multipart : interrupted),
                    Kernel.done(sequence: sequence, port: port, flags: flagOnlyDone ? interrupted : .multipart))]
            }
            return [Kernel.datagram(
                Kernel.link("lo", index: 1, sequence: sequence, port: port),
                Kernel.link("new0", index: 6, sequence: sequence, port: port),
                Kernel.done(sequence: sequence, port: port))]
        }
        let connection = NetlinkConnection(transport: transport)
        let messages = try connection.dump(.getLink, payload: LinkMessage().encoded())
        #expect(try linkNames(messages) == ["lo", "new0"])
        // Two dump requests, with new sequence numbers and the same body.
        let sent = transport.sentMessages
        #expect(sent.map(\.header.sequence) == [1, 2])
        #expect(sent.map(\.header.flags) == [[.request, .dump], [.request, .dump]])
        #expect(sent[0].payload == sent[1].payload)
    }

    @Test("NLM_F_DUMP_INTR on every attempt: .dumpInterrupted after dumpAttempts", arguments: [1, 3, 5])
    func interruptedEveryTime(attempts: Int) {
        let port = Self.port
        let transport = FakeTransport(portID: port) { requests, _ in
            let sequence = requests[0].header.sequence
            return [Kernel.datagram(
                Kernel.link("lo", index: 1, sequence: sequence, port: port, flags: [.multipart, .dumpInterrupted]),
                Kernel.done(sequence: sequence, port: port, flags: [.multipart, .dumpInterrupted]))]
        }
        let connection = NetlinkConnection(transport: transport)
        if attempts != 5 { connection.dumpAttempts = attempts } else { #expect(connection.dumpAttempts == 5) }
        let error = netlinkError { _ = try connection.dump(.getAddress, payload: AddressMessage(family: .inet).encoded()) }
        #expect(error == .dumpInterrupted(attempts: attempts))
        #expect(transport.sent.count == attempts)
    }

    @Test("NLMSG_DONE carrying a negative errno fails the dump")
    func doneWithErrno() {
        let port = Self.port
        let transport = FakeTransport(portID: port) { requests, _ in
            let sequence = requests[0].header.sequence
            return [Kernel.datagram(Kernel.link("lo", index: 1, sequence: sequence, port: port),
                                    Kernel.done(sequence: sequence, port: port, code: -105))]  // ENOBUFS
        }
        let connection = NetlinkConnection(transport: transport)
        let error = netlinkError { _ = try connection.dump(.getLink, payload: LinkMessage().encoded()) }
        #expect(error == .kernel(errno: .noBufferSpace, extAck: nil, request: .getLink))
    }

    @Test("NLMSG_DONE with Int32.min or without a payload does not trap")
    func doneEdgeCases() throws {
        let port = Self.port
        let minimum = NetlinkConnection(transport: FakeTransport(portID: port) { requests, _ in
            [Kernel.datagram(Kernel.done(sequence: requests[0].header.sequence, port: port, code: .min))]
        })
        #expect(netlinkError { _ = try minimum.dump(.getLink, payload: LinkMessage().encoded()) }
                == .kernel(errno: Errno(rawValue: .min), extAck: nil, request: .getLink))

        let bare = NetlinkConnection(transport: FakeTransport(portID: port) { requests, _ in
            [Kernel.datagram(NetlinkMessage(type: .done, flags: .multipart, sequence: requests[0].header.sequence,
                                            portID: port, payload: []))]
        })
        #expect(try bare.dump(.getLink, payload: LinkMessage().encoded()).isEmpty)
    }

    @Test("a dump refused up front (NLMSG_ERROR) throws the kernel error")
    func dumpRefused() {
        let transport = FakeTransport { requests, _ in
            [Kernel.datagram(Kernel.error(-95, requests[0], port: 4242, extAck: "dump not supported"))]  // EOPNOTSUPP
        }
        let connection = NetlinkConnection(transport: transport)
        let error = netlinkError { _ = try connection.dump(.getRoute, payload: RouteMessage(family: .inet).encoded()) }
        #expect(error == .kernel(errno: .notSupportedOnSocket, extAck: "dump not supported", request: .getRoute))
    }
}

@Suite("NetlinkConnection: batches")
struct BatchTests {
    @Test("executeBatch: mixed success and failure, results in request order")
    func mixedResults() throws {
        let port: UInt32 = 88
        let transport = FakeTransport(portID: port) { requests, _ in
            guard requests.count == 3 else { return [] }
            // Acks arrive out of order and split over datagrams, with a foreign one mixed in.
            return [
                Kernel.datagram(Kernel.ack(requests[2], port: port),
                                Kernel.error(-1, requests[1], port: port + 1),
                                Kernel.ack(requests[0], port: port)),
                Kernel.datagram(Kernel.error(-17, requests[1], port: port, extAck: "bridge exists")),
            ]
        }
        let connection = NetlinkConnection(transport: transport, firstSequence: 40)
        let bridge = LinkMessage(attributes: [.name("br0"), .linkInfo([.kind("bridge")])]).encoded()
        let results = try connection.executeBatch([
            (type: .newLink, flags: [.create, .exclusive], payload: bridge),
            (type: .newLink, flags: [.create, .exclusive], payload: bridge),
            (type: .setLink, flags: [], payload: LinkMessage(index: 2, flags: .up, change: .up).encoded()),
        ])
        #expect(results.count == 3)
        #expect((try? results[0].get()) != nil)
        #expect(results[1].failure == .kernel(errno: .fileExists, extAck: "bridge exists", request: .newLink))
        #expect((try? results[2].get()) != nil)

        // One datagram, three messages, consecutive sequence numbers, REQUEST|ACK on each.
        #expect(transport.sent.count == 1)
        let sent = transport.sentMessages
        #expect(sent.map(\.header.sequence) == [40, 41, 42])
        #expect(sent.allSatisfy { $0.header.flags.isSuperset(of: [.request, .acknowledge]) })
        #expect(sent.map(\.header.flags.rawValue) == [0x0605, 0x0605, 0x0005])
        #expect(sent.map(\.header.type) == [.newLink, .newLink, .setLink])
    }

    @Test("executeBatchFailures: nil for each ack, the error for each failure, in request order")
    func failuresInRequestOrder() throws {
        let port: UInt32 = 89
        let transport = FakeTransport(portID: port) { requests, _ in
            guard requests.count == 3 else { return [] }
            return [Kernel.datagram(Kernel.error(-19, requests[1], port: port), Kernel.ack(requests[2], port: port)),
                    Kernel.datagram(Kernel.ack(requests[0], port: port))]
        }
        let connection = NetlinkConnection(transport: transport, firstSequence: 7)
        let payload = LinkMessage(index: 2, flags: .up, change: .up).encoded()
        let failures = try connection.executeBatchFailures(Array(repeating: (type: .setLink, flags: [], payload: payload), count: 3))
        #expect(failures.count == 3)
        #expect(failures[0] == nil && failures[2] == nil)
        #expect(failures[1] == .kernel(errno: .operationNotSupportedByDevice, extAck: nil, request: .setLink))  // ENODEV
    }

    @Test("executeBatch splits datagrams at the limit")
    func splitsDatagrams() throws {
        let transport = FakeTransport(respond: ackEverything(port: 4242))
        let connection = NetlinkConnection(transport: transport)
        let payload = LinkMessage(index: 2).encoded()  // 16 B: 32-byte messages
        let results = try connection.executeBatch(Array(repeating: (type: .delLink, flags: [], payload: payload), count: 5),
                                                  datagramLimit: 64)
        #expect(results.count == 5)
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        #expect(transport.sent.map(\.count) == [64, 64, 32])
        #expect(transport.sentMessages.map(\.header.sequence) == [1, 2, 3, 4, 5])
    }

    @Test("executeBatch of nothing sends nothing")
    func emptyBatch() throws {
        let transport = FakeTransport()
        #expect(try NetlinkConnection(transport: transport).executeBatch([]).isEmpty)
        #expect(transport.sent.isEmpty)
    }
}

@Suite("NetlinkConnection: malformed replies")
struct MalformedReplyTests {
    static func isMalformed(_ error: NetlinkError?) -> Bool {
        if case .malformedReply = error { true } else { false }
    }

    @Test("a datagram whose nlmsg_len is below the header size")
    func shortLength() {
        var bad = Kernel.datagram(Kernel.done(sequence: 1, port: 4242))
        bad[0] = 8
        let connection = NetlinkConnection(transport: FakeTransport { _, _ in [bad] })
        let error = netlinkError { try connection.execute(.newLink, payload: LinkMessage().encoded()) }
        #expect(Self.isMalformed(error))
        if case let .malformedReply(wire)? = error {
            #expect(wire == .badLength(what: "nlmsghdr.nlmsg_len", length: 8, available: 20))
        }
    }

    @Test("a truncated datagram in a dump")
    func truncatedDump() {
        let connection = NetlinkConnection(transport: FakeTransport { requests, _ in
            [Array(Kernel.datagram(Kernel.link("lo", index: 1, sequence: requests[0].header.sequence, port: 4242)).prefix(30))]
        })
        #expect(Self.isMalformed(netlinkError { _ = try connection.dump(.getLink, payload: LinkMessage().encoded()) }))
    }

    @Test("an NLMSG_ERROR whose body is cut short", arguments: [0, 3, 4, 19])
    func shortErrorBody(length: Int) {
        let connection = NetlinkConnection(transport: FakeTransport { requests, _ in
            let full = Kernel.error(-22, requests[0], port: 4242)
            let cut = NetlinkMessage(header: full.header, payload: Array(full.payload.prefix(length)))
            return [Kernel.datagram(cut)]
        })
        #expect(Self.isMalformed(netlinkError { try connection.execute(.newLink, payload: LinkMessage().encoded()) }))
    }

    @Test("an NLMSG_ERROR with broken ext-ack TLVs, in a batch")
    func brokenExtAckInBatch() {
        let connection = NetlinkConnection(transport: FakeTransport { requests, _ in
            let full = Kernel.error(-22, requests[0], port: 4242, extAck: "invalid")
            var payload = full.payload
            payload[20] = 0xff  // NLMSGERR_ATTR_MSG's nla_len now runs past the end
            return [Kernel.datagram(NetlinkMessage(header: full.header, payload: payload))]
        })
        let error = netlinkError { _ = try connection.executeBatch([(type: .newLink, flags: [], payload: LinkMessage().encoded())]) }
        #expect(Self.isMalformed(error))
    }
}

extension Result {
    var failure: Failure? {
        if case let .failure(error) = self { error } else { nil }
    }
}
