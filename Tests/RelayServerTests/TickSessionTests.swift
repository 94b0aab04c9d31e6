@_spi(Benchmarks) import RelayServer
import RelayWire
import Testing
import UVNet

/// Tick sessions (PROTOCOL.md §8) in the socket-free data plane: which DATA becomes a pending
/// state, what a tick sends to whom, and how pending states live and die. Ticks run by hand
/// (``DataPlaneHarness/tick(session:)``); the timer is covered by the socket tests.
@Suite("Tick sessions")
struct TickSessionTests {
    static func harness(members: Int, sessions: Int = 1, configure: (inout RelayConfig) -> Void = { _ in },
                        liftsRateLimits: Bool = true) -> DataPlaneHarness {
        var config = RelayConfig()
        configure(&config)
        return DataPlaneHarness(sessions: sessions, members: members, config: config, liftsRateLimits: liftsRateLimits,
                                recordsOutput: true, tick: 10)
    }

    /// Sends one DATA datagram from member `member` (0-based) of session `session`; returns its bytes.
    @discardableResult
    static func send(_ harness: DataPlaneHarness, session: Int = 0, member: Int, sequence: UInt32, payload: [UInt8],
                     latest: Bool = true, target: UInt16 = PacketHeader.broadcastTarget) -> [UInt8] {
        let bytes = PacketHeader(type: PacketType.data, flags: latest ? PacketFlags.latest : 0, session: harness.sessionLow32(session),
                                 member: DataPlaneHarness.memberID(member), target: target, sequence: sequence).bytes + payload
        harness.deliver(bytes, from: DataPlaneHarness.address(session: session, member: member))
        return bytes
    }

    /// An AGGREGATE written out by hand from PROTOCOL.md §8, not with the encoder under test.
    static func aggregate(session: UInt32, target: UInt16, tick: UInt32, _ entries: [(UInt16, UInt32, [UInt8])]) -> [UInt8] {
        var bytes = PacketHeader(type: 6, flags: 0, session: session, member: 0, target: target, sequence: tick).bytes
        for (member, sequence, payload) in entries {
            bytes += [UInt8(member >> 8), UInt8(member & 0xFF)]
            bytes += withUnsafeBytes(of: sequence.bigEndian, Array.init)
            bytes += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
        }
        return bytes
    }

    /// The recorded datagrams for member `member` (0-based) of session 0.
    static func output(_ harness: DataPlaneHarness, to member: Int, session: Int = 0) -> [[UInt8]] {
        harness.output.filter { $0.destination == DataPlaneHarness.address(session: session, member: member) }.map(\.bytes)
    }

    @Test func aLatestBroadcastWaitsForTheTickThenReachesEveryOtherMemberInAnAggregate() {
        let harness = Self.harness(members: 3)
        let low = harness.sessionLow32(0)
        Self.send(harness, member: 0, sequence: 0x0102_0304, payload: Array("state".utf8))
        #expect(harness.output.isEmpty, "nothing is forwarded before the tick")
        harness.tick(session: 0)
        #expect(Self.output(harness, to: 1) == [Self.aggregate(session: low, target: 2, tick: 1, [(1, 0x0102_0304, Array("state".utf8))])])
        #expect(Self.output(harness, to: 2) == [Self.aggregate(session: low, target: 3, tick: 1, [(1, 0x0102_0304, Array("state".utf8))])])
        #expect(Self.output(harness, to: 0).isEmpty, "never the sender's own state")
        #expect(harness.counters.aggregatesSent == 2)
        #expect(harness.counters.aggregateBytesSent == UInt64(2 * (16 + 8 + 5)))
        #expect(harness.counters.datagramsForwarded == 0)
        harness.removeOutput()
        harness.tick(session: 0)
        #expect(harness.output.isEmpty, "a state goes out once; the next tick has nothing new")
    }

