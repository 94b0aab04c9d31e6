@_spi(Benchmarks) import RelayServer
import RelayWire
import Testing

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
