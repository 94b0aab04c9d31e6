import Benchmark

/// A real relay and real clients on loopback, in one process: every allocation of the relay's
/// loop, the clients' loop and libuv counts. One iteration forwards 100,000 DATA datagrams and
/// waits until every copy has arrived; mallocs per forwarded datagram = `Malloc (total)` / 100,000.
let benchmarks: @Sendable () -> Void = {
    for members in [2, 8] {
        let fanOut = members - 1
        let rig = RigHolder()
        Benchmark(
            "EndToEnd.fanOut\(fanOut).\(EndToEndRig.datagramsPerIteration / 1000)kDatagrams",
            configuration: .init(
                metrics: [.mallocCountTotal, .wallClock, .cpuTotal, .throughput],
                // The first pass touches every buffer, dictionary and socket for the first time.
                warmupIterations: 1,
                maxDuration: .seconds(fanOut == 1 ? 10 : 20),
                maxIterations: 5,
                thresholds: [
                    // Below 0.01 mallocs per datagram means below 1000 per iteration: the recorded
                    // p90 plus 500 stays under that as long as the recorded figure does.
                    .mallocCountTotal: BenchmarkThresholds(absolute: [.p90: 500]),
                    .wallClock: BenchmarkThresholds(),
                    .cpuTotal: BenchmarkThresholds(),
                    .throughput: BenchmarkThresholds(),
                ]
            )
        ) { benchmark in
            guard let current = rig.rig else {
                benchmark.error("the relay and its clients did not start")
                return
            }
            if let failure = current.forward() { benchmark.error(failure) }
        } setup: {
            rig.rig = try await EndToEndRig(members: members)
        } teardown: {
            await rig.rig?.shutdown()
            rig.rig = nil
        }
    }
}

/// Carries the rig from the setup hook to the benchmark and the teardown hook, all of which run
/// on the benchmark's thread one after another.
final class RigHolder: @unchecked Sendable {
    // @unchecked: written in setup and teardown, read by the iterations between them; the
    // benchmark runner calls these in sequence, never at once.
    var rig: EndToEndRig?
}