    @Test func aNewerStateSupersedesThePendingOne() {
        let harness = Self.harness(members: 2)
        for sequence: UInt32 in [100, 101, 102] { Self.send(harness, member: 0, sequence: sequence, payload: [UInt8(sequence)]) }
        #expect(harness.counters.statesSuperseded == 2)
        harness.tick(session: 0)
        #expect(Self.output(harness, to: 1) == [Self.aggregate(session: harness.sessionLow32(0), target: 2, tick: 1, [(1, 102, [102])])])
        // A state after the tick replaces nothing unsent.
        Self.send(harness, member: 0, sequence: 103, payload: [103])
        #expect(harness.counters.statesSuperseded == 2)
        #expect(harness.counters.drops(.stale) == 0 && harness.counters.drops(.duplicate) == 0)
    }

    @Test func entriesComeInMemberIdOrderWithoutTheReceiversOwn() {
        let harness = Self.harness(members: 4)
        let low = harness.sessionLow32(0)
        for member in (0..<4).reversed() { Self.send(harness, member: member, sequence: UInt32(10 + member), payload: [UInt8](repeating: UInt8(member), count: member + 1)) }
        harness.tick(session: 0)
        for receiver in 0..<4 {
            let entries = (0..<4).filter { $0 != receiver }.map { (UInt16($0 + 1), UInt32(10 + $0), [UInt8](repeating: UInt8($0), count: $0 + 1)) }
            #expect(Self.output(harness, to: receiver) == [Self.aggregate(session: low, target: UInt16(receiver + 1), tick: 1, entries)])
        }
    }

