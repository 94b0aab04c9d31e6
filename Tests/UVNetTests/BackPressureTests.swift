import Testing
import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// What a socket tells its owner so that the owner can bound what a peer makes it hold: writes
/// refused by the kernel, output reaching the kernel, the kernel's own buffers and drops.
@Suite struct BackPressureTests {
    /// A plain POSIX client connected to `port` on 127.0.0.1: the peer a test can reset.
    static func rawClient(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw LoopSideFailure(description: "connect failed: errno \(errno)")
        }
        return fd
    }

    @Test func aWriteTheKernelRefusesFailsAtOnceAndHoldsNothing() async throws {
        try await withLoop { loop in
            let events = Inbox<StreamEvent>()
            let accepted = Inbox<LoopBound<Socket>>()
            let (listener, port) = try await loop.submit {
                let listener = ServerSocket(loop: loop)
                try listener.bind(localPort: 0, localAddress: "127.0.0.1")
                try listener.listen()
                listener.onConnect = { socket in
                    socket.report(to: events)
                    // Not reading: the reset must be found by the write, not by a read.
                    socket.pauseReading()
                    accepted.put(LoopBound(socket, loop: loop))
                }
                return (LoopBound(listener, loop: loop), listener.localPort)
            }
            let client = try Self.rawClient(port: port)
            let server = try await accepted.next("the accepted connection")
            var option = linger(l_onoff: 1, l_linger: 0)
            setsockopt(client, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
            close(client)
            // Loopback delivers the reset within close(); the next write meets it.
            let (closedAfterFlush, pendingAfterFlush) = try await loop.submit {
                var output = server.value
                output.writeBytes([UInt8](repeating: 7, count: 1000))
                output.flush()
                return (server.value.isClosed, server.value.bytesPending)
            }
            #expect(closedAfterFlush, "the refused write was queued instead of failing")
            #expect(pendingAfterFlush == 0)
            let event = try await events.next("the write's failure")
            guard case .failed(let error) = event else {
                Issue.record("expected a write failure, got \(event)")
                return
            }
            #expect(error.operation == "write")
            try await loop.submit { listener.value.close() }
        }
    }

    @Test func outputProgressReportsWhatIsStillPending() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            let progress = Inbox<Int>()
            // Far more than the kernel takes at once, so part of it is queued in libuv.
            let size = 1 << 20
            let queued = try await loop.submit {
                let socket = pair.client.value
                _ = try socket.requestSendBufferSize(4096)
                socket.onOutputProgress = { progress.put($0) }
                var output = socket
                output.writeBytes([UInt8](repeating: 1, count: size))
                output.flush()
                return socket.bytesPending
            }
            #expect(queued > 0)
            try await waitForBytes(size, events: pair.serverEvents, "the large write")
            var last = try await progress.next("output progress")
            while last > 0 { last = try await progress.next("output progress down to 0") }
            #expect(try await loop.submit { pair.client.value.bytesPending } == 0)
        }
    }

    @Test func writesBehindAQueuedWriteFollowItInOrderAndTheFINWaitsForThem() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            let size = 1 << 20
            let expected = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) } + (0..<1000).flatMap { [UInt8(truncatingIfNeeded: $0), 0xAB] }
            let pendingBeforeShutdown = try await loop.submit {
                let socket = pair.client.value
                _ = try socket.requestSendBufferSize(4096)
                var output = socket
                // One large write that the kernel can't take at once, then many small ones
                // flushed while it is still queued, then the half-close.
                output.writeBytes(Array(expected[..<size]))
                output.flush()
                for index in 0..<1000 {
                    output.writeBytes([UInt8(truncatingIfNeeded: index), 0xAB])
                    output.flush()
                }
                socket.shutdownOutput()
                return socket.bytesPending
            }
            #expect(pendingBeforeShutdown > 0)
            let received = try await receive(expected.count, from: pair.server, events: pair.serverEvents, "everything written")
            #expect(received == expected)
            // The FIN comes after the last byte, not before.
            #expect(try await pair.serverEvents.next("the half-close") == .closed)
        }
    }

    @Test func theSendBufferCanBeFixed() async throws {
        try await withLoop { loop in
            let pair = try await TCPPair.connect(on: loop)
            let granted = try await loop.submit { try pair.server.value.requestSendBufferSize(65536) }
            // Linux doubles the request for its bookkeeping.
            #expect(granted == 131_072)
            let refused = try await loop.submit { thrownError { _ = try pair.server.value.requestSendBufferSize(0) } }
            #expect(refused?.code == .invalidArgument)
        }
    }

    @Test func aFullReceiveQueueCountsKernelDrops() async throws {
        try await withLoop { loop in
            let (receiver, port) = try await loop.submit {
                let socket = DatagramSocket(loop: loop)
                try socket.bind(localPort: 0, localAddress: "127.0.0.1")
                // The smallest queue Linux allows, and nobody reading it.
                try socket.requestReceiveBufferSize(1)
                return (LoopBound(socket, loop: loop), socket.localPort)
            }
            #expect(try await loop.submit { receiver.value.receiveQueueDrops } == 0)
            let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(sender) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let payload = [UInt8](repeating: 0, count: 1000)
            for _ in 0..<200 {
                _ = withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(sender, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            // Loopback delivers (or drops) within sendto, unless the kernel has handed that work
            // to its softirq thread: then the drops show a moment later.
            var drops = try await loop.submit { receiver.value.receiveQueueDrops }
            let deadline = ContinuousClock.now + .seconds(5)
            while (drops ?? 0) <= 150, ContinuousClock.now < deadline {
                usleep(5_000)
                drops = try await loop.submit { receiver.value.receiveQueueDrops }
            }
            #expect((drops ?? 0) > 150, "drops: \(String(describing: drops))")
            try await loop.submit { receiver.value.close() }
            #expect(try await loop.submit { receiver.value.receiveQueueDrops } == nil)
        }
    }
}
