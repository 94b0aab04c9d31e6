@_spi(Benchmarks) import RelayServer
import RelayWire
import Testing
import UVNet

/// FuzzBind's forward and reply checks are only as good as what the harness records: these pin
/// that it records every datagram with its real bytes and destination.
@Suite struct DataPlaneHarnessRecordingTests {
    @Test func aBroadcastIsRecordedOncePerOtherBoundMemberWithItsBytes() {
        let harness = DataPlaneHarness(sessions: 1, members: 3, recordsOutput: true)
        harness.unbind(session: 0, member: 2)
        #expect(harness.binding(session: 0, member: 2) == nil)
        let datagram = PacketHeader(type: PacketType.data, session: harness.sessionLow32(0), member: 1,
                                    target: PacketHeader.broadcastTarget, sequence: 9).bytes + [1, 2, 3]
        harness.deliver(datagram, from: DataPlaneHarness.address(session: 0, member: 0))
        #expect(harness.output.count == 1)
        #expect(harness.output.first?.kind == .forward)
        #expect(harness.output.first?.bytes == datagram)
        #expect(harness.output.first?.destination == DataPlaneHarness.address(session: 0, member: 1))
    }

    @Test func aBindIsAnsweredWithACookieAndTheCookieBinds() throws {
        let harness = DataPlaneHarness(sessions: 1, members: 2, recordsOutput: true)
        harness.unbind(session: 0, member: 1)
        let token = try #require(harness.token(session: 0, member: 1))
        let header = PacketHeader(type: PacketType.bind, session: harness.sessionLow32(0), member: DataPlaneHarness.memberID(1))
        let source = try SocketAddress(ipAddress: "192.0.2.1", port: 5000)
        harness.deliver(header.bytes + token, from: source)
        let cookieReply = try #require(harness.output.first)
        #expect(cookieReply.kind == .reply && cookieReply.destination == source)
        #expect(cookieReply.bytes.count == PacketHeader.size + PacketHeader.cookieSize)
        harness.removeOutput()
        harness.deliver(header.bytes + token + cookieReply.bytes.dropFirst(PacketHeader.size), from: source)
        #expect(harness.output.map(\.bytes) == [header.replying(as: PacketType.bindAck).bytes])
        #expect(harness.binding(session: 0, member: 1) == source)
    }

    @Test func withoutRecordingNothingIsKept() {
        let harness = DataPlaneHarness(sessions: 1, members: 2)
        let datagram = PacketHeader(type: PacketType.data, session: harness.sessionLow32(0), member: 1,
                                    target: PacketHeader.broadcastTarget, sequence: 1).bytes
        harness.deliver(datagram, from: DataPlaneHarness.address(session: 0, member: 0))
        #expect(harness.sent == 1)
        #expect(harness.output.isEmpty)
    }
}
