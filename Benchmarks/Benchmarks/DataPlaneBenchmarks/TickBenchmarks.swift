import Benchmark
@_spi(Benchmarks) import RelayServer
import RelayWire
import UVNet

/// Tick sessions (PROTOCOL.md §8) through the real data plane, without sockets: LATEST
/// broadcasts becoming pending states, and ticks writing AGGREGATEs into the loop's scratch
/// slots and handing them to the harness's counting send function instead of `sendmmsg`.
/// 1000 operations per iteration, reported per operation.
func tickBenchmarks() {
    // One update: a LATEST broadcast from a rotating sender of 64 tick sessions of 8 members,
    // copied into its pending state (replacing the one before: no tick runs here).
    Benchmark("TickSession.update.8Members", configuration: perOperation()) { benchmark, state in
        state.update(count: benchmark.scaledIterations.count)
        if let failure = state.failure { benchmark.error(failure) }
    } setup: {
        TickState(sessions: 64, members: 8)
    }

    // One round of one session: each of its 8 members sends its state, then the session ticks:
    // 8 updates in, 8 AGGREGATEs of 7 entries out.
    Benchmark("TickSession.round.8Members", configuration: perOperation()) { benchmark, state in
        state.rounds(count: benchmark.scaledIterations.count)
        if let failure = state.failure { benchmark.error(failure) }
    } setup: {
        TickState(sessions: 64, members: 8)
    }
}

/// A tick-session harness, a receive buffer of one batch, and every sender's next sequence.
final class TickState {
    let harness: DataPlaneHarness
    let sessions: Int
    let members: Int
    let buffer = DatagramPool(count: EventLoop.receiveBatchCount)
    let sources: [SocketAddress]
    var sequences: [UInt32]
    var nextSender = 0
    var nextSession = 0
    var failure: String?

    init(sessions: Int, members: Int) {
        harness = DataPlaneHarness(sessions: sessions, members: members, tick: 30)
        self.sessions = sessions
        self.members = members
        sources = (0..<(sessions * members)).map { DataPlaneHarness.address(session: $0 / members, member: $0 % members) }
        sequences = Array(repeating: 0, count: sessions * members)
    }

    /// Receives `count` LATEST broadcasts from rotating senders, in receive batches; none is sent.
    func update(count: Int) {
        let sentBefore = harness.sent
        let droppedBefore = dropped
        var remaining = count
        while remaining > 0 {
            let batch = min(remaining, EventLoop.receiveBatchCount)
            for slot in 0..<batch {
                let sender = nextSender
                nextSender = nextSender + 1 == sessions * members ? 0 : nextSender + 1
                receive(session: sender % sessions, member: sender / sessions, slot: slot)
            }
            harness.endBatch()
            remaining -= batch
        }
        if harness.sent != sentBefore || dropped != droppedBefore, failure == nil {
            failure = "of \(count) updates, \(dropped - droppedBefore) were dropped, and \(harness.sent - sentBefore) datagrams went out at once"
        }
    }

    /// Every drop the harness counted, whatever the reason.
    private var dropped: UInt64 {
        let counters = harness.counters
        return DropReason.all.reduce(0) { $0 + counters.drops($1) }
    }

    /// Runs `count` rounds, one session after another: every member's state, then a tick.
    func rounds(count: Int) {
        let sentBefore = harness.sent
        for _ in 0..<count {
            let session = nextSession
            nextSession = nextSession + 1 == sessions ? 0 : nextSession + 1
            for member in 0..<members { receive(session: session, member: member, slot: member) }
            harness.endBatch()
            harness.tick(session: session)
        }
        let sent = harness.sent - sentBefore
        if sent != count * members, failure == nil {
            failure = "\(count) rounds sent \(sent) AGGREGATEs, expected \(count * members)"
        }
    }

    @inline(__always)
    private func receive(session: Int, member: Int, slot: Int) {
        let index = session * members + member
        sequences[index] &+= 1
        let bytes = buffer.slot(slot)
        harness.writeData(session: session, member: member, sequence: sequences[index], flags: PacketFlags.latest, into: bytes)
        harness.receive(UnsafeRawBufferPointer(bytes), from: sources[index])
    }
}
