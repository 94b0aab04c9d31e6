/// How a ``RelayClient`` reaches the relay: the control channel over TCP (or TLS) with DATA
/// over UDP, or both channels over one WebSocket (PROTOCOL.md §7), as a browser would.
///
/// A struct rather than an enum, so that further transports can be added without breaking
/// a game's `switch`.
public struct RelayTransport: Hashable, Sendable, CustomStringConvertible {
    private enum Kind: Hashable, Sendable {
        case udp
        case webSocket
    }

    private let kind: Kind
    /// The `Origin` a WebSocket upgrade sends, for a relay started with `--ws-origin`; nil
    /// sends none (and such a relay answers `403`).
    public let origin: String?

    private init(kind: Kind, origin: String?) {
        self.kind = kind
        self.origin = origin
    }

    /// The control channel over TCP (or TLS), DATA over a UDP socket bound with BIND: the
    /// lowest latency, and what games use.
    public static let udp = RelayTransport(kind: .udp, origin: nil)

    /// Both channels over one WebSocket on the control port (`ws://host:port/v1/ws`, or
    /// `wss://` with TLS): control messages as text messages, datagrams as binary ones. The
    /// member is bound to the WebSocket from its join on, so no BIND is sent.
    ///
    /// - Parameter origin: An `Origin` header to send, such as `https://game.example`, for a
    ///   relay that only accepts listed origins; nil for none.
    public static func webSocket(origin: String? = nil) -> RelayTransport {
        RelayTransport(kind: .webSocket, origin: origin)
    }

    /// Whether this transport is a WebSocket.
    public var isWebSocket: Bool { kind == .webSocket }

    /// `udp`, or `webSocket` with its origin.
    public var description: String {
        switch kind {
        case .udp: "udp"
        case .webSocket: origin.map { "webSocket(origin: \($0))" } ?? "webSocket"
        }
    }
}
