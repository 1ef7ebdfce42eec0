import QMP
import Testing

/// The protocol logic against a scripted peer: handshake bytes, id matching, events,
/// errors, malformed input, closed connections, timeouts.
struct QMPClientFakeTransportTests {
    @Test func handshakeSendsExactlyQmpCapabilities() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        #expect(transport.sent == [#"{"execute":"qmp_capabilities","id":1}"#])
        #expect(transport.sentDescriptors == [nil])
        #expect(client.greeting == QMPGreeting(major: 7, minor: 2, micro: 22, package: "Debian 1:7.2+dfsg-7+deb12u18", capabilities: ["oob"]))
        #expect(client.greeting.version == "7.2.22")
    }

    @Test func commandsCarryIncreasingIdsAndArguments() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        try client.execute("cont")
        try client.execute("getfd", arguments: ["fdname": "tap0"], passing: 9)
        #expect(transport.sent.suffix(2) == [#"{"execute":"cont","id":2}"#, #"{"arguments":{"fdname":"tap0"},"execute":"getfd","id":3}"#])
        #expect(transport.sentDescriptors.suffix(2) == [nil, 9])
    }

    @Test func repliesAreMatchedByIdWithEventsInBetween() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        transport.replies = { line in
            let id = FakeTransport.id(of: line)
            return [
                #"{"timestamp": {"seconds": 1700000000, "microseconds": 250000}, "event": "STOP"}"#,
                #"{"return": {"status": "stale"}, "id": 999}"#,  // a late reply to a timed-out command
                #"{"event": "RESUME", "timestamp": {"seconds": 1700000001, "microseconds": 0}}"#,
                #"{"return": {"running": true, "singlestep": false, "status": "running"}, "id": \#(id)}"#,
                #"{"event": "POWERDOWN", "timestamp": {"seconds": 1700000002, "microseconds": 0}}"#,
            ]
        }
        #expect(try client.queryStatus() == QMPStatus(running: true, status: "running"))
        let events = client.drainEvents()
        #expect(events.map(\.name) == ["STOP", "RESUME", "POWERDOWN"])
        #expect(events[0].timestamp == 1_700_000_000.25)
        #expect(events[0].data == .object([:]))
        #expect(client.drainEvents().isEmpty)
    }

    @Test func waitForEventTakesTheNamedOneAndKeepsTheRest() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        transport.incoming = [
            #"{"event": "RESET", "data": {"guest": true, "reason": "guest-reset"}}"#,
            #"{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}"#,
            #"{"event": "STOP"}"#,
        ]
        let shutdown = try client.waitForEvent(named: "SHUTDOWN", timeout: .seconds(1))
        #expect(shutdown.data["reason"] == "guest-shutdown")
        // Already queued: returned without reading.
        #expect(try client.waitForEvent(named: "RESET").data["guest"] == true)
        #expect(client.drainEvents().map(\.name) == ["STOP"])
        let error = #expect(throws: QMPError.self) { try client.waitForEvent(named: "POWERDOWN", timeout: .milliseconds(50)) }
        #expect(error == .timedOut(waitingFor: "POWERDOWN event", seconds: 0.05))
    }

    @Test func errorReplyIsTyped() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        transport.replies = { line in
            [#"{"id": \#(FakeTransport.id(of: line)), "error": {"class": "GenericError", "desc": "No file descriptor supplied via SCM_RIGHTS"}}"#]
        }
        let error = #expect(throws: QMPError.self) { try client.execute("getfd", arguments: ["fdname": "x"]) }
        #expect(error == .commandFailed(command: "getfd", class: "GenericError", description: "No file descriptor supplied via SCM_RIGHTS"))
        #expect(error?.description == "QMP command 'getfd' failed: GenericError: No file descriptor supplied via SCM_RIGHTS")
    }

    @Test func replyWithoutIdAnswersTheCommandInFlight() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        transport.replies = { _ in [#"{"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword 'x'"}}"#] }
        #expect(throws: QMPError.commandFailed(command: "bogus", class: "GenericError", description: "JSON parse error, invalid keyword 'x'")) {
            try client.execute("bogus")
        }
    }

    @Test func malformedLinesAreReportedAndTheConnectionStaysUsable() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        for (garbage, reason) in [("{not json", "not JSON"), ("[1, 2]", "not a JSON object"), (#"{"hello": 1}"#, "neither a reply, an error nor an event")] {
            transport.replies = { _ in [garbage] }
            let error = #expect(throws: QMPError.self) { try client.execute("query-status") }
            #expect(error == .malformedMessage(garbage, reason: reason))
            #expect(error?.description.contains("\n") == false)
        }
        transport.replies = FakeTransport.echoReturn
        #expect(try client.execute("cont") == .object([:]))
    }

    @Test func closedConnection() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        transport.replies = { _ in transport.closed = true; return [] }
        let error = #expect(throws: QMPError.self) { try client.execute("query-status") }
        #expect(error == .connectionClosed(waitingFor: "the reply to 'query-status'"))
        // quit: QEMU may exit before its reply is read; that is success.
        let quitting = FakeTransport()
        let second = try QMPClient(transport: quitting)
        quitting.replies = { _ in quitting.closed = true; return [] }
        try second.quit()
    }

    @Test func timeoutNamesTheCommand() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        transport.replies = { _ in [] }
        let error = #expect(throws: QMPError.self) { try client.execute("query-status", timeout: .seconds(2)) }
        #expect(error == .timedOut(waitingFor: "reply to 'query-status'", seconds: 2))
        #expect(error?.description == "no reply to 'query-status' from QEMU within 2 s")
    }

    @Test func greetingProblems() {
        #expect(throws: QMPError.unexpectedGreeting(#"{"return": {}}"#)) {
            try QMPClient(transport: FakeTransport(incoming: [#"{"return": {}}"#]))
        }
        #expect(throws: QMPError.unexpectedGreeting("garbage")) { try QMPClient(transport: FakeTransport(incoming: ["garbage"])) }
        let silent = #expect(throws: QMPError.self) { try QMPClient(transport: FakeTransport(incoming: []), timeout: .seconds(1)) }
        #expect(silent?.description.contains("QEMU serves one at a time") == true)
        let closed = FakeTransport(incoming: [])
        closed.closed = true
        #expect(throws: QMPError.connectionClosed(waitingFor: "the QMP greeting")) { try QMPClient(transport: closed) }
        // Capabilities refused (e.g. a monitor already in command mode).
        let refusing = FakeTransport { line in [#"{"error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}, "id": \#(FakeTransport.id(of: line))}"#] }
        #expect(throws: QMPError.self) { try QMPClient(transport: refusing) }
    }

    @Test func convenienceCommandsSendTheirNames() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        try client.cont()
        try client.stop()
        try client.systemPowerdown()
        try client.quit()
        #expect(transport.sent.dropFirst().map { $0.split(separator: ",")[0] } == [
            #"{"execute":"cont""#, #"{"execute":"stop""#, #"{"execute":"system_powerdown""#, #"{"execute":"quit""#,
        ])
        client.close()
        client.close()
        #expect(transport.closed)
    }

    @Test func queryStatusRejectsAShapelessReply() throws {
        let transport = FakeTransport()
        let client = try QMPClient(transport: transport)
        transport.replies = { line in [#"{"return": {"status": 3}, "id": \#(FakeTransport.id(of: line))}"#] }
        #expect(throws: QMPError.self) { try client.queryStatus() }
    }
}
