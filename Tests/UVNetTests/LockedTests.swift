import Testing
import UVNet

#if canImport(Glibc)
import Glibc
#endif

@Suite struct LockedTests {
    @Test func lockSerialisesIncrementsFromManyThreads() async throws {
        final class Total: @unchecked Sendable {
            // @unchecked: `value` is touched only under `lock`.
            let lock = Lock()
            var value = 0
        }
        let total = Total()
        let finished = Inbox<Void>()
        let threads = 4
        // Enough to interleave on two cores; small, because under the thread sanitizer every lock
        // operation is slow and a long run starves the relay tests running beside it.
        let perThread = 2_000
        for _ in 0..<threads {
            startThread {
                for _ in 0..<perThread { total.lock.withLock { total.value += 1 } }
                finished.put(())
            }
        }
        _ = try await finished.next(threads, "the incrementing threads")
        #expect(total.lock.withLock { total.value } == threads * perThread)
    }

    @Test func waitReturnsWhatAnotherThreadPublishes() async throws {
        let slot = Locked<Int?>(nil)
        let woken = Inbox<Int>()
        startThread {
            // The untimed wait: if the publish below never woke it, the inbox times out.
            woken.put(slot.wait { $0 })
        }
        startThread {
            slot.withLockThenBroadcast { $0 = 42 }
        }
        #expect(try await woken.next("the waiter's result") == 42)
    }

    @Test func timedWaitReturnsNilOnlyAfterTheTimeout() async throws {
        let slot = Locked(0)
        let outcome = Inbox<(Int?, Duration)>()
        startThread {
            let clock = ContinuousClock()
            let start = clock.now
            let result = slot.wait(until: { $0 > 0 ? $0 : nil }, timeout: .milliseconds(50))
            outcome.put((result, clock.now - start))
        }
        let (result, waited) = try await outcome.next("the timed wait to give up")
        #expect(result == nil)
        #expect(waited >= .milliseconds(50), "gave up after \(waited)")
    }

    @Test func timedWaitReturnsTheValueBeforeTheTimeout() async throws {
        let slot = Locked(0)
        let ready = Inbox<Void>()
        let outcome = Inbox<Int?>()
        startThread {
            outcome.put(slot.wait(until: { value -> Int? in
                if value == 0 { ready.put(()) }
                return value > 0 ? value : nil
            }, timeout: eventTimeout))
        }
        try await ready.next("the waiter to check once")
        slot.withLockThenBroadcast { $0 = 7 }
        #expect(try await outcome.next("the timed wait's result") == 7)
    }

    @Test func zeroTimeoutChecksOnceWithoutWaiting() {
        let slot = Locked(3)
        #expect(slot.wait(until: { $0 == 3 ? "met" : nil }, timeout: .zero) == "met")
        #expect(slot.wait(until: { $0 == 4 ? "met" : nil }, timeout: .zero) == nil)
    }

    @Test func broadcastWakesEveryWaiter() async throws {
        struct State {
            var waiting = 0
            var released = false
        }
        let state = Locked(State())
        let woken = Inbox<Int>()
        let waiters = 4
        for index in 0..<waiters {
            startThread {
                var counted = false
                state.wait { state -> Void? in
                    if !counted {
                        state.waiting += 1
                        counted = true
                    }
                    return state.released ? () : nil
                }
                woken.put(index)
            }
        }
        // A waiter counts itself under the lock and releases it only inside pthread_cond_wait, so
        // once all have counted, all are blocked on the condition. Nobody signals the count, so
        // it is checked every few milliseconds, within the event timeout.
        let deadline = ContinuousClock.now + eventTimeout
        while state.withLock({ $0.waiting }) < waiters, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(state.withLock { $0.waiting } == waiters)
        state.withLockThenBroadcast { $0.released = true }
        let order = try await woken.next(waiters, "every waiter to wake")
        #expect(order.sorted() == Array(0..<waiters))
    }
}
