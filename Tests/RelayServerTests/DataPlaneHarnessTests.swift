@_spi(Benchmarks) import RelayServer
import RelayWire
import Testing
import UVNet

/// The socket-free data plane that the benchmarks drive: it must forward exactly as the relay does.
@Suite struct DataPlaneHarnessTests {
    @Test(arguments: [2, 8])
    func broadcastReachesEveryOtherMemberOnce(members: Int) {
        let harness = DataPlaneHarness(sessions: 3, members: members)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 116, alignment: 8)
        defer { buffer.deallocate() }
        for sequence in UInt32(1)...10 {
            harness.writeData(session: 1, member: 0, sequence: sequence, into: buffer)
            harness.receive(UnsafeRawBufferPointer(buffer), from: DataPlaneHarness.address(session: 1, member: 0))
        }
        harness.endBatch()
        #expect(harness.sent == 10 * (members - 1))
        #expect(harness.counters.datagramsForwarded == UInt64(10 * (members - 1)))
        #expect(harness.counters.bytesForwarded == UInt64(10 * (members - 1) * 116))
        #expect(harness.lookup(session: 2, member: members - 1))
        #expect(!harness.lookup(session: 2, member: members))
    }

    @Test func theChecksStillApply() {
        let harness = DataPlaneHarness(sessions: 1, members: 2)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { buffer.deallocate() }
        harness.writeData(session: 0, member: 0, sequence: 5, into: buffer)
        harness.receive(UnsafeRawBufferPointer(buffer), from: DataPlaneHarness.address(session: 0, member: 0))
        harness.receive(UnsafeRawBufferPointer(buffer), from: DataPlaneHarness.address(session: 0, member: 0))
        harness.receive(UnsafeRawBufferPointer(buffer), from: DataPlaneHarness.address(session: 0, member: 1))
        harness.endBatch()
        #expect(harness.sent == 1)
        #expect(harness.counters.drops(.duplicate) == 1)
        #expect(harness.counters.drops(.addressMismatch) == 1)
    }
}

/// The shape of the race that unbound live members when loops shared sessions: a sweep read the
/// clock, another loop stamped a datagram with a later time, and the sweep compared the two.
@Suite("Idle sweep and stamps")
struct IdleSweepStampTests {
    @Test func aStampNewerThanTheSweepsClockIsFreshNotIdle() {
        let clock = ManualClock(nanoseconds: 5_000_000_000)
        let harness = DataPlaneHarness(sessions: 1, members: 2, clock: clock)
        // Longer than the 10 s idle timeout since the members bound.
        clock.advance(by: .seconds(40))
        let sweepRead = harness.now
        // The member sends a moment after the sweep read the clock: its stamp is newer.
        clock.advance(by: .milliseconds(1))
        var bytes = [UInt8](repeating: 0, count: 20)
        bytes.withUnsafeMutableBytes { harness.writeData(session: 0, member: 0, sequence: 1, into: $0) }
        harness.deliver(bytes, from: DataPlaneHarness.address(session: 0, member: 0))
        #expect(harness.counters.datagramsForwarded == 1)
        // `now - lastSeen` would wrap to about 2^64 here and unbind a member that is sending.
        harness.sweep(asOf: sweepRead)
        #expect(harness.binding(session: 0, member: 0) == DataPlaneHarness.address(session: 0, member: 0))
        #expect(harness.counters.idleUnbinds == 1, "only the member that stayed silent is idle")
        #expect(harness.binding(session: 0, member: 1) == nil)
    }
}
