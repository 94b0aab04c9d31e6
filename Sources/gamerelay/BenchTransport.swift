import RelayClient
import TurnClient

/// How one simulated member of `gamerelay bench` reaches the relay under test.
///
/// Loop-bound, like the clients it wraps. The relay fans a GameRelay DATA out to the other
/// members itself; over TURN the sender does it, with one ChannelData per receiver (the
/// protocol's cost). Either way, with segmented sends a member's due messages leave in one
/// system call.
enum BenchTransport {
    /// A GameRelay client, joined and bound: DATA over UDP, or over the client's WebSocket.
    case gamerelay(RelayClient)
    /// A TURN allocation and the channels bound to the other members of its session.
    case turn(TurnAllocation, channels: [UInt16])

    /// The datagrams one message takes: 1 for GameRelay (the relay fans out), one per channel over TURN.
    var datagramsPerMessage: Int {
        switch self {
        case .gamerelay: 1
        case .turn(_, let channels): channels.count
        }
    }

    /// Sends one message to every other member, each datagram its own system call, as a game
    /// client without segmentation offload does.
    ///
    /// - Parameter latest: Sets GameRelay's LATEST flag (a state that a newer one replaces),
    ///   which a tick session needs to aggregate it; TURN has no such flag.
    /// - Returns: The datagrams the kernel took.
    func send(_ payload: UnsafeRawBufferPointer, latest: Bool = false) -> Int {
        switch self {
        case .gamerelay(let client):
            return (try? client.send(payload, latest: latest)) != nil ? 1 : 0
        case .turn(let allocation, let channels):
            var sent = 0
            for channel in channels where (try? allocation.sendChannelData(payload, channel: channel)) != nil { sent += 1 }
            return sent
        }
    }

    /// Sends `count` messages that are due at once, `fill` writing message `i`'s payload, in
    /// as few system calls as the kernel allows (UDP segmentation offload).
    ///
    /// - Returns: The datagrams the kernel took, in order: the first messages' first.
    func sendBurst(count: Int, payloadSize: Int, fill: (Int, UnsafeMutableRawBufferPointer) -> Void) -> Int {
        switch self {
        case .gamerelay(let client):
            return (try? client.sendBurst(count: count, payloadSize: payloadSize, fill: fill)) ?? 0
        case .turn(let allocation, let channels):
            guard !channels.isEmpty else { return 0 }
            return (try? allocation.sendChannelDataBurst(count: count, payloadSize: payloadSize, channels: channels, fill: fill)) ?? 0
        }
    }

    /// Closes the client or deletes the allocation.
    func close() {
        switch self {
        case .gamerelay(let client): client.close()
        case .turn(let allocation, _): allocation.close()
        }
    }
}
