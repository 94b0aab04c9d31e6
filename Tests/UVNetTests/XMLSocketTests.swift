import Testing
import UVNet

@Suite struct XMLSocketTests {
    /// What an ``XMLSocket`` reported, copied off the loop thread.
    enum MessageEvent: Sendable, Equatable {
        case connected
        case message(String)
        case closed
        case failed(SocketError.Code)
    }

    /// A raw client ``Socket`` and the server's side wrapped in an ``XMLSocket``; every read of the
    /// server's socket is reported (after the XMLSocket has framed it) to `reads`.
    struct Setup: Sendable {
        let pair: TCPPair
        let xml: LoopBound<XMLSocket>
        let messages: Inbox<MessageEvent>
        let reads: Inbox<Int>

        static func make(on loop: EventLoop, maxMessageSize: Int? = nil) async throws -> Setup {
            let pair = try await TCPPair.connect(on: loop)
            let messages = Inbox<MessageEvent>()
            let reads = Inbox<Int>()
            let xml = try await loop.submit {
                let xml = XMLSocket(socket: pair.server.value)
                if let maxMessageSize { xml.maxMessageSize = maxMessageSize }
                xml.report(to: messages)
                let framing = xml.socket.onData
                xml.socket.onData = { count in
                    framing?(count)
                    reads.put(count)
                }
                return LoopBound(xml, loop: loop)
            }
            return Setup(pair: pair, xml: xml, messages: messages, reads: reads)
        }

        /// Sends `chunk` from the raw client and waits until the server has read all of it.
        func deliver(_ chunk: [UInt8]) async throws {
            try await send(chunk, on: pair.client)
            var read = 0
            while read < chunk.count {
                read += try await reads.next("the server reading \(chunk.count) bytes (\(read) so far)")
            }
        }
    }

    @Test func oneMessageDeliveredOneByteAtATime() async throws {
        try await withLoop { loop in
            let setup = try await Setup.make(on: loop)
            let text = "<move x=\"1\"/> héllo ✓ 🎮"
            let wire = bytes(text) + [0]
            for (index, byte) in wire.enumerated() {
                try await setup.deliver([byte])
                if index < wire.count - 1 {
                    #expect(setup.messages.isEmpty, "a message was delivered after \(index + 1) of \(wire.count) bytes")
                }
            }
            #expect(try await setup.messages.next("the message") == .message(text))
            #expect(setup.messages.drain().isEmpty)
        }
    }

    @Test func messagesSplitAtArbitraryPointsAcrossReads() async throws {
        try await withLoop { loop in
            let setup = try await Setup.make(on: loop)
            try await setup.deliver(bytes("one") + [0] + bytes("tw"))
            #expect(try await setup.messages.next("the first message") == .message("one"))
            try await setup.deliver(bytes("o") + [0] + bytes("three") + [0] + bytes("fo"))
            try await setup.deliver(bytes("ur") + [0] + [0])
            #expect(try await setup.messages.next(4, "the rest") == [.message("two"), .message("three"), .message("four"), .message("")])
            #expect(setup.messages.drain().isEmpty)
        }
    }

    @Test func manyMessagesInOneWriteAreDeliveredInOrder() async throws {
        try await withLoop { loop in
            let setup = try await Setup.make(on: loop)
            let texts = (0..<300).map { "message \($0): " + String(repeating: "x", count: $0 % 17) }
            try await loop.submit {
                var output = setup.pair.client.value
                for text in texts {
                    output.writeUTFBytes(text)
                    output.writeUnsignedByte(0)
                }
                output.flush()
            }
            let received = try await setup.messages.next(texts.count, "message")
            #expect(received == texts.map { .message($0) })
            let reads = setup.reads.drain().count
            #expect(reads < texts.count, "every message came in a read of its own, so coalescing was not exercised")
        }
    }

    @Test func messagesTravelBothWaysBetweenXMLSockets() async throws {
        try await withLoop { loop in
            let clientEvents = Inbox<MessageEvent>()
            let serverEvents = Inbox<MessageEvent>()
            let (client, server) = try await loop.submit {
                let listener = ServerSocket(loop: loop)
                try listener.bind(localPort: 0, localAddress: "::1")
                try listener.listen()
                let serverBox = Box<XMLSocket?>(nil, loop: loop)
                listener.onConnect = { socket in
                    let xml = XMLSocket(socket: socket)
                    xml.report(to: serverEvents)
                    xml.onData = { [weak xml] message in
                        serverEvents.put(.message(message))
                        try? xml?.send("echo: " + message)
                    }
                    serverBox.value = xml
                    serverEvents.put(.connected)
                    listener.close()
                }
                let client = XMLSocket(loop: loop)
                client.report(to: clientEvents)
                try client.connect(host: "::1", port: listener.localPort)
                return (LoopBound(client, loop: loop), serverBox)
            }
            #expect(try await clientEvents.next("the client's connect") == .connected)
            #expect(try await serverEvents.next("the accepted connection") == .connected)
            #expect(try await loop.submit { client.value.connected })
            try await loop.submit {
                try client.value.send("<hello/>")
                try client.value.send("")
                try client.value.send("<bye reason=\"done\"/>")
            }
            #expect(try await clientEvents.next(3, "echo") == [.message("echo: <hello/>"), .message("echo: "), .message("echo: <bye reason=\"done\"/>")])
            #expect(try await serverEvents.next(3, "message") == [.message("<hello/>"), .message(""), .message("<bye reason=\"done\"/>")])
            // The server closes: the client hears it, the server's own onClose stays silent.
            try await loop.submit { server.value?.close() }
            #expect(try await clientEvents.next("the client's close") == .closed)
            try await loop.submit {}
            #expect(serverEvents.drain().isEmpty)
        }
    }

