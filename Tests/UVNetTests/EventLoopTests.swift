import Dispatch
import Synchronization
import Testing
import UVNet

@Suite struct EventLoopTests {
    // MARK: Cross-thread work

    @Test func executeFromManyThreadsRunsEveryItemOnTheLoopInSubmissionOrder() async throws {
        try await withLoop { loop in
            let threads = 8
            let perThread = 500
            // Loop-thread state: the last sequence number seen from each thread.
            let seen = Locked([Int](repeating: -1, count: threads))
            let offLoop = Counter()
            let outOfOrder = Counter()
            let refused = Counter()
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    DispatchQueue.concurrentPerform(iterations: threads) { thread in
                        for sequence in 0..<perThread {
                            let accepted = loop.execute {
                                if !loop.inEventLoop { offLoop.increment() }
                                seen.withLock { last in
                                    if last[thread] != sequence - 1 { outOfOrder.increment() }
                                    last[thread] = sequence
                                }
                            }
                            if !accepted { refused.increment() }
                        }
                    }
                    done.resume()
                }
            }
            // Everything handed over before this submit runs before it.
            let last = try await loop.submit { seen.withLock { $0 } }
            #expect(refused.count == 0)
            #expect(offLoop.count == 0)
            #expect(outOfOrder.count == 0)
            #expect(last == [Int](repeating: perThread - 1, count: threads))
        }
    }

    @Test func submitRunsOnTheLoopAndReturnsOrRethrows() async throws {
        try await withLoop { loop in
            #expect(!loop.inEventLoop)
            let (onLoop, value) = try await loop.submit { (loop.inEventLoop, 6 * 7) }
            #expect(onLoop)
            #expect(value == 42)

            let thrown = await #expect(throws: SocketError.self) {
                try await loop.submit { () throws(SocketError) -> Int in
                    throw SocketError(.invalidArgument, operation: "probe", message: "thrown on the loop")
                }
            }
            #expect(thrown?.code == .invalidArgument)
            #expect(thrown?.operation == "probe")
        }
    }

    @Test func submitFromManyTasksAtOnce() async throws {
        try await withLoop { loop in
            let results = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for index in 0..<200 {
                    group.addTask { try await loop.submit { (index, loop.inEventLoop) } }
                }
                var results: [(Int, Bool)] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(results.map(\.0).sorted() == Array(0..<200))
            #expect(results.allSatisfy { $0.1 })
        }
    }

    @Test func submitAndExecuteAfterShutdownAreRefused() async throws {
        let loop = EventLoop(name: "uv-test-closed")
        #expect(try await loop.submit { 1 } == 1)
        await loop.shutdown()
        // A second shutdown is harmless and returns at once.
        await loop.shutdown()

        let error = await #expect(throws: SocketError.self) {
            try await loop.submit { 1 }
        }
        #expect(error?.code == .closed)
        let ran = Counter()
        #expect(loop.execute { ran.increment() } == false)
        #expect(ran.count == 0)
    }

    @Test func workAcceptedBeforeShutdownStillRuns() async throws {
        let loop = EventLoop(name: "uv-test-drain")
        let ran = Counter()
        // Queue work and shutdown back to back from this thread: each item either runs or is refused.
        var accepted = 0
        for _ in 0..<1_000 where loop.execute({ ran.increment() }) {
            accepted += 1
        }
        await loop.shutdown()
        #expect(accepted == 1_000)
        #expect(ran.count == accepted)
    }

    @Test func inEventLoopIsTrueOnlyOnTheLoopThread() async throws {
        try await withLoop { loop in
            let other = EventLoop(name: "uv-test-other")
            let onOwn = try await loop.submit { loop.inEventLoop }
            let onOther = try await other.submit { loop.inEventLoop }
            let otherOnOwn = try await other.submit { other.inEventLoop }
            await other.shutdown()
            #expect(!loop.inEventLoop)
            #expect(onOwn)
            #expect(!onOther)
            #expect(otherOnOwn)
        }
    }

    @Test func loopBoundValueTrapsOffItsLoop() async {
        await #expect(processExitsWith: .failure) {
            let loop = EventLoop(name: "uv-test-trap")
            let bound = try await loop.submit { LoopBound(7, loop: loop) }
            // Off the loop thread: the precondition must stop the process.
            _ = bound.value
        }
    }

    // MARK: Timers

    /// Keeps the loop waking up continuously, so timers are checked at every instant rather than
    /// only when the loop's poll times out: the condition under which a timer could fire early.
    final class Spinner: Sendable {
        private let stopped = Atomic<Bool>(false)
        let turns = Counter()
        init() {}
        func start(on loop: EventLoop) {
            loop.execute { [self] in
                turns.increment()
                if !stopped.load(ordering: .relaxed) { start(on: loop) }
            }
        }
        func stop() { stopped.store(true, ordering: .relaxed) }
    }

    @Test(arguments: [Duration.microseconds(300), .milliseconds(1), .microseconds(2_500), .milliseconds(4)])
    func oneShotTimerNeverFiresBeforeItsDelay(delay: Duration) async throws {
        try await withLoop { loop in
            let spinner = Spinner()
            spinner.start(on: loop)
            defer { spinner.stop() }
            let fired = Inbox<UInt64>()
            let delayNanos = UInt64(delay.components.seconds) * 1_000_000_000
                + UInt64(delay.components.attoseconds / 1_000_000_000)
            for _ in 0..<40 {
                try await loop.submit {
                    let start = loop.now
                    loop.schedule(after: delay) { fired.put(loop.now - start) }
                }
                let elapsed = try await fired.next("a timer of \(delay)")
                #expect(elapsed >= delayNanos, "fired after \(elapsed) ns, before its \(delayNanos) ns delay")
            }
            #expect(spinner.turns.count > 40, "the loop was not kept busy")
        }
    }

    enum TimerEvent: Sendable, Equatable {
        case tick(Int)
        case cancelled
        case control
    }

    @Test func repeatingTimerTicksUntilClosed() async throws {
        try await withLoop { loop in
            let events = Inbox<TimerEvent>()
            let elapsed = Inbox<UInt64>()
            try await loop.submit {
                let timer = Timer(loop: loop)
                let start = loop.now
                var ticks = 0
                timer.start(after: .milliseconds(5), repeating: .milliseconds(3)) {
                    ticks += 1
                    events.put(.tick(ticks))
                    elapsed.put(loop.now - start)
                    if ticks == 5 {
                        timer.close()
                        // Positive control: a later timer fires, the closed one does not tick again.
                        loop.schedule(after: .milliseconds(20)) { events.put(.control) }
                    }
                }
            }
            let seen = try await events.next(6, "five ticks then the control")
            #expect(seen == [.tick(1), .tick(2), .tick(3), .tick(4), .tick(5), .control])
            let times = elapsed.drain()
            #expect(times.count == 5)
            #expect(times.first.map { $0 >= 5_000_000 } == true, "first tick at \(times.first ?? 0) ns, before 5 ms")
            #expect(times == times.sorted())
            #expect(try await loop.liveHandlesAfterTurn() == 0)
        }
    }

    @Test func closingAScheduledTimerCancelsIt() async throws {
        try await withLoop { loop in
            let events = Inbox<TimerEvent>()
            let (liveWhileScheduled, closed) = try await loop.submit {
                let doomed = loop.schedule(after: .milliseconds(10)) { events.put(.cancelled) }
                loop.schedule(after: .milliseconds(40)) { events.put(.control) }
                let live = loop.liveHandleCount
                doomed.close()
                return (live, doomed.isClosed)
            }
            #expect(liveWhileScheduled == 2)
            #expect(closed)
            #expect(try await events.next("the control timer") == .control)
            #expect(events.drain().isEmpty)
            // The control timer closed itself after firing.
            #expect(try await loop.liveHandlesAfterTurn() == 0)
        }
    }

    @Test func stoppedTimerCanBeRestarted() async throws {
        try await withLoop { loop in
            let events = Inbox<TimerEvent>()
            let timer = try await loop.submit {
                let timer = Timer(loop: loop)
                timer.start(after: .milliseconds(10)) { events.put(.cancelled) }
                timer.stop()
                timer.start(after: .milliseconds(30)) { events.put(.tick(1)) }
                loop.schedule(after: .milliseconds(60)) { events.put(.control) }
                return LoopBound(timer, loop: loop)
            }
            #expect(try await events.next(2, "the restarted tick, then the control") == [.tick(1), .control])
            try await loop.submit { timer.value.close() }
            #expect(try await loop.liveHandlesAfterTurn() == 0)
        }
    }

    @Test func nowFollowsTheRealMonotonicClockByDefault() async throws {
        try await withLoop { loop in
            let (first, second) = try await loop.submit { (loop.now, loop.now) }
            #expect(second >= first)
            let fired = Inbox<UInt64>()
            try await loop.submit { _ = loop.schedule(after: .milliseconds(2)) { fired.put(loop.now) } }
            #expect(try await fired.next("a 2 ms timer") >= second + 2_000_000)
            let before = MonotonicClock.nanoseconds
            let reading = try await loop.submit { loop.now }
            let after = MonotonicClock.nanoseconds
            #expect(before <= reading && reading <= after)
        }
    }

    @Test func aLoopWithAManualClockReadsOnlyThatClock() async throws {
        let clock = ManualClock(nanoseconds: 5_000)
        let loop = EventLoop(name: "uv-test-clock", clock: clock)
        #expect(try await loop.submit { loop.now } == 5_000)
        clock.advance(by: .milliseconds(3))
        #expect(try await loop.submit { loop.now } == 3_005_000)
        #expect(loop.now == 3_005_000)
        clock.advance(by: .nanoseconds(7))
        #expect(try await loop.submit { loop.now } == 3_005_007)
        clock.set(nanoseconds: 42)
        #expect(try await loop.submit { loop.now } == 42)
        // Real time passing (a libuv timer still fires on it) leaves the loop's time alone.
        let fired = Inbox<UInt64>()
        try await loop.submit { _ = loop.schedule(after: .milliseconds(2)) { fired.put(loop.now) } }
        #expect(try await fired.next("a 2 ms timer on real time") == 42)
        await loop.shutdown()
    }

    @Test func aManualClockStartsAtOneSecondByDefault() {
        let clock = ManualClock()
        #expect(clock.nanoseconds == 1_000_000_000)
        clock.advance(by: .seconds(2))
        #expect(clock.nanoseconds == 3_000_000_000)
    }
}

