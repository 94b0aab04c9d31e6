import Testing
import UVNet

#if canImport(Glibc)
import Glibc
#endif

@Suite struct HandleLifetimeTests {
    // MARK: Many handles

    /// The measurement, run alone in a child process so that no parallel test moves its RSS.
    /// Reports what it saw on standard error for the parent to check.
    static func openAndCloseTenThousandDatagramSockets() async throws {
        let total = 10_000
        let batch = 500
        let warmUp = 1_000
        let completed = Counter()
        let batchDone = Inbox<Int>()
        let samples = Inbox<WeakBox<DatagramSocket>>()
        var residentAfterWarmUp = 0
        let loop = EventLoop(name: "uv-test-10k")
        for start in stride(from: 0, to: total, by: batch) {
            let target = start + batch
            try await loop.submit {
                for index in start..<target {
                    let socket = DatagramSocket(loop: loop)
                    try socket.bind(localPort: 0, localAddress: "127.0.0.1")
                    try socket.receive()
                    if index % 1_000 == 0 { samples.put(WeakBox(socket, loop: loop)) }
                    socket.close {
                        completed.increment()
                        if completed.count == target { batchDone.put(target) }
                    }
                }
            }
            _ = try await batchDone.next("the close completions of sockets \(start)..<\(target)")
            if target == warmUp { residentAfterWarmUp = try residentBytes() }
        }
        let live = try await loop.liveHandlesAfterTurn()
        let released = try await loop.submit { samples.drain().allSatisfy { $0.value == nil } }
        let residentAtEnd = try residentBytes()
        await loop.shutdown()

        // One line of `key=value` fields for the parent to check.
        let report = "completions=\(completed.count) live=\(live) released=\(released ? 1 : 0) "
            + "rssAfterWarmUpKiB=\(residentAfterWarmUp >> 10) rssAtEndKiB=\(residentAtEnd >> 10) "
            + "growthKiB=\((residentAtEnd - residentAfterWarmUp) >> 10)\n"
        _ = report.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }

    @Test func tenThousandDatagramSocketsCloseCompletelyWithoutGrowingRSS() async throws {
        let result = try #require(await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            try await HandleLifetimeTests.openAndCloseTenThousandDatagramSockets()
        })
        let report = String(decoding: result.standardErrorContent, as: UTF8.self)
        var fields: [String: Int] = [:]
        for field in report.split(whereSeparator: \.isWhitespace) {
            let parts = field.split(separator: "=")
            if parts.count == 2, let value = Int(parts[1]) { fields[String(parts[0])] = value }
        }
        #expect(fields["completions"] == 10_000, "\(report)")
        #expect(fields["live"] == 0, "\(report)")
        #expect(fields["released"] == 1, "sampled sockets still alive after their close: \(report)")
        let growth = try #require(fields["growthKiB"], "\(report)")
        #expect(growth <= 3 * 1024, "RSS grew by \(growth) KiB over 9,000 sockets: \(report)")
    }

    @Test func thousandTCPConnectAcceptCloseCyclesLeaveNoHandles() async throws {
        try await withLoop { loop in
            let cycles = 1_000
            let connects = Counter()
            let accepts = Counter()
            let peerCloses = Counter()
            let failures = Inbox<SocketError>()
            let done = Inbox<Int>()
            let listener = try await loop.submit {
                let listener = ServerSocket(loop: loop)
                try listener.bind(localPort: 0, localAddress: "127.0.0.1")
                try listener.listen()
                let port = listener.localPort
                var started = 0
                func next() {
                    guard started < cycles else {
                        done.put(started)
                        return
                    }
                    started += 1
                    let client = Socket(loop: loop)
                    client.onConnect = {
                        connects.increment()
                        // Alternate which side closes first.
                        if started % 2 == 0 { client.close() }
                    }
                    client.onClose = { next() }
                    client.onIOError = { failures.put($0) }
                    if let error = thrownError({ try client.connect(host: "127.0.0.1", port: port) }) { failures.put(error) }
                }
                listener.onConnect = { socket in
                    accepts.increment()
                    if started % 2 == 1 { socket.close() }
                    socket.onClose = {
                        peerCloses.increment()
                        next()
                    }
                }
                next()
                return LoopBound(listener, loop: loop)
            }
            let finished = try await done.next("\(cycles) cycles", timeout: .seconds(120))
            #expect(finished == cycles)
            #expect(failures.drain().isEmpty)
            #expect(connects.count == cycles)
            #expect(accepts.count == cycles)
            #expect(peerCloses.count == cycles / 2)
            #expect(try await loop.liveHandlesAfterTurn() == 1, "only the listener should be open")
            try await loop.submit { listener.value.close() }
            #expect(try await loop.liveHandlesAfterTurn() == 0)
        }
    }

    // MARK: Shutdown

    @Test func shutdownClosesHandlesLeftOpenAndReleasesTheirOwners() async throws {
        let loop = EventLoop(name: "uv-test-leftopen")
        let completions = Inbox<String>()
        let owners: [Named]
        let live: Int
        // The pair's references end with this scope: afterwards only the loop holds the connection.
        do {
            let pair = try await TCPPair.connect(on: loop)
            (owners, live) = try await loop.submit {
                let udp = DatagramSocket(loop: loop)
                try udp.bind(localPort: 0, localAddress: "127.0.0.1")
                try udp.receive()
                // Handlers that capture their own object: the close must break these cycles.
                udp.onIOError = { _ in udp.close() }

                let server = ServerSocket(loop: loop)
                try server.bind(localPort: 0, localAddress: "::1")
                try server.listen()
                server.onIOError = { _ in server.close() }

                let ticking = Timer(loop: loop)
                ticking.start(after: .seconds(3_600), repeating: .seconds(3_600)) { ticking.stop() }
                let scheduled = loop.schedule(after: .seconds(3_600)) {}

                let watcher = try SignalWatcher(loop: loop, signal: SIGUSR2) { _ in }
                let xml = XMLSocket(socket: pair.server.value)

                // A close already under way when shutdown begins completes too.
                let closing = DatagramSocket(loop: loop)
                try closing.bind(localPort: 0, localAddress: "::1")
                closing.close { completions.put("closing socket") }

                let owners: [(String, AnyObject)] = [
                    ("udp", udp), ("server", server), ("timer", ticking), ("scheduled", scheduled), ("signal", watcher),
                    ("xml", xml), ("client", pair.client.value), ("accepted", pair.server.value),
                    ("listener", pair.listener.value), ("closing", closing),
                ]
                return (owners.map { Named(name: $0.0, box: WeakBox($0.1, loop: loop)) }, loop.liveHandleCount)
            }
        }
        #expect(live == 9)
        await loop.shutdown()
        #expect(try await completions.next("the completion of the close under way") == "closing socket")
        let survivors = owners.filter { $0.box.afterLoopExit != nil }.map(\.name)
        #expect(survivors.isEmpty, "still alive after shutdown: \(survivors)")
    }

    struct Named: Sendable {
        let name: String
        let box: WeakBox<AnyObject>
    }
}