    @Test func messageOverTheLimitIsAnErrorThatClosesTheConnection() async throws {
        try await withLoop { loop in
            let setup = try await Setup.make(on: loop, maxMessageSize: 16)
            // Exactly the limit passes; one byte more, in the same read, is refused.
            try await send(bytes(String(repeating: "a", count: 16)) + [0] + bytes(String(repeating: "b", count: 17)) + [0], on: setup.pair.client)
            #expect(try await setup.messages.next(2, "the message at the limit, then the error")
                    == [.message(String(repeating: "a", count: 16)), .failed(.messageTooLarge)])
            #expect(try await loop.submit { setup.xml.value.socket.isClosed })
            #expect(try await setup.pair.clientEvents.next("the client seeing the server close") == .closed)
            try await loop.submit {}
            #expect(setup.messages.drain().isEmpty, "the server closed itself: no close event, no further messages")
        }
    }

    @Test func unterminatedMessageOverTheLimitIsRefusedBeforeItEnds() async throws {
        try await withLoop { loop in
            let setup = try await Setup.make(on: loop, maxMessageSize: 1_000)
            // No terminator at all: the buffer must not grow without bound.
            try await send(bytes(String(repeating: "z", count: 600)), on: setup.pair.client)
            try await send(bytes(String(repeating: "z", count: 600)), on: setup.pair.client)
            #expect(try await setup.messages.next("the error") == .failed(.messageTooLarge))
            #expect(try await setup.pair.clientEvents.next("the client seeing the server close") == .closed)
            #expect(try await loop.submit { setup.xml.value.socket.isClosed })
        }
    }

    @Test func sendRefusesAMessageContainingAZeroByte() async throws {
        try await withLoop { loop in
            let setup = try await Setup.make(on: loop)
            let (code, pending) = try await loop.submit {
                let client = XMLSocket(socket: setup.pair.client.value)
                let code = thrownCode { try client.send("split\0here") }
                let pending = client.socket.bytesPending
                try client.send("whole")
                return (code, pending)
            }
            #expect(code == .invalidArgument)
            #expect(pending == 0)
            #expect(try await setup.messages.next("the valid message") == .message("whole"))
            #expect(setup.messages.drain().isEmpty)
        }
    }

    @Test func invalidUTF8IsReportedAndSkipped() async throws {
        try await withLoop { loop in
            let setup = try await Setup.make(on: loop)
            try await setup.deliver([0x66, 0xff, 0xfe, 0x6f, 0] + bytes("fine") + [0])
            #expect(try await setup.messages.next(2, "the error, then the next message") == [.failed(.io), .message("fine")])
            #expect(try await loop.submit { setup.xml.value.connected })
        }
    }

    @Test func anXMLSocketNobodyHoldsKeepsWorkingUntilClosed() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            let messages = Inbox<MessageEvent>()
            let weakXML = try await loop.submit {
                // Only the socket's handlers can keep it alive, as the socket's handle keeps the socket.
                let xml = XMLSocket(socket: pair.server.value)
                xml.report(to: messages)
                return WeakBox(xml, loop: loop)
            }
            try await loop.submit {
                var output = pair.client.value
                output.writeUTFBytes("still listening?")
                output.writeUnsignedByte(0)
                output.flush()
            }
            #expect(try await messages.next("the message") == .message("still listening?"))
            #expect(try await loop.submit { weakXML.value != nil })
            // Once the connection is closed, nothing keeps it.
            try await loop.submit { pair.client.value.close() }
            #expect(try await messages.next("the close") == .closed)
            try await loop.submit {}
            #expect(try await loop.submit { weakXML.value == nil })
        }
    }
}

extension XMLSocket {
    /// Routes every event to `events`. Loop thread only.
    func report(to events: Inbox<XMLSocketTests.MessageEvent>) {
        onConnect = { events.put(.connected) }
        onData = { events.put(.message($0)) }
        onClose = { events.put(.closed) }
        onIOError = { events.put(.failed($0.code)) }
    }
}
