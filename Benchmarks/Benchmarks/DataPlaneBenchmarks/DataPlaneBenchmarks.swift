import Benchmark

/// The socket-free benchmarks: the wire values one at a time, then the data plane's whole
/// receive-to-send pass. Every one of them must allocate nothing once warm.
let benchmarks: @Sendable () -> Void = {
    wireBenchmarks()
    forwardingBenchmarks()
    scalingBenchmarks()
    tickBenchmarks()

    // The positive control: exactly one malloc per operation, so its recorded threshold is 1000
    // per iteration. Should the malloc interposer ever be left out of the build (`traits: []`),
    // every count above would read 0 and pass; this one would read 0 too, a deviation from 1000,
    // and fail the check.
    Benchmark("MallocCounterControl.onePerOperation", configuration: perOperation()) { benchmark in
        for _ in benchmark.scaledIterations {
            let block = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
            blackHole(block)
            block.deallocate()
        }
    }
}
