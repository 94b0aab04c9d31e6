import Testing
@_spi(Testing) import UVNet

/// Server and client ``TLSStream``s over real loopback connections on one loop.
@Suite struct TLSStreamTests {
    @Test(arguments: ["127.0.0.1", "::1"])
    func handshakeAndPlaintextBothWays(address: String) async throws {
        try await withLoop { loop in
            let server = try await TLSServer.listen(on: loop, address: address)
            let clientEvents = Inbox<TLSEvent>()
            let client = try await connectTLS(on: loop, host: address, port: server.port, serverName: address, events: clientEvents)
            #expect(try await clientEvents.handshake("the client") == nil)
            #expect(try await server.events.handshake("the server") == nil)
            let accepted = try await server.accepted.next("the accepted stream")
            let facts = try await loop.submit {
                let (c, s) = (client.value.engine, accepted.value.engine)
                return [c.protocolVersion, s.protocolVersion, c.alpnProtocol, s.alpnProtocol,
                        "\(client.value.isHandshakeComplete && accepted.value.isHandshakeComplete)",
                        accepted.value.socket.remoteAddress]
            }
            #expect(facts == ["TLSv1.3", "TLSv1.3", "gamerelay/1", "gamerelay/1", "true", address])

            try await send(bytes("hello over \(address)"), on: client)
            #expect(try await receive(11 + address.utf8.count, from: accepted, events: server.events, "the greeting")
                == bytes("hello over \(address)"))
            try await send(bytes("welcome"), on: accepted)
            #expect(try await receive(7, from: client, events: clientEvents, "the reply") == bytes("welcome"))
            #expect(clientEvents.isEmpty && server.events.isEmpty)
        }
    }

    @Test func a100KiBMessageSpanningManyRecordsArrivesWholeBothWays() async throws {
        try await withLoop { loop in
            let server = try await TLSServer.listen(on: loop)
            let clientEvents = Inbox<TLSEvent>()
            let client = try await connectTLS(on: loop, port: server.port, serverName: "localhost", events: clientEvents)
            #expect(try await clientEvents.handshake("the client") == nil)
            #expect(try await server.events.handshake("the server") == nil)
            let accepted = try await server.accepted.next("the accepted stream")

            let up = pattern(100 * 1024, seed: 1)
            let down = pattern(100 * 1024 + 17, seed: 2)
            try await send(up, on: client)
            try await send(down, on: accepted)
            #expect(try await receive(up.count, from: accepted, events: server.events, "the upload") == up)
            #expect(try await receive(down.count, from: client, events: clientEvents, "the download") == down)
            // Everything reached the kernel: nothing waits in either stream.
            #expect(try await loop.submit { client.value.bytesPending + accepted.value.bytesPending } == 0)
        }
    }

    @Test func writesMadeBeforeTheHandshakeArriveAfterIt() async throws {
        try await withLoop { loop in
            let pendingAtAccept = Inbox<Int>()
            let server = try await TLSServer.listen(on: loop) { stream in
                stream.writeBytes(bytes("server first"))
                stream.flush()
                pendingAtAccept.put(stream.bytesPending)
            }
            let clientEvents = Inbox<TLSEvent>()
            let client = try await connectTLS(on: loop, port: server.port, serverName: "127.0.0.1", events: clientEvents) { stream in
                stream.writeBytes(bytes("client first"))
                stream.flush()
            }
            #expect(try await pendingAtAccept.next("the server's pending bytes") == 12, "the write did not wait for the handshake")
            #expect(try await clientEvents.handshake("the client") == nil)
            #expect(try await server.events.handshake("the server") == nil)
            let accepted = try await server.accepted.next("the accepted stream")
            #expect(try await receive(12, from: accepted, events: server.events, "the client's early bytes") == bytes("client first"))
            #expect(try await receive(12, from: client, events: clientEvents, "the server's early bytes") == bytes("server first"))
        }
    }

    @Test func shutdownOutputBeforeTheHandshakeSendsCloseNotifyAfterIt() async throws {
        try await withLoop { loop in
            let server = try await TLSServer.listen(on: loop)
            let clientEvents = Inbox<TLSEvent>()
            let waiting = Inbox<Bool>()
            let client = try await connectTLS(on: loop, port: server.port, serverName: "localhost", events: clientEvents) { stream in
                stream.writeBytes(bytes("last words"))
                stream.shutdownOutput()
                // Still open: the shutdown waits for the handshake.
                waiting.put(!stream.isClosed && !stream.isHandshakeComplete)
            }
            #expect(try await waiting.next("the state after shutdownOutput") == true)
            #expect(try await clientEvents.handshake("the client") == nil)
            #expect(try await server.events.handshake("the server") == nil)
            let accepted = try await server.accepted.next("the accepted stream")
            #expect(try await receive(10, from: accepted, events: server.events, "the last words") == bytes("last words"))
            #expect(try await server.events.next("the end of the client's stream") == .closed)
            // The stream ended on close_notify: it closed its socket before the FIN was read.
            #expect(server.socketEOF.isEmpty, "the stream ended on the TCP FIN, not on close_notify")
            #expect(try await loop.submit { accepted.value.isClosed && accepted.value.socket.isClosed })
            // The client's socket then sees the server close.
            #expect(try await clientEvents.next("the server's close") == .closed)
            #expect(try await loop.submit { client.value.isClosed })
        }
    }

    @Test func plaintextThatCameWithCloseNotifyStaysReadableAfterTheClose() async throws {
        try await withLoop { loop in
            let server = try await TLSServer.listen(on: loop)
            let clientEvents = Inbox<TLSEvent>()
            let client = try await connectTLS(on: loop, port: server.port, serverName: "localhost", events: clientEvents)
            #expect(try await clientEvents.handshake("the client") == nil)
            #expect(try await server.events.handshake("the server") == nil)
            let accepted = try await server.accepted.next("the accepted stream")
            try await loop.submit {
                accepted.value.writeBytes(bytes("goodbye"))
                accepted.value.shutdownOutput()
            }
            // The client's owner reads nothing in onData (say, it waits for a whole frame).
            var arrived = 0
            while arrived < 7 {
                guard case .data(let count) = try await clientEvents.next("the last bytes") else {
                    Issue.record("the stream ended before its last bytes arrived")
                    return
                }
                arrived += count
            }
            #expect(try await clientEvents.next("the server's close_notify") == .closed)
            let last = try await loop.submit {
                try client.value.readRawBytes(count: client.value.bytesAvailable) { Array($0) }
            }
            #expect(last == bytes("goodbye"))
        }
    }

    @Test func aPeerThatEndsWithoutCloseNotifyIsAPlainClose() async throws {
        // The positive control for the test above: the FIN alone is seen at the socket.
        try await withLoop { loop in
            let server = try await TLSServer.listen(on: loop)
            let clientEvents = Inbox<TLSEvent>()
            let client = try await connectTLS(on: loop, port: server.port, serverName: "localhost", events: clientEvents)
            #expect(try await clientEvents.handshake("the client") == nil)
            #expect(try await server.events.handshake("the server") == nil)
            try await loop.submit { client.value.socket.shutdownOutput() }
            #expect(try await server.events.next("the end of the client's stream") == .closed)
            #expect(try await server.socketEOF.next("the FIN at the socket") == true)
        }
    }

    @Test(arguments: ["localhost", "127.0.0.1", "::1"])
    func theServerNameIsCheckedAgainstTheLeaf(name: String) async throws {
        try await withLoop { loop in
            let server = try await TLSServer.listen(on: loop)
            let clientEvents = Inbox<TLSEvent>()
            _ = try await connectTLS(on: loop, port: server.port, serverName: name, events: clientEvents)
            #expect(try await clientEvents.handshake("the client") == nil)
            #expect(try await server.events.handshake("the server") == nil)
        }
    }

    /// A client whose checks the server's certificate fails, and the reason the client gives.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let name: String
        let context: TLSContext
        let serverName: String
        let detail: String
        var testDescription: String { name }
    }

    @Test(arguments: [
        Refusal(name: "a wrong host name", context: TLSFixtures.clientContext, serverName: "relay.example", detail: "hostname mismatch"),
        Refusal(name: "a wrong address", context: TLSFixtures.clientContext, serverName: "127.0.0.2", detail: "IP address mismatch"),
        Refusal(name: "another root", context: try! TLSContext.client(trustRoots: TLSFixtures.otherPKI.rootPEM),
                serverName: "localhost", detail: "local issuer"),
    ])
    func aCertificateTheClientRefusesFailsBothSides(refusal: Refusal) async throws {
        try await withLoop { loop in
            let server = try await TLSServer.listen(on: loop)
            let clientEvents = Inbox<TLSEvent>()
            _ = try await connectTLS(on: loop, port: server.port, context: refusal.context, serverName: refusal.serverName,
                                     events: clientEvents)
            let clientFailure = try await clientEvents.handshake("the client")
            #expect(clientFailure?.reason == .certificate)
            #expect(clientFailure?.message.contains(refusal.detail) == true, "\(String(describing: clientFailure))")
            #expect(try await clientEvents.next("the client's close") == .failed(.tls))
            // The client's alert reaches the server before its FIN.
            let serverFailure = try await server.events.handshake("the server")
            #expect(serverFailure?.reason == .alert, "\(String(describing: serverFailure))")
            #expect(try await server.events.next("the server's close") == .failed(.tls))
            #expect(try await loop.liveHandlesAfterTurn() == 1, "only the listener should be left")
        }
    }

    /// Bytes a client sends instead of a ClientHello.
    struct Garbage: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let reasons: [TLSFailure.Reason]
        var testDescription: String { name }
    }

    @Test(arguments: [
        Garbage(name: "HTTP", bytes: bytes("GET / HTTP/1.1\r\nHost: relay\r\n\r\n"), reasons: [.protocol]),
        Garbage(name: "0x16, then HTTP", bytes: [0x16] + bytes("GET / HTTP/1.1\r\n\r\n"), reasons: [.protocol, .version]),
        Garbage(name: "a byte pattern", bytes: pattern(512, seed: 9), reasons: [.protocol, .version]),
        Garbage(name: "TLS 1.1 only", bytes: TLSEngineTests.tls11ClientHello, reasons: [.version]),
    ])
    func garbageMakesTheServerFailAndClose(garbage: Garbage) async throws {
        try await withLoop { loop in
            let server = try await TLSServer.listen(on: loop)
            let rawEvents = Inbox<StreamEvent>()
            let raw = try await loop.submit {
                let socket = Socket(loop: loop)
                socket.report(to: rawEvents)
                try socket.connect(host: "127.0.0.1", port: server.port)
                return LoopBound(socket, loop: loop)
            }
            #expect(try await rawEvents.next("connect") == .connected)
            try await send(garbage.bytes, on: raw)
            let failure = try await server.events.handshake("the server")
            #expect(failure.map { garbage.reasons.contains($0.reason) } == true, "\(String(describing: failure))")
            #expect(try await server.events.next("the server's close") == .failed(.tls))
            // The raw client may get an alert, then the server's FIN.
            var event = try await rawEvents.next("the raw client's first event after the failure")
            if case .data(let count) = event {
                let answer = try await loop.submit { try raw.value.readRawBytes(count: count) { Array($0) } }
                #expect(answer.first == 0x15, "the server answered \(answer.prefix(8)) rather than with an alert")
                event = try await rawEvents.next("the raw client's close")
            }
            #expect(event == .closed)
        }
    }

    @Test func aClientThatClosesMidHandshakeIsReportedAsClosed() async throws {
        try await withLoop { loop in
            let server = try await TLSServer.listen(on: loop)
            // The first half of a real ClientHello, then the FIN.
            let hello = TLSEngine(context: TLSFixtures.clientContext, serverName: "localhost")
            _ = hello.handshake()
            let bytes = Array(hello.drainOutput().prefix(100))
            let rawEvents = Inbox<StreamEvent>()
            let raw = try await loop.submit {
                let socket = Socket(loop: loop)
                socket.report(to: rawEvents)
                try socket.connect(host: "127.0.0.1", port: server.port)
                return LoopBound(socket, loop: loop)
            }
            #expect(try await rawEvents.next("connect") == .connected)
            try await send(bytes, on: raw)
            try await loop.submit { raw.value.shutdownOutput() }
            let failure = try await server.events.handshake("the server")
            #expect(failure?.reason == .closed, "\(String(describing: failure))")
            #expect(try await server.events.next("the server's close") == .closed)
            #expect(server.events.isEmpty)
        }
    }

    @Test func aServerThatClosesMidHandshakeIsReportedAsClosed() async throws {
        try await withLoop { loop in
            let rawEvents = Inbox<StreamEvent>()
            let accepted = Inbox<LoopBound<Socket>>()
            let port = try await loop.submit {
                let listener = ServerSocket(loop: loop)
                try listener.bind(localPort: 0, localAddress: "::1")
                try listener.listen()
                listener.onConnect = { socket in
                    socket.report(to: rawEvents)
                    accepted.put(LoopBound(socket, loop: loop))
                }
                return listener.localPort
            }
            let clientEvents = Inbox<TLSEvent>()
            _ = try await connectTLS(on: loop, host: "::1", port: port, serverName: "::1", events: clientEvents)
            let raw = try await accepted.next("the raw server's connection")
            // Wait for the ClientHello's first bytes, then hang up.
            guard case .data = try await rawEvents.next("the ClientHello") else {
                Issue.record("the raw server got no ClientHello")
                return
            }
            try await loop.submit {
                _ = try raw.value.readRawBytes(count: raw.value.bytesAvailable) { $0.count }
                raw.value.close()
            }
            let failure = try await clientEvents.handshake("the client")
            #expect(failure?.reason == .closed, "\(String(describing: failure))")
            #expect(try await clientEvents.next("the client's close") == .closed)
        }
    }

    @Test func aFailedConnectIsAFailedHandshake() async throws {
        try await withLoop { loop in
            let (holder, port) = try await loop.submit {
                let (holder, port) = try SocketTests.refusingPort(loop, "127.0.0.1")
                return (LoopBound(holder, loop: loop), port)
            }
            let clientEvents = Inbox<TLSEvent>()
            _ = try await connectTLS(on: loop, port: port, serverName: "127.0.0.1", events: clientEvents)
            let failure = try await clientEvents.handshake("the client")
            #expect(failure?.reason == .closed, "\(String(describing: failure))")
            #expect(try await clientEvents.next("the connection's failure") == .failed(.io))
            try await loop.submit { holder.value.close() }
        }
    }
}
