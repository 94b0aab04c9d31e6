import Foundation
import TestSupport
import UVNet

/// A control-channel client inside TLS, on a loop of its own: ``TLSStream`` over a ``Socket``,
/// with what it receives collected for bounded waits.
final class TLSTestClient: Sendable {
    let loop: EventLoop
    private let stream: LoopBound<TLSStream>
    /// The handshake's outcome, once known.
    let handshake: Inbox<Result<Void, TLSFailure>>
    /// Frames received (the text before each `\0` or `\n`).
    let frames: Inbox<String>
    /// Reported when the relay closes the connection or it fails.
    let closed: Inbox<Bool>

    private init(loop: EventLoop, stream: LoopBound<TLSStream>, handshake: Inbox<Result<Void, TLSFailure>>,
                 frames: Inbox<String>, closed: Inbox<Bool>) {
        self.loop = loop
        self.stream = stream
        self.handshake = handshake
        self.frames = frames
        self.closed = closed
    }

    /// Connects and starts the handshake; wait on ``handshake`` for its end.
    static func connect(host: String = "127.0.0.1", port: Int, context: TLSContext, serverName: String? = nil) async throws -> TLSTestClient {
        let loop = EventLoop(name: "tls-test-client")
        let handshake = Inbox<Result<Void, TLSFailure>>()
        let frames = Inbox<String>()
        let closed = Inbox<Bool>()
        let stream = try await loop.submit {
            let socket = Socket(loop: loop)
            let stream = TLSStream(socket: socket, context: context, serverName: serverName ?? host)
            var buffer: [UInt8] = []
            stream.onHandshake = { handshake.put($0) }
            stream.onData = { _ in
                try? stream.readRawBytes(count: stream.bytesAvailable) { buffer.append(contentsOf: $0) }
                while let end = buffer.firstIndex(where: { $0 == 0 || $0 == 10 }) {
                    frames.put(String(decoding: buffer[..<end], as: UTF8.self))
                    buffer.removeSubrange(...end)
                }
            }
            stream.onClose = { closed.put(true) }
            stream.onIOError = { _ in closed.put(true) }
            try socket.connect(host: host, port: port)
            stream.start()
            return LoopBound(stream, loop: loop)
        }
        return TLSTestClient(loop: loop, stream: stream, handshake: handshake, frames: frames, closed: closed)
    }

    /// Waits for the handshake and throws unless it succeeded.
    func established() async throws {
        let outcome = try await handshake.wait("the TLS handshake")[0]
        if case .failure(let failure) = outcome { throw TestFailure("TLS handshake failed: \(failure)") }
    }

    /// Sends one message with a `\0` terminator.
    func send(_ json: String) async throws {
        let stream = self.stream
        try await loop.submit {
            (Array(json.utf8) + [0]).withUnsafeBytes { stream.value.writeRawBytes($0) }
            stream.value.flush()
        }
    }

    /// Sends bytes as they are (an HTTP request, WebSocket frames).
    func sendRaw(_ bytes: [UInt8]) async throws {
        let stream = self.stream
        try await loop.submit {
            bytes.withUnsafeBytes { stream.value.writeRawBytes($0) }
            stream.value.flush()
        }
    }

    /// Sends a request and returns the frame that answers it (the `count`-th frame received).
    func request(_ json: String, frame index: Int) async throws -> [String: Any] {
        try await send(json)
        return try await object(at: index)
    }

    /// The `index`-th frame received (0 first), parsed, waiting for it.
    func object(at index: Int) async throws -> [String: Any] {
        let text = try await frames.wait(for: index + 1, timeout: .seconds(15), "frame \(index)")[index]
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(text)")
        }
        return object
    }

    /// Closes the connection and the client's loop.
    func close() async {
        let stream = self.stream
        _ = try? await loop.submit { stream.value.close() }
        await loop.shutdown()
    }
}