@Suite struct EventLoopBlockingTests {
    @Test func syncShutdownReturnsOnceTheLoopHasEnded() async throws {
        let loop = EventLoop(name: "uv-test-sync")
        #expect(try await loop.submit { loop.inEventLoop })
        let returned = Inbox<Bool>()
        startThread {
            loop.syncShutdown()
            // The loop thread has gone: new work is refused.
            returned.put(loop.execute {})
        }
        #expect(try await returned.next("syncShutdown to return") == false)
        // A second call finds the loop ended and returns at once.
        startThread {
            loop.syncShutdown()
            returned.put(true)
        }
        #expect(try await returned.next("the second syncShutdown to return") == true)
    }

    @Test func waitUntilExitedReturnsWhenAnotherThreadShutsTheLoopDown() async throws {
        let loop = EventLoop(name: "uv-test-exit")
        let exited = Inbox<Bool>()
        let waiters = 3
        for _ in 0..<waiters {
            startThread {
                loop.waitUntilExited()
                exited.put(loop.execute {})
            }
        }
        #expect(exited.isEmpty)
        await loop.shutdown()
        #expect(try await exited.next(waiters, "every waiter to return") == [Bool](repeating: false, count: waiters))
    }

    @Test func loopsStartAndEndBackToBack() async throws {
        // Each start waits for the thread's id and each end for the thread's exit: no loop may
        // report it is on its own thread before it is, or end before its close callbacks ran.
        let finished = Inbox<Int>()
        startThread {
            var ok = 0
            for index in 0..<10 {
                let loop = EventLoop(name: "uv-test-\(index)")
                if !loop.inEventLoop { ok += 1 }
                loop.syncShutdown()
            }
            finished.put(ok)
        }
        #expect(try await finished.next("10 loops to start and end") == 10)
    }
}

@Suite struct EventLoopPollingTests {
    @Test func aLoopThatKeepsPollingStillRunsWorkAndTimers() async throws {
        let loop = EventLoop(name: "uv-test-poll")
        defer { loop.syncShutdown() }
        // Polling for 20 ms: work handed over meanwhile and a timer due meanwhile both run.
        try await loop.submit { loop.keepPolling(forNanoseconds: 20_000_000) }
        let fired = Inbox<Bool>()
        try await loop.submit {
            _ = loop.schedule(after: .milliseconds(5)) { fired.put(true) }
        }
        #expect(try await fired.next("a timer while the loop polls") == true)
        #expect(try await loop.submit { loop.inEventLoop })
    }
}
