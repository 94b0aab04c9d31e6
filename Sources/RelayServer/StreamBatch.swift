import Synchronization
import RelayWire
import UVNet

/// WebSocket members' datagrams crossing between the control loop and a data-plane loop in one
/// hop (PROTOCOL.md §7, DESIGN.md "Endpoints"): the bytes back to back in one buffer and one
/// record per datagram, so a hop costs two allocations however many datagrams it carries.
///
/// A value: the loop that fills it hands it over whole with `EventLoop.execute` and never
/// touches it again.
struct StreamBatch: Sendable {
    /// What a datagram to a WebSocket member is, for the counters of the loop that writes it.
    enum Kind: UInt8, Sendable {
        /// A forwarded DATA datagram.
        case data
        /// An AGGREGATE of a tick session (PROTOCOL.md §8).
        case aggregate
        /// A PONG answering the member's PING.
        case pong
        /// An empty BIND_ACK answering the member's BIND.
        case bindAck
        /// A datagram from the member, on its way to its session's owner.
        case fromMember
    }

    /// One datagram of the batch.
    struct Record: Sendable {
        /// The WebSocket connection it comes from or goes to.
        let connection: ConnectionID
        /// Where its bytes start in the batch's buffer.
        let start: Int
        /// How many bytes it has.
        let count: Int
        /// What it is.
        let kind: Kind
    }

    private(set) var bytes: [UInt8] = []
    private(set) var records: [Record] = []

    /// An empty batch.
    init() {}

    /// Whether the batch holds no datagram.
    var isEmpty: Bool { records.isEmpty }

    /// The number of datagram bytes the batch holds: what it counts against the handoff bound.
    var byteCount: Int { bytes.count }

    /// Adds a copy of `datagram` for (or from) `connection`.
    mutating func append(_ datagram: UnsafeRawBufferPointer, connection: ConnectionID, kind: Kind) {
        records.append(Record(connection: connection, start: bytes.count, count: datagram.count, kind: kind))
        bytes.append(contentsOf: datagram)
    }

    /// Forgets the datagrams appended after the first `count` (a sender over its rate limit).
    mutating func truncate(to count: Int) {
        guard count < records.count else { return }
        bytes.removeSubrange(records[count].start...)
        records.removeSubrange(count...)
    }

    /// Lends each datagram's bytes to `body`, in the order they were appended.
    func forEach(_ body: (Record, UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeBytes { buffer in
            for record in records {
                body(record, UnsafeRawBufferPointer(rebasing: buffer[record.start..<(record.start + record.count)]))
            }
        }
    }
}

/// How many bytes of WebSocket members' datagrams are in flight between the control loop and
/// one data-plane loop, each way, against ``RelayConfig/wsHandoffBytes``: a loop that falls
/// behind makes the other drop (`backlog`) instead of queueing without bound.
///
/// Shared by the two loops; one atomic add when a batch is handed over and one subtract when it
/// has been handled, never per datagram.
final class StreamHandoff: Sendable {
    /// The bound, each way.
    let limit: Int
    private let towardControl = Atomic<Int>(0)
    private let towardOwner = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Bytes handed toward the control loop and not yet written.
    var inFlightTowardControl: Int { towardControl.load(ordering: .relaxed) }
    /// Bytes handed toward the owner loop and not yet handled.
    var inFlightTowardOwner: Int { towardOwner.load(ordering: .relaxed) }

    /// A batch of `count` bytes leaves a data-plane loop for the control loop.
    func sentTowardControl(_ count: Int) { towardControl.add(count, ordering: .relaxed) }
    /// The control loop has written (or dropped) a batch of `count` bytes.
    func arrivedAtControl(_ count: Int) { towardControl.subtract(count, ordering: .relaxed) }
    /// A batch of `count` bytes leaves the control loop for a data-plane loop.
    func sentTowardOwner(_ count: Int) { towardOwner.add(count, ordering: .relaxed) }
    /// The owner loop has handled a batch of `count` bytes.
    func arrivedAtOwner(_ count: Int) { towardOwner.subtract(count, ordering: .relaxed) }
}
