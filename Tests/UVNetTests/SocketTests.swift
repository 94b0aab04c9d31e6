import Testing
import UVNet

#if canImport(Glibc)
import Glibc
#endif

@Suite struct SocketTests {
    // MARK: Connecting

    /// A host to connect to and the address the server listens on.
    struct Target: Sendable, CustomTestStringConvertible {
        let host: String
        let listenOn: String
        var testDescription: String { host }
    }

    @Test(arguments: [
        Target(host: "localhost", listenOn: "127.0.0.1"),
        Target(host: "127.0.0.1", listenOn: "127.0.0.1"),
        Target(host: "::1", listenOn: "::1"),
        Target(host: "[::1]", listenOn: "::1"),
    ])
    func connectByNameOrLiteral(target: Target) async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop, address: target.listenOn, host: target.host)
            let (connected, remote, remotePort) = try await loop.submit {
                (pair.client.value.connected, pair.client.value.remoteAddress, pair.client.value.remotePort)
            }
            #expect(connected)
            #expect(remote == target.listenOn)
            #expect(remotePort == pair.port)
            try await send(bytes("hello \(target.host)"), on: pair.client)
            let greeting = try await receive(6 + target.host.utf8.count, from: pair.server, events: pair.serverEvents, "the greeting")
            #expect(greeting == bytes("hello \(target.host)"))
        }
    }

    /// A port on `address` where nothing listens and nothing can start to: a bound, never
    /// listening TCP socket holds it, so connections to it are refused.
    static func refusingPort(_ loop: EventLoop, _ address: String) throws -> (ServerSocket, Int) {
        let holder = ServerSocket(loop: loop)
        try holder.bind(localPort: 0, localAddress: address)
        return (holder, holder.localPort)
    }

    @Test(arguments: ["127.0.0.1", "::1", "localhost"])
    func connectToAClosedPortReportsAnIOError(host: String) async throws {
        try await withLoop { loop in
            let events = Inbox<StreamEvent>()
            let holder = try await loop.submit {
                let (holder, port) = try Self.refusingPort(loop, host == "::1" ? "::1" : "127.0.0.1")
                let socket = Socket(loop: loop)
                socket.report(to: events)
                try socket.connect(host: host, port: port)
                return LoopBound(holder, loop: loop)
            }
            let event = try await events.next("the connection's failure")
            guard case .failed(let error) = event else {
                Issue.record("expected a connection failure, got \(event)")
                return
            }
            #expect(error.code == .io)
            #expect(error.uvErrorCode == -ECONNREFUSED)
            // Every handle of the failed attempts is released; only the port holder remains.
            #expect(try await loop.liveHandlesAfterTurn() == 1)
            try await loop.submit { holder.value.close() }
            #expect(try await loop.liveHandlesAfterTurn() == 0)
            #expect(events.drain().isEmpty)
        }
    }

    /// A loopback listener whose accept queue is full, so the kernel drops further SYNs and a
    /// connection attempt neither succeeds nor fails: a destination that does not answer.
    /// Plain POSIX calls, so no event loop accepts from it.
    final class SilentListener: Sendable {
        let fd: Int32
        let port: Int

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw LoopSideFailure(description: "socket: errno \(errno)") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Bool in
                    Glibc.bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
                }
            }
            guard bound, listen(fd, 0) == 0 else {
                Glibc.close(fd)
                throw LoopSideFailure(description: "bind/listen: errno \(errno)")
            }
            self.fd = fd
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        /// Accepts one queued connection, making room for one more; blocking.
        func acceptOne() -> Bool {
            let accepted = accept(fd, nil, nil)
            guard accepted >= 0 else { return false }
            Glibc.close(accepted)
            return true
        }

        deinit { Glibc.close(fd) }
    }

    @Test func connectTimesOutWhenTheDestinationDoesNotAnswer() async throws {
        let listener = try SilentListener()
        try await withLoop { loop in
            let fillers = Inbox<StreamEvent>()
            let probe = Inbox<StreamEvent>()
            // Fill the accept queue (backlog 0 holds one connection) with connections that complete.
            try await loop.submit {
                let filler = Socket(loop: loop)
                filler.report(to: fillers)
                try filler.connect(host: "127.0.0.1", port: listener.port)
            }
            #expect(try await fillers.next("the filler's connect") == .connected)
            let started = try await loop.submit {
                let socket = Socket(loop: loop)
                socket.timeout = .milliseconds(300)
                socket.report(to: probe)
                let started = loop.now
                try socket.connect(host: "127.0.0.1", port: listener.port)
                return started
            }
            let event = try await probe.next("the probe's timeout")
            let ended = try await loop.submit { loop.now }
            guard case .failed(let error) = event else {
                Issue.record("the probe did not time out: \(event); the kernel answered a full accept queue")
                return
            }
            #expect(error.code == .timedOut)
            #expect(ended - started >= 300_000_000, "timed out after \(ended - started) ns, before its 300 ms timeout")
            #expect(try await loop.liveHandlesAfterTurn() == 1, "only the filler should be left")

            // Positive control: with room in the queue the same destination answers.
            #expect(listener.acceptOne())
            try await loop.submit {
                let socket = Socket(loop: loop)
                socket.timeout = .seconds(10)
                socket.report(to: probe)
                try socket.connect(host: "127.0.0.1", port: listener.port)
            }
            #expect(try await probe.next("the control connection") == .connected)
        }
    }

    @Test func connectArgumentErrors() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            let codes = try await loop.submit {
                let fresh = Socket(loop: loop)
                let closed = Socket(loop: loop)
                closed.close()
                return [
                    thrownCode { try fresh.connect(host: "127.0.0.1", port: 0) },
                    thrownCode { try fresh.connect(host: "127.0.0.1", port: 65_536) },
                    thrownCode { try pair.client.value.connect(host: "127.0.0.1", port: pair.port) },
                    thrownCode { try closed.connect(host: "127.0.0.1", port: pair.port) },
                ]
            }
            #expect(codes == [.portOutOfRange, .portOutOfRange, .alreadyConnected, .closed])
        }
    }

    @Test func bytesWrittenBeforeTheConnectionIsUpWaitForIt() async throws {
        try await withLoop { loop in
            let clientEvents = Inbox<StreamEvent>()
            let serverEvents = Inbox<StreamEvent>()
            let accepted = Inbox<LoopBound<Socket>>()
            let pending = try await loop.submit {
                let server = ServerSocket(loop: loop)
                try server.bind(localPort: 0, localAddress: "127.0.0.1")
                try server.listen()
                server.onConnect = { socket in
                    socket.report(to: serverEvents)
                    accepted.put(LoopBound(socket, loop: loop))
                }
                var client = Socket(loop: loop)
                client.report(to: clientEvents)
                try client.connect(host: "127.0.0.1", port: server.localPort)
                client.writeUTFBytes("early bird")
                client.flush()
                return client.bytesPending
            }
            #expect(pending == 10)
            #expect(try await clientEvents.next("connect") == .connected)
            let server = try await accepted.next("the accepted connection")
            #expect(try await receive(10, from: server, events: serverEvents, "the early bytes") == bytes("early bird"))
        }
    }

    /// A flush first offers the bytes to the kernel directly and queues only what it didn't take;
    /// while anything is queued, later flushes queue behind it. 8 MiB written in one go from
    /// inside the loop (whose reads can't run meanwhile) overflows the loopback buffers, so this
    /// goes through a partial direct write, a queued remainder and writes queued behind it.
    @Test func largeAndSmallWritesArriveWholeAndInOrder() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            let first = Self.words(8 << 20, seed: 1)
            let middle = bytes("in between")
            let last = Self.words(1 << 20, seed: 2)
            let client = pair.client
            let queued = try await loop.submit {
                var output = client.value
                output.writeBytes(first)
                output.flush()
                output.writeBytes(middle)
                output.flush()
                output.writeBytes(last)
                output.flush()
                return output.bytesPending
            }
            #expect(queued > 0, "the kernel took all 9 MiB at once; the queued path went untested")
            let expected = first + middle + last
            let received = try await receive(expected.count, from: pair.server, events: pair.serverEvents, "the three writes")
            // memcmp: an element-wise comparison of 9 MiB is slow enough in debug builds to starve other tests.
            let same = received.count == expected.count
                && received.withUnsafeBytes { a in expected.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
            #expect(same)
        }
    }

    /// `count` bytes (a multiple of 8) of distinct 64-bit words, cheap to make in debug builds.
    static func words(_ count: Int, seed: UInt64) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        result.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for index in words.indices { words[index] = (UInt64(index) &+ seed << 40) &* 0x9E37_79B9_7F4A_7C15 }
        }
        return result
    }

    @Test func operationsAfterCloseAreHarmless() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            try await send(bytes("unread"), on: pair.client)
            try await waitForBytes(6, events: pair.serverEvents, "the unread bytes")
            try await loop.submit { pair.server.value.close() }
            // One more turn: the close callback has run and libuv has released the handle.
            try await loop.submit {}
            let after = try await loop.submit {
                var socket = pair.server.value
                socket.pauseReading()
                socket.resumeReading()
                socket.writeUTFBytes("late")
                socket.flush()
                socket.shutdownOutput()
                let reconnect = thrownCode { try socket.connect(host: "127.0.0.1", port: pair.port) }
                let leftover = try socket.readUTFBytes(socket.bytesAvailable)
                return (socket.connected, socket.isClosed, socket.localAddress, socket.remotePort, reconnect, leftover)
            }
            #expect(!after.0)
            #expect(after.1)
            #expect(after.2 == nil)
            #expect(after.3 == 0)
            #expect(after.4 == .closed)
            // Bytes that arrived before the close can still be read.
            #expect(after.5 == "unread")
            // The client hears the close, and nothing written after it.
            #expect(try await pair.clientEvents.next("the client's close") == .closed)
            try await loop.submit {}
            #expect(pair.clientEvents.drain().isEmpty)
        }
    }

    // MARK: DataInput and DataOutput over TCP

    struct Values: Sendable, Equatable {
        var boolean = false
        var byte: Int8 = 0
        var unsignedByte: UInt8 = 0
        var short: Int16 = 0
        var unsignedShort: UInt16 = 0
        var int: Int32 = 0
        var unsignedInt: UInt32 = 0
        var float: Float = 0
        var double: Double = 0
        var utf = ""
        var utfBytes = ""
    }

    static let sample = Values(
        boolean: true, byte: -100, unsignedByte: 200, short: -12_345, unsignedShort: 54_321,
        int: -1_234_567_890, unsignedInt: 3_456_789_012, float: 3.25, double: -1.0e-300,
        utf: "Grüße, 世界 🎮", utfBytes: "ñandú"
    )

    static func write(_ values: Values, to output: inout some DataOutput) throws {
        output.writeBoolean(values.boolean)
        output.writeByte(values.byte)
        output.writeUnsignedByte(values.unsignedByte)
        output.writeShort(values.short)
        output.writeUnsignedShort(values.unsignedShort)
        output.writeInt(values.int)
        output.writeUnsignedInt(values.unsignedInt)
        output.writeFloat(values.float)
        output.writeDouble(values.double)
        try output.writeUTF(values.utf)
        output.writeUTFBytes(values.utfBytes)
    }

    static func read(from input: inout some DataInput, utfBytesLength: Int) throws -> Values {
        Values(
            boolean: try input.readBoolean(), byte: try input.readByte(), unsignedByte: try input.readUnsignedByte(),
            short: try input.readShort(), unsignedShort: try input.readUnsignedShort(),
            int: try input.readInt(), unsignedInt: try input.readUnsignedInt(),
            float: try input.readFloat(), double: try input.readDouble(),
            utf: try input.readUTF(), utfBytes: try input.readUTFBytes(utfBytesLength)
        )
    }

    @Test func dataInputAndOutputRoundTripInBothByteOrders() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            let utfBytesLength = Self.sample.utfBytes.utf8.count
            // 1+1+1+2+2+4+4+4+8 fixed bytes, the UTF string with its 2-byte prefix, the raw UTF bytes.
            let recordLength = 27 + 2 + Self.sample.utf.utf8.count + utfBytesLength
            let defaultOrder = try await loop.submit {
                var client = pair.client.value
                let defaultOrder = client.endian
                try Self.write(Self.sample, to: &client)
                client.endian = .littleEndian
                try Self.write(Self.sample, to: &client)
                // The exact bytes of each width in each order, for a check independent of the reader.
                client.endian = .bigEndian
                client.writeInt(0x0102_0304)
                client.writeShort(0x0506)
                client.endian = .littleEndian
                client.writeInt(0x0102_0304)
                client.writeShort(0x0506)
                client.flush()
                return defaultOrder
            }
            #expect(defaultOrder == .bigEndian)
            try await waitForBytes(2 * recordLength + 12, events: pair.serverEvents, "the records")
            let (big, little, raw, left) = try await loop.submit {
                var server = pair.server.value
                let big = try Self.read(from: &server, utfBytesLength: utfBytesLength)
                server.endian = .littleEndian
                let little = try Self.read(from: &server, utfBytesLength: utfBytesLength)
                let raw = try server.readBytes(12)
                return (big, little, raw, server.bytesAvailable)
            }
            #expect(big == Self.sample)
            #expect(little == Self.sample)
            #expect(raw == [1, 2, 3, 4, 5, 6, 4, 3, 2, 1, 6, 5])
            #expect(left == 0)
        }
    }

    @Test func readsPastTheAvailableBytesAreEndOfFileAndConsumeNothing() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            // A UTF string whose prefix promises 10 bytes, of which 3 are sent first.
            try await send([0, 10] + bytes("abc"), on: pair.client)
            try await waitForBytes(5, events: pair.serverEvents, "the first part")
            let (doubleCode, utfCode, available) = try await loop.submit {
                var server = pair.server.value
                return (thrownCode { _ = try server.readDouble() }, thrownCode { _ = try server.readUTF() }, server.bytesAvailable)
            }
            #expect(doubleCode == .endOfFile)
            #expect(utfCode == .endOfFile)
            #expect(available == 5)
            try await send(bytes("defghij"), on: pair.client)
            try await waitForBytes(7, events: pair.serverEvents, "the rest of the string")
            let (whole, left) = try await loop.submit {
                var server = pair.server.value
                return (try server.readUTF(), server.bytesAvailable)
            }
            #expect(whole == "abcdefghij")
            #expect(left == 0)
        }
    }
}
