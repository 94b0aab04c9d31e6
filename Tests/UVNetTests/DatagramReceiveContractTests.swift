import Testing
import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// The receive contract: every datagram's borrowed bytes stay intact until the next batch end.
@Suite struct DatagramReceiveContractTests {
    /// What one receive run looked like, copied off the loop.
    struct Run: Sendable {
        /// The payload index of each datagram, with -1 for each batch end, in callback order.
        var events: [Int] = []
        /// Datagrams whose borrowed bytes had changed by the batch end that followed them.
        var overwritten: [Int] = []
        /// Whether some datagram arrived while another was already queued in the kernel, so libuv
        /// read more than one in the same turn.
        var sawQueuedFollower = false

        /// The sizes of the batches, in order (datagrams between batch ends; empty ends skipped).
        var batchSizes: [Int] {
            var sizes: [Int] = []
            var current = 0
            for event in events {
                if event >= 0 {
                    current += 1
                } else if current > 0 {
                    sizes.append(current)
                    current = 0
                }
            }
            return sizes
        }
    }

    static let count = 50

    /// Payload `index`: 100 bytes, distinct per index in every byte.
    static func payload(_ index: Int) -> [UInt8] {
        (0..<100).map { UInt8(truncatingIfNeeded: index &* 7 &+ $0 &* 13 &+ 1) }
    }

    /// Queues ``count`` datagrams at a fresh receiver before it reads anything, then lets it read
    /// them and records every callback, checking borrowed bytes at each batch end.
    static func receiveBurst(receivesInBatches: Bool) async throws -> Run {
        try await withLoop { loop in
            let done = Inbox<Run>()
            try await loop.submit {
                let receiver = DatagramSocket(loop: loop, receivesInBatches: receivesInBatches)
                try receiver.bind(localPort: 0, localAddress: "127.0.0.1")
                let destination = try required(receiver.localSocketAddress, "the receiver's address")
                var run = Run()
                var borrowed: [(index: Int, bytes: UnsafeRawBufferPointer, copy: [UInt8])] = []
                var received = 0
                receiver.onData = { datagram in
                    guard let index = (0..<Self.count).first(where: { Self.payload($0) == Array(datagram.bytes) }) else {
                        run.events.append(-2)
                        return
                    }
                    run.events.append(index)
                    borrowed.append((index, datagram.bytes, Array(datagram.bytes)))
                    var poller = pollfd(fd: receiver.fileDescriptor, events: Int16(POLLIN), revents: 0)
                    if poll(&poller, 1, 0) == 1 { run.sawQueuedFollower = true }
                    received += 1
                }
                receiver.onReceiveBatchEnd = {
                    run.events.append(-1)
                    for entry in borrowed where Array(entry.bytes) != entry.copy {
                        run.overwritten.append(entry.index)
                    }
                    borrowed.removeAll()
                    if received == Self.count { done.put(run) }
                }
                // The loop reads nothing until this closure returns: every datagram is queued
                // in the kernel before the first read.
                let sender = DatagramSocket(loop: loop)
                try sender.bind(localPort: 0, localAddress: "127.0.0.1")
                for index in 0..<Self.count {
                    let result = Self.payload(index).withUnsafeBytes { sender.trySendUnchecked($0, to: destination) }
                    guard result == 100 else { throw LoopSideFailure(description: "send \(index) returned \(result)") }
                }
                try receiver.receive()
            }
            return try await done.next("\(Self.count) datagrams and their batch end")
        }
    }

    @Test func withoutRecvmmsgEveryDatagramIsABatchOfItsOwn() async throws {
        let run = try await Self.receiveBurst(receivesInBatches: false)
        #expect(run.sawQueuedFollower, "every datagram was alone in the kernel's queue, so the test proved nothing")
        #expect(run.events.filter { $0 >= 0 }.sorted() == Array(0..<Self.count))
        #expect(!run.events.contains(-2), "a datagram arrived that nobody sent")
        // Each datagram is followed by its batch end before the next datagram.
        #expect(run.batchSizes.allSatisfy { $0 == 1 }, "batch sizes \(run.batchSizes)")
        #expect(run.overwritten.isEmpty, "datagrams overwritten before their batch end: \(run.overwritten)")
    }

    @Test func withRecvmmsgABatchHoldsSeveralIntactDatagrams() async throws {
        let run = try await Self.receiveBurst(receivesInBatches: true)
        #expect(run.events.filter { $0 >= 0 }.sorted() == Array(0..<Self.count))
        #expect(!run.events.contains(-2), "a datagram arrived that nobody sent")
        #expect(run.batchSizes.contains { $0 > 1 }, "batch sizes \(run.batchSizes)")
        #expect(run.batchSizes.allSatisfy { $0 <= EventLoop.receiveBatchCount }, "batch sizes \(run.batchSizes)")
        #expect(run.overwritten.isEmpty, "datagrams overwritten before their batch end: \(run.overwritten)")
    }
}
