import Testing
import UVNet

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ServerSocketTests {
    @Test func listenBeforeBindIsNotBound() async throws {
        try await withLoop { loop in
            let (code, listening) = try await loop.submit {
                let server = ServerSocket(loop: loop)
                defer { server.close() }
                return (thrownCode { try server.listen() }, server.listening)
            }
            #expect(code == .notBound)
            #expect(!listening)
        }
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func bindToAPortInUseIsAddressInUseAtBind(address: String) async throws {
        try await withLoop { loop in
            let (code, bound, retried) = try await loop.submit {
                let first = ServerSocket(loop: loop)
                try first.bind(localPort: 0, localAddress: address)
                try first.listen()
                let second = ServerSocket(loop: loop)
                let code = thrownCode { try second.bind(localPort: first.localPort, localAddress: address) }
                let bound = second.bound
                // The failed bind leaves the socket usable.
                try second.bind(localPort: 0, localAddress: address)
                try second.listen()
                return (code, bound, second.listening && second.localPort != first.localPort)
            }
            #expect(code == .addressInUse)
            #expect(!bound)
            #expect(retried)
        }
    }

    @Test func bindArgumentErrors() async throws {
        try await withLoop { loop in
            let codes = try await loop.submit {
                let server = ServerSocket(loop: loop)
                defer { server.close() }
                var codes: [SocketError.Code?] = []
                codes.append(thrownCode { try server.bind(localPort: 70_000, localAddress: "127.0.0.1") })
                codes.append(thrownCode { try server.bind(localPort: 0, localAddress: "localhost") })
                try server.bind(localPort: 0, localAddress: "127.0.0.1")
                codes.append(thrownCode { try server.bind(localPort: 0, localAddress: "127.0.0.1") })
                codes.append(thrownCode { try server.listen(backlog: -1) })
                server.close()
                codes.append(thrownCode { try server.listen() })
                return codes
            }
            #expect(codes == [.portOutOfRange, .invalidAddress, .alreadyBound, .invalidArgument, .closed])
        }
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func acceptEchoAndPeerCloseFiresOnCloseOnlyOnTheOtherSide(address: String) async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop, address: address)
            let server = pair.server
            // Echo on the server side.
            try await loop.submit {
                let socket = server.value
                socket.onData = { _ in
                    var echo = socket
                    guard let bytes = try? echo.readBytes(echo.bytesAvailable) else { return }
                    echo.writeBytes(bytes)
                    echo.flush()
                }
                socket.onClose = { pair.serverEvents.put(.closed) }
            }
            try await send(bytes("ping, over TCP"), on: pair.client)
            let echoed = try await receive(14, from: pair.client, events: pair.clientEvents, "the echo")
            #expect(echoed == bytes("ping, over TCP"))

            let ends = try await loop.submit {
                (client: pair.client.value.localSocketAddress, clientRemote: pair.client.value.remoteSocketAddress,
                 server: server.value.localSocketAddress, serverRemote: server.value.remoteSocketAddress,
                 listener: pair.listener.value.localSocketAddress)
            }
            #expect(ends.listener?.ipAddress == address)
            #expect(ends.clientRemote == ends.listener)
            #expect(ends.server == ends.listener)
            #expect(ends.serverRemote == ends.client)
            #expect(ends.client?.ipAddress == address)

            // Local close: the server hears of it, the client's own onClose stays silent.
            let stateAfterClose = try await loop.submit {
                pair.client.value.close()
                return (pair.client.value.connected, pair.client.value.isClosed)
            }
            #expect(!stateAfterClose.0)
            #expect(stateAfterClose.1)
            #expect(try await pair.serverEvents.next("the server's close event") == .closed)
            try await loop.submit {}
            #expect(pair.clientEvents.drain().isEmpty)
            let serverState = try await loop.submit { (server.value.connected, server.value.isClosed) }
            #expect(!serverState.0)
            #expect(serverState.1)
            #expect(try await loop.submit { pair.listener.value.listening })
        }
    }

    @Test func serverSideCloseFiresTheClientsOnClose() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            try await loop.submit { pair.server.value.close() }
            #expect(try await pair.clientEvents.next("the client's close event") == .closed)
            try await loop.submit {}
            #expect(pair.serverEvents.drain().isEmpty)
            // The listener still accepts after one connection is gone.
            let again = try await TCPPair.connect(on: loop)
            #expect(again.port != 0)
        }
    }

    @Test func peerCloseDeliversItsLastBytesBeforeOnClose() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            try await loop.submit {
                var output = pair.client.value
                output.writeUTFBytes("last words")
                output.flush()
                output.shutdownOutput()
            }
            let lastWords = try await receive(10, from: pair.server, events: pair.serverEvents, "the last bytes")
            #expect(lastWords == bytes("last words"))
            #expect(try await pair.serverEvents.next("the close after the last bytes") == .closed)
        }
    }

    /// A TCP socket bound to 127.0.0.1:`port` that does not listen: connections are refused,
    /// and no one else can bind the port while it is open.
    static func reserve(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoopSideFailure(description: "socket() failed: \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(fd)
            throw LoopSideFailure(description: "port \(port) was taken as soon as the listener closed (errno \(errno))")
        }
        return fd
    }

    @Test func closingTheListenerKeepsAcceptedSocketsOpenAndRefusesNewConnections() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            let refusedEvents = Inbox<StreamEvent>()
            let reservation = try await loop.submit {
                let port = pair.listener.value.localPort
                pair.listener.value.close()
                // Hold the port with a socket that is bound but never listens, so a listener
                // another test binds meanwhile can't take the port and accept this connection.
                let reservation = try Self.reserve(port: port)
                let late = Socket(loop: loop)
                late.report(to: refusedEvents)
                try late.connect(host: "127.0.0.1", port: port)
                return reservation
            }
            defer { close(reservation) }
            guard case .failed(let error) = try await refusedEvents.next("the refused connection's error") else {
                Issue.record("a connection to a closed listener did not fail")
                return
            }
            #expect(error.code == .io)
            #expect(error.uvErrorCode == -ECONNREFUSED)
            // The accepted connection still carries data both ways.
            try await send(bytes("still here"), on: pair.client)
            #expect(try await receive(10, from: pair.server, events: pair.serverEvents, "bytes after the listener closed") == bytes("still here"))
            try await send(bytes("me too"), on: pair.server)
            #expect(try await receive(6, from: pair.client, events: pair.clientEvents, "bytes back") == bytes("me too"))
        }
    }

    @Test func withoutAnOnConnectHandlerConnectionsAreClosedAtOnce() async throws {
        try await withLoop { loop in
            let events = Inbox<StreamEvent>()
            try await loop.submit {
                let server = ServerSocket(loop: loop)
                try server.bind(localPort: 0, localAddress: "127.0.0.1")
                try server.listen()
                let client = Socket(loop: loop)
                client.report(to: events)
                try client.connect(host: "127.0.0.1", port: server.localPort)
            }
            #expect(try await events.next(2, "connect, then the server's close") == [.connected, .closed])
        }
    }

    @Test func bytesPendingReportsBackPressureAndDrainsToZero() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            let total = 16 << 20
            let payload = repeatedPattern(total)
            // The peer stops reading: the kernel buffers fill and the rest queues in libuv.
            let (beforeFlush, afterFlush) = try await loop.submit {
                pair.server.value.pauseReading()
                var output = pair.client.value
                output.writeBytes(payload)
                let beforeFlush = output.bytesPending
                output.flush()
                return (beforeFlush, output.bytesPending)
            }
            #expect(beforeFlush == total, "unflushed output counts as pending")
            #expect(afterFlush > 0, "16 MiB to a peer that does not read left nothing pending")
            #expect(afterFlush < total, "the kernel took nothing")

            // Still pending a loop turn later: nobody reads.
            try await loop.submit {}
            let stillPending = try await loop.submit { pair.client.value.bytesPending }
            #expect(stillPending > 0)
            #expect(pair.serverEvents.drain().isEmpty, "the paused peer reported data")

            // The peer reads again: every byte arrives intact, and by then nothing is pending.
            let atEnd = Inbox<(pending: Int, mismatches: Int)>()
            try await loop.submit {
                let server = pair.server.value
                let client = pair.client.value
                var received = 0
                var mismatches = 0
                server.onData = { _ in
                    let count = server.bytesAvailable
                    guard count > 0 else { return }
                    let same = try? server.readRawBytes(count: count) { chunk in
                        received + count <= total && payload.withUnsafeBytes { expected in
                            memcmp(chunk.baseAddress!, expected.baseAddress! + received, count) == 0
                        }
                    }
                    if same != true { mismatches += 1 }
                    received += count
                    if received >= total { atEnd.put((client.bytesPending, mismatches)) }
                }
                server.resumeReading()
            }
            let end = try await atEnd.next("the last byte at the peer", timeout: .seconds(60))
            #expect(end.pending == 0)
            #expect(end.mismatches == 0, "received bytes differ from those sent")
        }
    }
}

/// `count` bytes of a pattern that repeats every 4,099 bytes (a prime, so it never lines up with
/// buffer sizes), built with block copies so that megabytes cost little in debug builds.
func repeatedPattern(_ count: Int) -> [UInt8] {
    let block = pattern(4_099, seed: 5)
    var result: [UInt8] = []
    result.reserveCapacity(count + block.count)
    while result.count < count { result.append(contentsOf: block) }
    result.removeLast(result.count - count)
    return result
}
