import RelayWire
@_spi(Benchmarks) import UVNet

/// The data plane without sockets, for benchmarks, allocation checks and the BIND fuzzer:
/// sessions of bound members at made-up loopback addresses, datagrams handed in as bytes, and
/// the forwards and replies counted (and, on request, recorded with their destinations) by
/// injected send functions instead of `sendmmsg`.
///
/// Not part of the supported API (`@_spi(Benchmarks)`); loop-agnostic but single-threaded.
@_spi(Benchmarks)
public final class DataPlaneHarness {
    private let plane: DataPlane
    private var sessionLows: [UInt32] = []
    private let membersPerSession: Int
    /// Harnesses for `count` data-plane loops, each owning `sessions` sessions of `members` bound
    /// members, as the relay's loops do: they share nothing, so each may run on its own thread.
    public static func group(count: Int, sessions: Int, members: Int) -> [DataPlaneHarness] {
        (0..<count).map { _ in DataPlaneHarness(sessions: sessions, members: members) }
    }

    /// Datagrams the injected send function has taken (forwards plus replies).
    public private(set) var sent = 0

    /// Creates `sessions` sessions of `members` bound members each.
    ///
    /// - Parameters:
    ///   - liftsRateLimits: Whether the per-member rate limits are lifted, as benchmarks want
    ///     (they measure the path, not the limiter's refusals); a fuzzer keeps them.
    ///   - recordsOutput: Whether every datagram sent is kept in ``output``, with its bytes and
    ///     destination. That allocates per datagram, so benchmarks leave it off.
    ///   - clock: A clock the caller moves by hand; nil for the system's monotonic clock.
    ///   - tick: Makes every session a tick session of this rate (PROTOCOL.md §8). The harness
    ///     has no timer: ticks run when ``tick(session:)`` is called.
    public init(sessions: Int, members: Int, config: RelayConfig = RelayConfig(), liftsRateLimits: Bool = true,
                recordsOutput: Bool = false, clock: ManualClock? = nil, tick: Int? = nil) {
        var config = config
        config.maxSessionCapacity = max(config.maxSessionCapacity, members)
        if liftsRateLimits {
            config.memberPacketRate = Int(Int32.max)
            config.memberByteRate = Int.max / 2
        }
        membersPerSession = members
        let counter = OutputRecorder()
        counter.isRecording = recordsOutput
        plane = DataPlane(
            output: .injected(
                flush: { batch in
                    counter.count += batch.count
                    var bytes = 0
                    for index in 0..<batch.count { bytes += batch.length(at: index) }
                    if counter.isRecording { counter.record(forwardsIn: batch) }
                    return .init(sent: batch.count, bytesSent: bytes, failed: 0)
                },
                reply: { bytes, destination in
                    counter.count += 1
                    if counter.isRecording {
                        counter.output.append(SentDatagram(kind: .reply, bytes: Array(bytes), destination: destination))
                    }
                    return true
                }),
            clock: clock.map(DataPlane.Clock.manual) ?? .system, config: config, cookies: BindCookie(), published: PublishedCounters(), notify: { _ in })
        self.counter = counter
        let directory = SessionDirectory(loops: 1, random: SystemRandomNumberGenerator())
        let table = plane.table
        let now = plane.now
        for sessionIndex in 0..<sessions {
            let entry = directory.create(creator: nil, source: nil)
            let session = table.createSession(id: entry.id, code: entry.code, capacity: max(members, 2), tick: tick, nowNanos: now)
            sessionLows.append(session.id.low32)
            for memberIndex in 0..<members {
                let member = table.join(session, name: "", token: directory.newToken(), connection: 0, config: config, nowNanos: now)
                table.setBinding(member, to: Self.address(session: sessionIndex, member: memberIndex))
                member.lastSeen = now
            }
        }
    }

    /// What the injected output saw: a count always, the datagrams themselves when recording.
    private final class OutputRecorder {
        var count = 0
        var isRecording = false
        var output: [SentDatagram] = []

        /// Keeps each forward queued in `batch`, read back from its `sendmmsg` headers: the
        /// destinations exist nowhere else, and the headers are exactly what the kernel would get.
        func record(forwardsIn batch: DatagramBatch) {
            for index in 0..<batch.count {
                output.append(SentDatagram(kind: .forward, bytes: Array(batch.bytes(at: index)), destination: batch.destination(at: index)))
            }
        }
    }

    /// One datagram the data plane handed to the injected output.
    public struct SentDatagram: Hashable {
        /// Whether it answered a datagram or forwarded one.
        public enum Kind: Hashable {
            /// A BIND_ACK or PONG, sent at once.
            case reply
            /// A copy of a DATA datagram, sent when the batch ended.
            case forward
        }

