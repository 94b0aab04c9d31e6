import RelayClient
import TurnClient

/// How one simulated member of `gamerelay bench` reaches the relay under test.
///
/// Loop-bound, like the clients it wraps. The relay fans a GameRelay DATA out to the other
/// members itself; over TURN the sender does it, with one ChannelData per receiver (the
/// protocol's cost), each its own `sendmsg`.
enum BenchTransport {
    /// A GameRelay client, joined and bound.
    case gamerelay(RelayClient)
    /// A TURN allocation and the channels bound to the other members of its session.
    case turn(TurnAllocation, channels: [UInt16])

    /// Sends one planned message to every other member of the session.
    ///
    /// - Returns: The datagrams the kernel took, and those it refused.
    @inline(__always)
    func send(_ payload: UnsafeRawBufferPointer) -> (sent: Int, failed: Int) {
        switch self {
        case .gamerelay(let client):
            return (try? client.send(payload)) != nil ? (1, 0) : (0, 1)
        case .turn(let allocation, let channels):
            var sent = 0
            for channel in channels where (try? allocation.sendChannelData(payload, channel: channel)) != nil { sent += 1 }
            return (sent, channels.count - sent)
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
