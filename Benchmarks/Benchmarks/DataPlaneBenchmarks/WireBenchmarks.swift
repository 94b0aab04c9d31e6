import Benchmark
@_spi(Benchmarks) import RelayServer
import RelayWire

/// The per-datagram building blocks, one at a time: header parsing and classification, the
/// registry lookup, the replay window and the rate limiters. 1000 operations per iteration.
func wireBenchmarks() {
    // 64 different DATA datagrams, walked in turn, so nothing can be hoisted out of the loop.
    func makePool() -> DatagramPool {
        let pool = DatagramPool(count: 64)
        for index in 0..<pool.count {
            PacketHeader(type: PacketType.data, flags: index % 4 == 0 ? PacketFlags.latest : 0,
                         session: 0x1234_5678 &+ UInt32(index), member: UInt16(1 + index % 8),
                         target: index % 3 == 0 ? UInt16(1 + (index + 1) % 8) : PacketHeader.broadcastTarget,
                         sequence: UInt32(1000 + index))
                .write(to: pool.slot(index))
        }
        return pool
    }

    Benchmark("HeaderParse.116B", configuration: perOperation()) { benchmark, pool in
        let mask = pool.count - 1
        for index in benchmark.scaledIterations {
            blackHole(PacketHeader(parsing: UnsafeRawBufferPointer(pool.slot(index & mask))))
        }
    } setup: {
        makePool()
    }

    Benchmark("HeaderClassify.116B", configuration: perOperation()) { benchmark, pool in
        let mask = pool.count - 1
        for index in benchmark.scaledIterations {
            blackHole(PacketHeader.classify(UnsafeRawBufferPointer(pool.slot(index & mask)), maxDatagram: 1200))
        }
    } setup: {
        makePool()
    }

    // 1000 sessions of 8 bound members: 8000 registry entries, probed in a scattered order.
    Benchmark("RegistryLookup.8000Members", configuration: perOperation()) { benchmark, harness in
        for index in benchmark.scaledIterations {
            // 997 is prime: consecutive lookups land in different sessions.
            let key = (index &* 997 &+ benchmark.currentIteration) % 8000
            blackHole(harness.lookup(session: key >> 3, member: key & 7))
        }
    } setup: {
        DataPlaneHarness(sessions: 1000, members: 8)
    }

    Benchmark("ReplayWindow.isFreshAndRecord", configuration: perOperation()) { benchmark, state in
        var window = state.window
        var sequence = state.sequence
        for _ in benchmark.scaledIterations {
            sequence &+= 1
            let fresh = window.isFresh(sequence)
            if fresh { window.record(sequence) }
            blackHole(fresh)
        }
        state.window = window
        state.sequence = sequence
    } setup: {
        ReplayState()
    }

    Benchmark("TokenBucket.tryTake", configuration: perOperation()) { benchmark, state in
        var bucket = state.bucket
        var now = state.now
        for _ in benchmark.scaledIterations {
            now &+= 1_000
            blackHole(bucket.tryTake(1, nowNanos: now))
        }
        state.bucket = bucket
        state.now = now
    } setup: {
        LimiterState()
    }

    Benchmark("MemberRateLimiter.admit.116B", configuration: perOperation()) { benchmark, state in
        var limiter = state.limiter
        var now = state.now
        for _ in benchmark.scaledIterations {
            now &+= 1_000
            blackHole(limiter.admit(bytes: datagramSize, nowNanos: now))
        }
        state.limiter = limiter
        state.now = now
    } setup: {
        LimiterState()
    }
}

/// A replay window and the sequence it last saw, carried from one iteration to the next.
final class ReplayState {
    var window = ReplayWindow()
    var sequence: UInt32 = 0
}

/// Rate limiters and a clock, carried from one iteration to the next. The rates are far above
/// the 1 µs steps of the clock, so every datagram is admitted: the benchmark measures the
/// admitting path, as a member within its limits takes it.
final class LimiterState {
    var now: UInt64 = 1_000_000_000
    var bucket = TokenBucket(ratePerSecond: 10_000_000, burst: 10_000_000, nowNanos: 1_000_000_000)
    var limiter = MemberRateLimiter(packetsPerSecond: 10_000_000, bytesPerSecond: 2_000_000_000, nowNanos: 1_000_000_000)
}
