/// Why the data plane dropped a datagram: one counter per reason (PROTOCOL.md §2.2, §2.3).
///
/// A struct rather than an enum so that reasons can be added without breaking
/// switches; ``index`` lets a server keep its counters in a fixed-size array.
public struct DropReason: Error, Hashable, Sendable, CustomStringConvertible {
    /// The position of this reason in ``all``, from 0 to `all.count - 1`.
    public let index: Int
    /// The snake_case name used in metrics and logs, e.g. `address_mismatch`.
    public let name: String

    private init(_ index: Int, _ name: String) {
        self.index = index
        self.name = name
    }

    /// Larger than `maxDatagram`.
    public static let oversize = DropReason(0, "oversize")
    /// Too short, wrong magic or version, an unexpected type, or a bad PING or BIND payload size.
    public static let malformed = DropReason(1, "malformed")
    /// `(session, member)` is not a live membership with a binding.
    public static let unbound = DropReason(2, "unbound")
    /// The source address is not the member's binding.
    public static let addressMismatch = DropReason(3, "address_mismatch")
    /// The sequence was already forwarded or is older than the replay window.
    public static let duplicate = DropReason(4, "duplicate")
    /// A LATEST packet older than the newest LATEST already forwarded.
    public static let stale = DropReason(5, "stale")
    /// No bound member to deliver to.
    public static let noTarget = DropReason(6, "no_target")
    /// The sender's token buckets, or its cookie-answer budget, are empty.
    public static let rateLimited = DropReason(7, "rate_limited")
    /// A BIND with a wrong token, an unknown or revoked membership, or a wrong or expired cookie.
    public static let badToken = DropReason(8, "bad_token")
    /// A binary message for a WebSocket member whose unsent output was over its bound, or that
    /// found the queue between two of the relay's threads full (PROTOCOL.md §7).
    public static let backlog = DropReason(9, "backlog")

    /// Every reason, ordered by ``index``.
    public static let all: [DropReason] = [
        .oversize, .malformed, .unbound, .addressMismatch, .duplicate,
        .stale, .noTarget, .rateLimited, .badToken, .backlog,
    ]

    /// The snake_case ``name``.
    public var description: String { name }
}