    @Test func entriesThatDoNotFitGoIntoFurtherAggregatesOfTheSameTickNeverSplit() throws {
        // maxDatagram 100: entries of 8 + 20 bytes, three to a datagram; each receiver gets six.
        let harness = Self.harness(members: 7) { $0.maxDatagram = 100 }
        let low = harness.sessionLow32(0)
        for member in 0..<7 { Self.send(harness, member: member, sequence: 1, payload: [UInt8](repeating: UInt8(member), count: 20)) }
        harness.tick(session: 0)
        for receiver in 0..<7 {
            let datagrams = Self.output(harness, to: receiver)
            let others = (0..<7).filter { $0 != receiver }.map { (UInt16($0 + 1), UInt32(1), [UInt8](repeating: UInt8($0), count: 20)) }
            #expect(datagrams == [Self.aggregate(session: low, target: UInt16(receiver + 1), tick: 1, Array(others[0..<3])),
                                  Self.aggregate(session: low, target: UInt16(receiver + 1), tick: 1, Array(others[3..<6]))])
            #expect(datagrams.allSatisfy { $0.count == 100 })
        }
        #expect(harness.counters.aggregatesSent == 14)
    }

    @Test func aStateOfMaxDatagramMinus24IsAggregatedAndALargerOneForwardedAtOnce() {
        let harness = Self.harness(members: 2) { $0.maxDatagram = 200 }
        let fits = [UInt8](repeating: 1, count: 176)
        Self.send(harness, member: 0, sequence: 1, payload: fits)
        #expect(harness.output.isEmpty)
        let big = Self.send(harness, member: 0, sequence: 2, payload: [UInt8](repeating: 2, count: 177))
        #expect(Self.output(harness, to: 1) == [big], "forwarded unchanged, at once")
        harness.removeOutput()
        harness.tick(session: 0)
        let aggregates = Self.output(harness, to: 1)
        #expect(aggregates == [Self.aggregate(session: harness.sessionLow32(0), target: 2, tick: 1, [(1, 1, fits)])])
        #expect(aggregates.first?.count == 200)
    }

    @Test func dataWithoutLatestAndUnicastLatestAreForwardedAtOnce() {
        let harness = Self.harness(members: 3)
        let voice = Self.send(harness, member: 0, sequence: 1, payload: [9], latest: false)
        #expect(Self.output(harness, to: 1) == [voice] && Self.output(harness, to: 2) == [voice])
        harness.removeOutput()
        let unicast = Self.send(harness, member: 0, sequence: 2, payload: [8], target: 3)
        #expect(harness.output.map(\.bytes) == [unicast] && Self.output(harness, to: 2) == [unicast])
        harness.removeOutput()
        harness.tick(session: 0)
        #expect(harness.output.isEmpty, "nothing was aggregated")
        #expect(harness.counters.datagramsForwarded == 3)
    }

    @Test func theTickNumberCountsEveryTickEvenThoseThatSendNothing() {
        let harness = Self.harness(members: 2)
        for _ in 0..<5 { harness.tick(session: 0) }
        #expect(harness.output.isEmpty && harness.tickNumber(session: 0) == 5)
        Self.send(harness, member: 1, sequence: 1, payload: [1])
        harness.tick(session: 0)
        #expect(Self.output(harness, to: 0) == [Self.aggregate(session: harness.sessionLow32(0), target: 1, tick: 6, [(2, 1, [1])])])
    }

    @Test func unboundMembersGetNothingAndAMemberWithNoEntriesGetsNothing() {
        let harness = Self.harness(members: 3)
        harness.unbind(session: 0, member: 2)
        Self.send(harness, member: 0, sequence: 1, payload: [1])
        harness.tick(session: 0)
        #expect(harness.output.map(\.destination) == [DataPlaneHarness.address(session: 0, member: 1)])
    }

    @Test func aBroadcastWithNoOtherBoundMemberIsNoTargetAndLeavesNoState() {
        let harness = Self.harness(members: 2)
        harness.unbind(session: 0, member: 1)
        Self.send(harness, member: 0, sequence: 1, payload: [1])
        #expect(harness.counters.drops(.noTarget) == 1)
        harness.rebind(session: 0, member: 1, to: DataPlaneHarness.address(session: 0, member: 1))
        harness.tick(session: 0)
        #expect(harness.output.isEmpty, "a dropped datagram is not a pending state")
        // Its sequence was not recorded either: the same one now passes.
        Self.send(harness, member: 0, sequence: 1, payload: [1])
        harness.tick(session: 0)
        #expect(Self.output(harness, to: 1).count == 1)
    }

    @Test func aPendingStateCountsAsForwardedForTheReplayWindowAndTheLatestFilter() {
        let harness = Self.harness(members: 2)
        Self.send(harness, member: 0, sequence: 1000, payload: Array("p1000".utf8))
        Self.send(harness, member: 0, sequence: 1000, payload: Array("dup".utf8), latest: false)
        Self.send(harness, member: 0, sequence: 999, payload: Array("stale".utf8))
        #expect(harness.counters.drops(.duplicate) == 1)
        #expect(harness.counters.drops(.stale) == 1)
        #expect(harness.output.isEmpty)
        harness.tick(session: 0)
        #expect(Self.output(harness, to: 1) == [Self.aggregate(session: harness.sessionLow32(0), target: 2, tick: 1, [(1, 1000, Array("p1000".utf8))])])
    }

    @Test func anAggregatedStateIsChargedToTheRateLimitsAndARefusedOneReplacesNothing() {
        let harness = Self.harness(members: 2, configure: { $0.memberPacketRate = 2 }, liftsRateLimits: false)
        for sequence: UInt32 in 1...3 { Self.send(harness, member: 0, sequence: sequence, payload: [UInt8(sequence)]) }
        #expect(harness.counters.drops(.rateLimited) == 1)
        harness.tick(session: 0)
        #expect(Self.output(harness, to: 1) == [Self.aggregate(session: harness.sessionLow32(0), target: 2, tick: 1, [(1, 2, [2])])])
    }

    @Test func aPendingStateDiesWithItsMembership() {
        let harness = Self.harness(members: 3)
        Self.send(harness, member: 0, sequence: 1, payload: [1])
        harness.remove(session: 0, member: 0)
        harness.tick(session: 0)
        #expect(harness.output.isEmpty)
    }

    @Test func aPendingStateDiesWithItsBinding() {
        let harness = Self.harness(members: 2)
        Self.send(harness, member: 0, sequence: 1, payload: [1])
        harness.unbind(session: 0, member: 0)
        harness.rebind(session: 0, member: 0, to: DataPlaneHarness.address(session: 0, member: 0))
        harness.tick(session: 0)
        #expect(harness.output.isEmpty, "bound again, but its earlier state died with the old binding")
    }

    @Test func anIdleUnbindDiscardsThePendingState() {
        let clock = ManualClock(nanoseconds: 1_000_000_000)
        var config = RelayConfig()
        config.idleTimeout = .seconds(1)
        let harness = DataPlaneHarness(sessions: 1, members: 2, config: config, recordsOutput: true, clock: clock, tick: 10)
        clock.advance(by: .milliseconds(900))
        Self.send(harness, member: 1, sequence: 1, payload: [1])
        // Member 0 (the receiver) stays; member 1 (the sender) idles out a second after its datagram.
        Self.send(harness, member: 0, sequence: 1, payload: [], latest: false)
        harness.sweep(asOf: harness.now + 1_000_000_000)
        #expect(harness.binding(session: 0, member: 1) == nil && harness.binding(session: 0, member: 0) == nil)
        harness.rebind(session: 0, member: 0, to: DataPlaneHarness.address(session: 0, member: 0))
        harness.removeOutput()
        harness.tick(session: 0)
        #expect(harness.output.isEmpty)
    }

    @Test func aPendingStateSurvivesAMoveToANewAddress() throws {
        let harness = Self.harness(members: 2)
        Self.send(harness, member: 0, sequence: 7, payload: [7])
        let moved = try SocketAddress(ipAddress: "127.0.0.9", port: 4000)
        harness.rebind(session: 0, member: 0, to: moved)
        harness.tick(session: 0)
        #expect(Self.output(harness, to: 1) == [Self.aggregate(session: harness.sessionLow32(0), target: 2, tick: 1, [(1, 7, [7])])])
    }

    @Test func aReceiverThatMovedGetsItsAggregateAtTheNewAddress() throws {
        let harness = Self.harness(members: 2)
        let moved = try SocketAddress(ipAddress: "127.0.0.9", port: 4000)
        harness.rebind(session: 0, member: 1, to: moved)
        Self.send(harness, member: 0, sequence: 7, payload: [7])
        harness.tick(session: 0)
        #expect(harness.output.map(\.destination) == [moved])
    }

    @Test func aTickOfALargeSessionFlushesInChunksAndSendsEveryEntryOnce() throws {
        // 100 members with states of maxDatagram − 24 bytes: 99 AGGREGATEs each, 9900 in one
        // tick, far more than the loop's scratch slots hold at once.
        let harness = Self.harness(members: 100) { $0.maxDatagram = 64; $0.maxSessionCapacity = 100 }
        for member in 0..<100 { Self.send(harness, member: member, sequence: UInt32(member + 1), payload: [UInt8](repeating: UInt8(member), count: 40)) }
        harness.tick(session: 0)
        #expect(harness.counters.aggregatesSent == 9900)
        for receiver in [0, 57, 99] {
            let senders = try Self.output(harness, to: receiver).map { bytes in
                try #require(bytes.count == 64 && bytes[2] == 6 ? UInt16(bytes[16]) << 8 | UInt16(bytes[17]) : nil)
            }
            #expect(senders == (0..<100).filter { $0 != receiver }.map { UInt16($0 + 1) })
        }
    }

    @Test func onlyTheTickedSessionSends() {
        let harness = Self.harness(members: 2, sessions: 2)
        Self.send(harness, session: 0, member: 0, sequence: 1, payload: [1])
        Self.send(harness, session: 1, member: 0, sequence: 1, payload: [2])
        harness.tick(session: 1)
        #expect(harness.output.map(\.destination) == [DataPlaneHarness.address(session: 1, member: 1)])
        #expect(harness.tickNumber(session: 0) == 0)
    }

    @Test func aSessionWithoutTickForwardsLatestBroadcastsAtOnce() {
        let harness = DataPlaneHarness(sessions: 1, members: 2, recordsOutput: true)
        let sent = Self.send(harness, member: 0, sequence: 1, payload: [1])
        #expect(harness.output.map(\.bytes) == [sent])
    }
}
