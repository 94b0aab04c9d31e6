/// Zero-byte-terminated string messages over a ``Socket``, in the shape of flash.net's `XMLSocket`.
///
/// Each ``send(_:)`` writes the message's UTF-8 bytes and a `\0`; each complete message received
/// is delivered to ``onData`` whatever way TCP split or joined it. A message longer than
/// ``maxMessageSize`` bytes is an error that closes the connection, so a peer can't make the
/// buffer grow without bound. Loop-bound, like the socket under it.
///
/// Lifetime: the socket's handlers hold the XMLSocket until the socket's handle has closed, just
/// as the handle holds the ``Socket``, so an XMLSocket nobody else keeps (say, one made in a
/// ``ServerSocket/onConnect`` handler) still delivers its messages.
public final class XMLSocket {
    /// The TCP connection the messages travel on.
    public let socket: Socket
    /// The largest message accepted, in bytes before the terminator (default 1 MiB).
    public var maxMessageSize: Int = 1 << 20

    /// Receives each complete message (flash.net `DataEvent.DATA`).
    public var onData: ((String) -> Void)?
    /// Called when the connection is up (flash.net `Event.CONNECT`).
    public var onConnect: (() -> Void)?
    /// Called when the peer closes (flash.net `Event.CLOSE`).
    public var onClose: (() -> Void)?
    /// Called on connection failure, an oversize message or a message that is not UTF-8 (flash.net `IOErrorEvent`).
    public var onIOError: ((SocketError) -> Void)?

    private var pending: [UInt8] = []
    private var scanned = 0

    /// Wraps a new, unconnected socket on `loop`. Loop thread only.
    public convenience init(loop: EventLoop) {
        self.init(socket: Socket(loop: loop))
    }

    /// Wraps an existing socket, such as one accepted by a ``ServerSocket``; takes over its events.
    public init(socket: Socket) {
        self.socket = socket
        // Strong on purpose: the cycle keeps this object alive while the connection is, and the
        // socket breaks it by dropping its handlers once its handle has closed. A closed socket
        // fires no more events and may have dropped its handlers already: nothing to install.
        guard !socket.isClosed else { return }
        socket.onConnect = { self.onConnect?() }
        socket.onClose = { self.onClose?() }
        socket.onIOError = { error in self.onIOError?(error) }
        socket.onData = { _ in self.drain() }
        if socket.bytesAvailable > 0 { drain() }
    }

    /// Whether the connection is up.
    public var connected: Bool { socket.connected }

    /// Connects to `host`:`port` (see ``Socket/connect(host:port:)``).
    public func connect(host: String, port: Int) throws(SocketError) {
        try socket.connect(host: host, port: port)
    }

    /// Sends `message` followed by a zero byte.
    ///
    /// - Throws: ``SocketError`` `.invalidArgument` when the message itself contains a zero byte,
    ///   which would split it in two at the receiver.
    public func send(_ message: String) throws(SocketError) {
        var text = message
        let hasZero = text.withUTF8 { $0.contains(0) }
        if hasZero {
            throw SocketError(.invalidArgument, operation: "send", message: "an XMLSocket message can't contain a zero byte")
        }
        // DataOutput's methods are `mutating` for ByteArray's sake; on a class that is a no-op copy.
        var output = socket
        output.writeUTFBytes(text)
        output.writeUnsignedByte(0)
        output.flush()
    }

    /// Closes the connection without firing ``onClose``.
    public func close() {
        socket.close()
    }

    private func drain() {
        let available = socket.bytesAvailable
        var input = socket
        guard available > 0, let chunk = try? input.readBytes(available) else { return }
        pending.append(contentsOf: chunk)
        // Messages are cut from `start` on and the buffer compacted once per read, so many
        // messages in one read cost linear time; `scanned` resumes the search across reads.
        var start = 0
        defer {
            if start > 0, !pending.isEmpty {
                pending.removeSubrange(..<start)
                scanned = max(0, scanned - start)
            }
        }
        while !socket.isClosed {
            guard let end = pending[max(scanned, start)...].firstIndex(of: 0) else {
                scanned = pending.count
                if pending.count - start > maxMessageSize { reject(.messageTooLarge, "a message exceeds \(maxMessageSize) bytes") }
                return
            }
            let body = pending[start..<end]
            start = end + 1
            scanned = start
            guard body.count <= maxMessageSize else {
                reject(.messageTooLarge, "a message exceeds \(maxMessageSize) bytes")
                return
            }
            guard let message = String(validating: body, as: UTF8.self) else {
                onIOError?(SocketError(.io, operation: "receive", message: "a message is not valid UTF-8; it was skipped"))
                continue
            }
            onData?(message)
        }
    }

    private func reject(_ code: SocketError.Code, _ message: String) {
        let handler = onIOError
        pending = []
        scanned = 0
        socket.close()
        handler?(SocketError(code, operation: "receive", message: message))
    }
}
