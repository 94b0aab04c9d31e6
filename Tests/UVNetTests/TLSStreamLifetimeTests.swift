import Testing
@_spi(Testing) import UVNet

/// An owner that holds its stream and whose closures the stream holds, as a server's
/// connection object does: the cycle must end when the stream closes, however it closes.
private final class StreamOwner {
    var stream: TLSStream?
}

/// Weak references to the owners a test made, on the loop.
private final class Owners {
    var all: [() -> StreamOwner?] = []
    var alive: Int { all.filter { $0() != nil }.count }
}

@Suite struct TLSStreamLifetimeTests {
    /// Accepts connections as owned server streams; `onHandshakeDone` runs on the loop for each.
    private static func listen(_ loop: EventLoop, owners: LoopBound<Owners>, closed: Inbox<Bool>,
                               onHandshakeDone: @escaping @Sendable (TLSStream) -> Void = { _ in }) async throws -> (LoopBound<ServerSocket>, Int) {
        try await loop.submit {
            let listener = ServerSocket(loop: loop)
            try listener.bind(localPort: 0, localAddress: "127.0.0.1")
            try listener.listen()
            listener.onConnect = { socket in
                let owner = StreamOwner()
                let stream = TLSStream(socket: socket, context: TLSFixtures.serverContext)
                owner.stream = stream
                stream.onHandshake = { result in
                    if case .success = result { onHandshakeDone(owner.stream!) }
                }
                stream.onData = { _ in _ = owner.stream?.bytesAvailable }
                stream.onClose = { _ = owner; closed.put(true) }
                stream.onIOError = { _ in _ = owner; closed.put(true) }
                owners.value.all.append { [weak owner] in owner }
                stream.start()
            }
            return (LoopBound(listener, loop: loop), listener.localPort)
        }
    }

    /// Waits (bounded) until no owner is alive: handles close a loop turn after `close()`.
    private static func expectAllReleased(_ owners: LoopBound<Owners>, _ loop: EventLoop, _ what: String) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        var alive = -1
        while ContinuousClock.now < deadline {
            alive = try await loop.submit { owners.value.alive }
            if alive == 0 { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("\(alive) stream owner(s) still alive after \(what): a reference cycle through the stream's callbacks")
    }

    @Test func anOwnerIsReleasedWhenThePeerClosesMidHandshake() async throws {
        try await withLoop { loop in
            let owners = try await loop.submit { LoopBound(Owners(), loop: loop) }
            let closed = Inbox<Bool>()
            let (listener, port) = try await Self.listen(loop, owners: owners, closed: closed)
            try await loop.submit {
                let socket = Socket(loop: loop)
                try socket.connect(host: "127.0.0.1", port: port)
                socket.onConnect = {
                    [UInt8]([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).withUnsafeBytes { socket.writeRawBytes($0) }
                    socket.flush()
                    socket.shutdownOutput()
                }
            }
            _ = try await closed.next("the stream's end")
            try await Self.expectAllReleased(owners, loop, "a peer closed mid-handshake")
            _ = try await loop.submit { listener.value.close() }
        }
    }

    @Test func anOwnerIsReleasedWhenAHandshakeFails() async throws {
        try await withLoop { loop in
            let owners = try await loop.submit { LoopBound(Owners(), loop: loop) }
            let closed = Inbox<Bool>()
            let (listener, port) = try await Self.listen(loop, owners: owners, closed: closed)
            try await loop.submit {
                let socket = Socket(loop: loop)
                try socket.connect(host: "127.0.0.1", port: port)
                socket.onConnect = {
                    ([0x16] + Array("GET / HTTP/1.1\r\n\r\n".utf8)).withUnsafeBytes { socket.writeRawBytes($0) }
                    socket.flush()
                }
            }
            _ = try await closed.next("the failed handshake")
            try await Self.expectAllReleased(owners, loop, "a failed handshake")
            _ = try await loop.submit { listener.value.close() }
        }
    }

    @Test func anOwnerIsReleasedWhenItClosesTheStreamAfterTheHandshake() async throws {
        try await withLoop { loop in
            let owners = try await loop.submit { LoopBound(Owners(), loop: loop) }
            let closed = Inbox<Bool>()
            let done = Inbox<Bool>()
            let (listener, port) = try await Self.listen(loop, owners: owners, closed: closed) { stream in
                stream.close()
                done.put(true)
            }
            let clientEvents = Inbox<TLSEvent>()
            let client = try await connectTLS(on: loop, port: port, serverName: "127.0.0.1", events: clientEvents)
            _ = try await done.next("the server's close")
            try await Self.expectAllReleased(owners, loop, "the owner closed the stream")
            _ = try await loop.submit {
                client.value.close()
                listener.value.close()
            }
        }
    }
}
