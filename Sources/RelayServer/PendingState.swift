import RelayWire

/// A member's latest state in a tick session (PROTOCOL.md §8), waiting for the next tick: the
/// payload of its newest aggregated DATA datagram and that datagram's sequence.
///
/// Loop-bound to the session's owner loop, like its ``Member``. The buffer is allocated once, at
/// join, with room for the largest state that is aggregated (`maxDatagram − 24` bytes), and is
/// never reallocated: a state is copied into it once, on arrival, and read from there by every
/// AGGREGATE of the tick. Its bound is that capacity, per member.
final class PendingState {
    private let storage: UnsafeMutableRawBufferPointer
    /// The payload size of the state held.
    @exclusivity(unchecked) private(set) var length = 0
    /// The sequence of the DATA datagram the state came from.
    @exclusivity(unchecked) private(set) var sequence: UInt32 = 0
    /// Whether the state arrived since the last tick and has not been sent yet.
    @exclusivity(unchecked) private(set) var isChanged = false

    /// Room for a state of up to `capacity` bytes.
    init(capacity: Int) {
        storage = .allocate(byteCount: max(1, capacity), alignment: 8)
    }

    deinit { storage.deallocate() }

    /// The largest state it holds.
    var capacity: Int { storage.count }

    /// The state's bytes, valid until the next ``store(_:sequence:)``.
    var payload: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[..<length])
    }

    /// Copies in a new state, replacing the one held.
    ///
    /// - Precondition: `payload.count <= capacity` (the data plane forwards larger states at once).
    /// - Returns: Whether it replaced a state not yet sent (`superseded`).
    @inline(__always)
    func store(_ payload: UnsafeRawBufferPointer, sequence: UInt32) -> Bool {
        precondition(payload.count <= storage.count, "a pending state over its buffer's capacity")
        if payload.count > 0 { UnsafeMutableRawBufferPointer(rebasing: storage[..<payload.count]).copyMemory(from: payload) }
        length = payload.count
        self.sequence = sequence
        let superseded = isChanged
        isChanged = true
        return superseded
    }

    /// Marks the state sent: the next tick leaves it out until a new one arrives.
    @inline(__always)
    func sent() {
        isChanged = false
    }

    /// Forgets the state (its member's binding ended): nothing of it goes out any more.
    func discard() {
        isChanged = false
        length = 0
    }
}
