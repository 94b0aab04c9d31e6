import Benchmark
@_spi(Benchmarks) import RelayServer
import RelayWire
import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// N data-plane loops on N threads (thread i pinned to core i), each forwarding for the sessions
/// it owns, with injected output (no kernel): what `--threads N` can scale to before the kernel's share. Every thread
/// runs 100k DATA broadcasts through its own harness per iteration, so the wall clock of one
/// iteration at N = 2 against N = 1 is the scaling figure (2 × time(1) / time(2); 2.0 is perfect).
/// Runs only where there are at least N cores to give the threads.
func scalingBenchmarks() {
    let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    for loops in [1, 2] where loops <= max(cores, 1) {
        for members in [2, 8] {
            Benchmark("Scaling.loops\(loops).fanOut\(members - 1).100kDatagramsPerLoop",
                      configuration: .init(metrics: reportedMetrics, warmupIterations: 2, scalingFactor: .one,
                                           maxDuration: .seconds(3), maxIterations: 30, thresholds: scalingGate)) { benchmark, pool in
                for _ in benchmark.scaledIterations {
                    pool.runOnce()
                }
                if let failure = pool.failure { benchmark.error(failure) }
            } setup: {
                WorkerPool(states: DataPlaneHarness.group(count: loops, sessions: 64, members: members)
                    .map { ForwardingState(harness: $0, sessions: 64, members: members) },
                           datagramsPerRun: 100_000)
            }
        }
    }
}

/// The malloc gate of a scaling run: a run is 100k datagrams per thread, and the thread hand-offs
/// around it cost the benchmark's counter a handful of mallocs that vary from run to run; one
/// malloc per datagram would add 100k. Time is never gated.
var scalingGate: [BenchmarkMetric: BenchmarkThresholds] {
    var gate = mallocGate
    gate[.mallocCountTotal] = BenchmarkThresholds(absolute: [.p90: 100])
    return gate
}

/// One thread per forwarding state, started once; each ``runOnce()`` lets every thread forward
/// its datagrams and waits for all of them. Built on a bare pthread mutex and condition, so a run
/// allocates nothing.
final class WorkerPool: @unchecked Sendable {
    // @unchecked: `generation`, `finished` and `stopping` are only touched under `mutex`; each
    // state belongs to its own thread between a run's start and its finish.
    private let states: [ForwardingState]
    private let datagramsPerRun: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var generation = 0
    private var finished = 0
    private var stopping = false
    private var threads: [pthread_t] = []

    init(states: [ForwardingState], datagramsPerRun: Int) {
        self.states = states
        self.datagramsPerRun = datagramsPerRun
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for index in states.indices {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { argument in
                let context = Unmanaged<WorkerContext>.fromOpaque(argument!).takeRetainedValue()
                context.pool.work(context.index)
                return nil
            }, context)
            precondition(rc == 0, "pthread_create failed: \(rc)")
            threads.append(thread)
        }
    }

    /// What a thread needs; the thread does not keep the pool alive, whose deinit ends it.
    private final class WorkerContext {
        unowned let pool: WorkerPool
        let index: Int
        init(pool: WorkerPool, index: Int) {
            self.pool = pool
            self.index = index
        }
    }

    /// Why a run did not forward what it should have, if one did not.
    var failure: String? {
        for state in states where state.failure != nil { return state.failure }
        return nil
    }

    /// Lets every thread forward ``datagramsPerRun`` datagrams and waits until all have.
    func runOnce() {
        pthread_mutex_lock(mutex)
        finished = 0
        generation += 1
        pthread_cond_broadcast(condition)
        while finished < states.count { pthread_cond_wait(condition, mutex) }
        pthread_mutex_unlock(mutex)
    }

    deinit {
        stop()
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Ends the threads and waits for them.
    private func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }

    private func work(_ index: Int) {
        // One core per thread, as the relay's loops would have on a relay with a core each: left
        // to the scheduler, two threads woken together sometimes share a core for a whole run.
        var cores = cpu_set_t()
        withUnsafeMutableBytes(of: &cores) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        let core = index % max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        withUnsafeMutableBytes(of: &cores) { bytes in
            bytes[core / 8] |= UInt8(1 << (core % 8))
        }
        // Glibc's module does not export the GNU call, so it is looked up by name.
        typealias SetAffinity = @convention(c) (pthread_t, Int, UnsafePointer<cpu_set_t>) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pthread_setaffinity_np") {
            _ = unsafeBitCast(symbol, to: SetAffinity.self)(pthread_self(), MemoryLayout<cpu_set_t>.size, &cores)
        }
        var seen = 0
        while true {
            pthread_mutex_lock(mutex)
            while generation == seen, !stopping { pthread_cond_wait(condition, mutex) }
            let stop = stopping
            seen = generation
            pthread_mutex_unlock(mutex)
            if stop { return }
            states[index].run(datagrams: datagramsPerRun)
            pthread_mutex_lock(mutex)
            finished += 1
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
    }
}
