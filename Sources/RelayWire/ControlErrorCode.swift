/// An error code of the control channel, sent as `error.code` (PROTOCOL.md §1.2).
///
/// A struct rather than an enum so that codes can be added without breaking switches.
public struct ControlErrorCode: Hashable, Sendable, CustomStringConvertible {
    /// The snake_case code as sent on the wire.
    public let name: String

    private init(_ name: String) { self.name = name }

    /// Unparsable message, missing or mistyped field, value out of range.
    public static let badRequest = ControlErrorCode("bad_request")
    /// `op` is not one the relay knows.
    public static let unknownOp = ControlErrorCode("unknown_op")
    /// `hello` with a protocol version other than 1.
    public static let unsupportedVersion = ControlErrorCode("unsupported_version")
    /// A frame over `maxControlMessage`; the connection then closes.
    public static let messageTooLarge = ControlErrorCode("message_too_large")
    /// No such session, join code, or (kick) member.
    public static let notFound = ControlErrorCode("not_found")
    /// The session is at capacity, or out of member ids.
    public static let full = ControlErrorCode("full")
    /// This connection is already a member of a session.
    public static let alreadyJoined = ControlErrorCode("already_joined")
    /// `leave` or `kick` without membership.
    public static let notJoined = ControlErrorCode("not_joined")
    /// `kick` by a member who is not the session owner.
    public static let forbidden = ControlErrorCode("forbidden")
    /// Over the per-connection request or session limits.
    public static let rateLimited = ControlErrorCode("rate_limited")
    /// The relay is draining: no new sessions or joins.
    public static let shuttingDown = ControlErrorCode("shutting_down")
    /// A plain connection's first message to a relay that takes TLS connections only (PROTOCOL.md §6).
    public static let tlsRequired = ControlErrorCode("tls_required")

    /// Every code defined by protocol version 1.
    public static let all: [ControlErrorCode] = [
        .badRequest, .unknownOp, .unsupportedVersion, .messageTooLarge, .notFound, .full,
        .alreadyJoined, .notJoined, .forbidden, .rateLimited, .shuttingDown, .tlsRequired,
    ]

    /// The wire ``name``.
    public var description: String { name }
}
