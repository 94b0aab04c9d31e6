import CLibUV
import RelayWire
import UVNet

/// The data plane without sockets, for benchmarks and allocation checks: sessions of bound
/// members at made-up loopback addresses, datagrams handed in as bytes, and the forwards
/// counted by an injected send function instead of `sendmmsg`.
///
/// Not part of the supported API (`@_spi(Benchmarks)`); loop-agnostic but single-threaded.
@_spi(Benchmarks)
public final class DataPlaneHarness {
    private let shared: SharedRegistry
    private let plane: DataPlane
    private var sessionLows: [UInt32] = []
    private let membersPerSession: Int
    /// Datagrams the injected send function has taken (forwards plus replies).
    public private(set) var sent = 0

    /// Creates `sessions` sessions of `members` bound members each.
    public init(sessions: Int, members: Int, config: RelayConfig = RelayConfig()) {
        var config = config
        config.maxSessionCapacity = max(config.maxSessionCapacity, members)
        // Benchmarks measure the path, not the limiter's refusals.
        config.memberPacketRate = Int(Int32.max)
        config.memberByteRate = Int.max / 2
        membersPerSession = members
        shared = SharedRegistry(random: SystemRandomNumberGenerator())
        let counter = SendCounter()
        plane = DataPlane(
            output: .injected(
                flush: { batch in
                    counter.count += batch.count
                    var bytes = 0
                    for index in 0..<batch.count { bytes += batch.length(at: index) }
                    return .init(sent: batch.count, bytesSent: bytes, failed: 0)
                },
                reply: { _, _ in
                    counter.count += 1
                    return true
                }),
            shared: shared, config: config, cookies: BindCookie(), published: PublishedCounters(), notify: { _ in })
        self.counter = counter
        let now = uv_hrtime()
        shared.withLock { registry in
            for sessionIndex in 0..<sessions {
                let session = registry.createSession(capacity: max(members, 2), creator: nil, nowNanos: now)
                sessionLows.append(session.id.low32)
                for memberIndex in 0..<members {
                    let member = registry.join(session, name: "", connection: nil, config: config, nowNanos: now)
                    member.binding = Self.address(session: sessionIndex, member: memberIndex)
                    member.lastSeen = now
                }
            }
        }
    }

    private final class SendCounter {
        var count = 0
    }

    private let counter: SendCounter

    /// The made-up source address of member `member` (0-based) of session `session`.
    public static func address(session: Int, member: Int) -> SocketAddress {
        let port = UInt16(truncatingIfNeeded: 1024 + (session * 97 + member) % 60_000)
        return SocketAddress(ipv4: (127, 0, UInt8(truncatingIfNeeded: session >> 8), UInt8(truncatingIfNeeded: session)), port: port)
    }

    /// A DATA header from member `member` (0-based) of session `session`, written into `buffer`.
    public func writeData(session: Int, member: Int, target: UInt16 = PacketHeader.broadcastTarget, sequence: UInt32,
                          into buffer: UnsafeMutableRawBufferPointer) {
        PacketHeader(type: PacketType.data, session: sessionLows[session], member: UInt16(member + 1), target: target, sequence: sequence)
            .write(to: buffer)
    }

    /// Whether the registry finds member `member` of session `session` (the per-datagram lookup).
    public func lookup(session: Int, member: Int) -> Bool {
        shared.withLock { $0.member(session: sessionLows[session], member: UInt16(member + 1)) != nil }
    }

    /// Runs one datagram through the checks of §2.3; forwards are queued until ``endBatch()``.
    public func receive(_ bytes: UnsafeRawBufferPointer, from source: SocketAddress) {
        plane.handle(Datagram(bytes: bytes, source: source))
    }

    /// Ends the receive batch: the queued forwards go to the injected send function.
    public func endBatch() {
        plane.batchEnded()
        sent = counter.count
    }

    /// The data plane's counters.
    public var counters: RelayCounters { plane.counters }
}
