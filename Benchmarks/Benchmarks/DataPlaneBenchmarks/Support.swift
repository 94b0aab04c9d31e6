import Benchmark
import RelayServer
import RelayWire

/// What every benchmark here reports. Only `mallocCountTotal` is gated (see ``mallocGate``):
/// allocation counts are deterministic, time on a shared 2-core machine is not.
var reportedMetrics: [BenchmarkMetric] { [.mallocCountTotal, .wallClock, .cpuTotal, .throughput] }

/// Thresholds for `benchmark thresholds check`: no malloc at all at p90 (absolute tolerance 0),
/// and never a verdict on time (a check that reads a time metric from a thresholds file passes it).
var mallocGate: [BenchmarkMetric: BenchmarkThresholds] {
    [
        .mallocCountTotal: BenchmarkThresholds(absolute: [.p90: 0]),
        .wallClock: BenchmarkThresholds(),
        .cpuTotal: BenchmarkThresholds(),
        .throughput: BenchmarkThresholds(),
    ]
}

/// A configuration of 1000 operations per measured iteration, reported per operation.
/// Warm-up iterations run the same code first, so first-use allocations are not counted.
func perOperation(maxDuration: Duration = .seconds(1), maxIterations: Int = 2_000) -> Benchmark.Configuration {
    .init(metrics: reportedMetrics, warmupIterations: 20, scalingFactor: .kilo,
          maxDuration: maxDuration, maxIterations: maxIterations, thresholds: mallocGate)
}

/// The size of every datagram here: the 16-byte header and a 100-byte payload.
let datagramSize = 116

/// `count` DATA datagrams of ``datagramSize`` bytes, laid out one after another.
final class DatagramPool {
    let count: Int
    let storage: UnsafeMutableRawBufferPointer

    init(count: Int) {
        self.count = count
        storage = .allocate(byteCount: count * datagramSize, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0xA5)
    }

    deinit { storage.deallocate() }

    /// Datagram `index`'s bytes.
    @inline(__always)
    func slot(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[(index * datagramSize)..<((index + 1) * datagramSize)])
    }
}