        /// Whether it answered a datagram or forwarded one.
        public let kind: Kind
        /// The UDP payload, exactly as the socket would have sent it.
        public let bytes: [UInt8]
        /// Where the socket would have sent it.
        public let destination: SocketAddress
    }

    private let counter: OutputRecorder

    /// The made-up source address of member `member` (0-based) of session `session`.
    public static func address(session: Int, member: Int) -> SocketAddress {
        let port = UInt16(truncatingIfNeeded: 1024 + (session * 97 + member) % 60_000)
        return SocketAddress(ipv4: (127, 0, UInt8(truncatingIfNeeded: session >> 8), UInt8(truncatingIfNeeded: session)), port: port)
    }

    /// A DATA header from member `member` (0-based) of session `session`, written into `buffer`.
    public func writeData(session: Int, member: Int, target: UInt16 = PacketHeader.broadcastTarget, sequence: UInt32,
                          flags: UInt8 = 0, into buffer: UnsafeMutableRawBufferPointer) {
        PacketHeader(type: PacketType.data, flags: flags, session: sessionLows[session], member: UInt16(member + 1), target: target,
                     sequence: sequence)
            .write(to: buffer)
    }

    /// Whether the registry finds member `member` of session `session` (the per-datagram lookup).
    public func lookup(session: Int, member: Int) -> Bool {
        plane.table.member(session: sessionLows[session], member: UInt16(member + 1)) != nil
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

    /// The time on the harness's clock (nanoseconds), as the data plane reads it.
    public var now: UInt64 { plane.now }

    /// Runs the idle sweep as of `nanoseconds`, whatever the clock says: unbinds members idle for
    /// the idle timeout, deletes sessions nobody joined in time.
    public func sweep(asOf nanoseconds: UInt64) {
        plane.sweep(now: nanoseconds)
    }

    /// The data plane's counters.
    public var counters: RelayCounters { plane.counters }

    /// Runs one datagram through the data plane as a receive batch of its own, so its forwards are
    /// sent (to the injected output) while `bytes` is still alive.
    public func deliver(_ bytes: [UInt8], from source: SocketAddress) {
        bytes.withUnsafeBytes { buffer in
            receive(buffer, from: source)
            endBatch()
        }
    }

    /// Every datagram sent since the harness was made or ``removeOutput()`` last ran, in order;
    /// empty unless the harness was made with `recordsOutput`.
    public var output: [SentDatagram] { counter.output }

    /// Forgets the recorded ``output``.
    public func removeOutput() {
        counter.output.removeAll(keepingCapacity: true)
    }

    /// The low 32 bits of session `session`'s id, as datagrams name it.
    public func sessionLow32(_ session: Int) -> UInt32 {
        sessionLows[session]
    }

    /// The member id of member `member` (0-based) in every session: ids count up from 1.
    public static func memberID(_ member: Int) -> UInt16 {
        UInt16(member + 1)
    }

    /// The BIND token of member `member` of session `session`; nil once the member is gone.
    public func token(session: Int, member: Int) -> [UInt8]? {
        plane.table.member(session: sessionLows[session], member: Self.memberID(member))?.token.bytes
    }

    /// Where member `member` of session `session` is bound; nil while unbound or gone.
    public func binding(session: Int, member: Int) -> SocketAddress? {
        plane.table.member(session: sessionLows[session], member: Self.memberID(member))?.binding
    }

    /// Runs one tick of session `session` (a tick session), as its timer would: its AGGREGATEs
    /// go to the injected send function at once.
    public func tick(session: Int) {
        guard let found = plane.table.sessions[sessionLows[session]] else { return }
        plane.runTick(found)
        sent = counter.count
    }

    /// The number of the last tick session `session` ran; nil once the session is gone.
    public func tickNumber(session: Int) -> UInt32? {
        plane.table.sessions[sessionLows[session]]?.tickNumber
    }

    /// Ends member `member`'s membership, as a `leave` does (the last one deletes the session).
    public func remove(session: Int, member: Int) {
        if let found = plane.table.member(session: sessionLows[session], member: Self.memberID(member)) {
            _ = plane.table.remove(found)
        }
    }

    /// Moves member `member`'s binding to `address`, as a BIND with a valid cookie from there does.
    public func rebind(session: Int, member: Int, to address: SocketAddress) {
        if let found = plane.table.member(session: sessionLows[session], member: Self.memberID(member)) {
            plane.table.setBinding(found, to: address)
        }
    }

    /// Removes member `member`'s binding, as an idle timeout does: its next BIND needs a cookie.
    public func unbind(session: Int, member: Int) {
        if let found = plane.table.member(session: sessionLows[session], member: Self.memberID(member)) {
            plane.table.setBinding(found, to: nil)
        }
    }
}
