import Benchmark
@_spi(Benchmarks) import RelayServer
import RelayWire
import UVNet

/// One receive-to-send pass through the real data plane, without sockets: every datagram runs
/// all the checks of PROTOCOL.md §2.3 (classify, lookup, address, replay window, LATEST filter,
/// rate limiters) and queues its copies; each batch of 20 (one full `recvmmsg`) ends with
/// `endBatch()`, which hands the copies to the harness's counting send function instead of
/// `sendmmsg`. 1000 datagrams per iteration, reported per received datagram.
func forwardingBenchmarks() {
    for members in [2, 8] {
        let fanOut = members - 1
        Benchmark("ReceiveToSend.fanOut\(fanOut)", configuration: perOperation()) { benchmark, state in
            state.run(datagrams: benchmark.scaledIterations.count)
            if let failure = state.failure { benchmark.error(failure) }
        } setup: {
            ForwardingState(sessions: 64, members: members)
        }
    }
}

/// The harness, a receive buffer of one batch, and the next sequence of every sender.
final class ForwardingState {
    /// Keeps this object's hot fields (written per datagram) off the cache lines of an object
    /// allocated just before it: the scaling benchmarks drive one state per thread, and states
    /// made one after another would otherwise share a line and slow each other down.
    private let leadingPad: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                             UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    /// Datagrams per receive batch, as libuv's `recvmmsg` delivers at most (EventLoop.receiveBatchCount).
    static let batchSize = EventLoop.receiveBatchCount

    let harness: DataPlaneHarness
    let sessions: Int
    let members: Int
    /// Where each batch's datagrams lie until `endBatch()`, like the loop's receive buffer.
    let buffer = DatagramPool(count: ForwardingState.batchSize)
    /// Every member's source address, indexed `session * members + member`.
    let sources: [SocketAddress]
    /// Every member's last sequence, indexed like ``sources``.
    var sequences: [UInt32]
    /// The next sender, counting up through every member of every session.
    var nextSender = 0
    /// Why the last run did not forward what it should have, if it did not.
    var failure: String?
    /// The same for an object allocated just after this one.
    private let trailingPad: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                              UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    convenience init(sessions: Int, members: Int) {
        self.init(harness: DataPlaneHarness(sessions: sessions, members: members), sessions: sessions, members: members)
    }

    init(harness: DataPlaneHarness, sessions: Int, members: Int) {
        self.harness = harness
        self.sessions = sessions
        self.members = members
        sources = (0..<(sessions * members)).map {
            DataPlaneHarness.address(session: $0 / members, member: $0 % members)
        }
        sequences = Array(repeating: 0, count: sessions * members)
    }

    /// Receives `datagrams` DATA broadcasts from rotating senders, in batches, and checks that
    /// every one was forwarded to every other member.
    func run(datagrams: Int) {
        let senders = sessions * members
        let sentBefore = harness.sent
        var remaining = datagrams
        while remaining > 0 {
            let batch = min(remaining, Self.batchSize)
            for slot in 0..<batch {
                // Sessions first, so consecutive datagrams come from different sessions.
                let sender = nextSender
                nextSender = nextSender + 1 == senders ? 0 : nextSender + 1
                let session = sender % sessions
                let member = sender / sessions
                let index = session * members + member
                sequences[index] &+= 1
                let bytes = buffer.slot(slot)
                harness.writeData(session: session, member: member, sequence: sequences[index], into: bytes)
                harness.receive(UnsafeRawBufferPointer(bytes), from: sources[index])
            }
            harness.endBatch()
            remaining -= batch
        }
        let forwarded = harness.sent - sentBefore
        if forwarded != datagrams * (members - 1), failure == nil {
            let counters = harness.counters
            let drops = DropReason.all.map { "\($0.name)=\(counters.drops($0))" }.joined(separator: " ")
            failure = "forwarded \(forwarded) copies of \(datagrams) datagrams, expected \(datagrams * (members - 1)); drops: \(drops)"
        }
    }
}
