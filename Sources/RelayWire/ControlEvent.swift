/// An event the relay pushes on the control channel, never as a reply (PROTOCOL.md §1.4).
public enum ControlEvent: Hashable, Sendable {
    /// Another member joined; sent to the other members.
    case joined(member: UInt16, name: String)
    /// A member left; sent to the remaining members.
    case left(member: UInt16, reason: LeaveReason)
    /// Ownership moved to `member`; sent to all members right after the `left`.
    case owner(member: UInt16)
    /// The member's UDP binding is new or moved to `address` (PROTOCOL.md §3 text).
    case bound(address: String)
    /// The member's UDP binding idled out (reason `idle`).
    case unbound
    /// The member was kicked; its connection closes next.
    case kicked
    /// The relay started draining and exits within `drainMs` milliseconds.
    case shutdown(drainMs: Int)
    /// The relay is about to close this connection, for silence or at the end of a drain; the
    /// close follows.
    case closing(reason: ClosingReason)

    /// The event's name, the value of its `event` key.
    public var name: String {
        switch self {
        case .joined: "joined"
        case .left: "left"
        case .owner: "owner"
        case .bound: "bound"
        case .unbound: "unbound"
        case .kicked: "kicked"
        case .shutdown: "shutdown"
        case .closing: "closing"
        }
    }

    /// The event as JSON, `event` first, without the terminator.
    public func encoded() -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("event", string: name)
        switch self {
        case .joined(let member, let name):
            writer.field("member", integer: member)
            writer.field("name", string: name)
        case .left(let member, let reason):
            writer.field("member", integer: member)
            writer.field("reason", string: reason.rawValue)
        case .owner(let member):
            writer.field("member", integer: member)
        case .bound(let address):
            writer.field("address", string: address)
        case .unbound:
            writer.field("reason", string: "idle")
        case .kicked:
            break
        case .shutdown(let drainMs):
            writer.field("drainMs", integer: drainMs)
        case .closing(let reason):
            writer.field("reason", string: reason.rawValue)
        }
        writer.endObject()
        return writer.bytes
    }
}
