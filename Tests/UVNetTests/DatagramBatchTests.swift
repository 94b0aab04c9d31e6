#if canImport(Glibc)
import Glibc
#endif
import Testing
@_spi(Benchmarks) import UVNet

@Suite struct DatagramBatchTests {
    @Test(arguments: DatagramSocketTests.families)
    func oneFlushDeliversEveryQueuedDatagramUnchanged(family: DatagramSocketTests.Family) async throws {
        try await withLoop { loop in
            let atA = Inbox<ReceivedDatagram>()
            let atB = Inbox<ReceivedDatagram>()
            let outcome = try await loop.submit {
                let a = try DatagramSocketTests.receiver(loop, family.loopback, atA)
                let b = try DatagramSocketTests.receiver(loop, family.loopback, atB)
                let sender = try DatagramSocketTests.receiver(loop, family.loopback, nil)
                let batch = DatagramBatch(capacity: 8)
                // The batch borrows the bytes: keep them in storage that outlives the flush.
                let payloads = (0..<6).map { pattern(10 + $0, seed: UInt8($0)) }
                let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: payloads.reduce(0) { $0 + $1.count }, alignment: 1)
                defer { storage.deallocate() }
                var offset = 0
                for (index, payload) in payloads.enumerated() {
                    let slice = UnsafeMutableRawBufferPointer(rebasing: storage[offset..<(offset + payload.count)])
                    slice.copyBytes(from: payload)
                    offset += payload.count
                    let destination = try required(index % 2 == 0 ? a.localSocketAddress : b.localSocketAddress, "address")
                    #expect(batch.append(UnsafeRawBufferPointer(slice), to: destination))
                }
                #expect(batch.count == 6)
                let outcome = batch.flush(on: sender)
                #expect(batch.count == 0)
                return outcome
            }
            #expect(outcome == DatagramBatch.Outcome(sent: 6, bytesSent: 10 + 11 + 12 + 13 + 14 + 15, failed: 0))
            let gotA = try await atA.next(3, "three datagrams at A")
            let gotB = try await atB.next(3, "three datagrams at B")
            #expect(gotA.map(\.bytes) == [0, 2, 4].map { pattern(10 + $0, seed: UInt8($0)) })
            #expect(gotB.map(\.bytes) == [1, 3, 5].map { pattern(10 + $0, seed: UInt8($0)) })
        }
    }

    @Test func queuedHeadersReadBackAsAppended() throws {
        let batch = DatagramBatch(capacity: 4)
        let destinations = [
            try SocketAddress(ipAddress: "127.0.0.1", port: 4000),
            try SocketAddress(ipAddress: "::1", port: 4001),
            try SocketAddress(ipAddress: "::ffff:10.1.2.3", port: 65535),
        ]
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 30, alignment: 1)
        defer { storage.deallocate() }
        storage.copyBytes(from: pattern(30, seed: 9))
        for (index, destination) in destinations.enumerated() {
            #expect(batch.append(UnsafeRawBufferPointer(rebasing: storage[(index * 10)..<(index * 10 + 5 + index)]), to: destination))
        }
        for (index, destination) in destinations.enumerated() {
            #expect(batch.destination(at: index) == destination)
            let bytes = batch.bytes(at: index)
            #expect(bytes.baseAddress == UnsafeRawPointer(storage.baseAddress! + index * 10), "borrowed, not copied")
            #expect(Array(bytes) == Array(pattern(30, seed: 9)[(index * 10)..<(index * 10 + 5 + index)]))
            #expect(batch.length(at: index) == 5 + index)
        }
    }

    @Test func fullBatchRefusesAndTruncateForgets() async throws {
        try await withLoop { loop in
            let atA = Inbox<ReceivedDatagram>()
            try await loop.submit {
                let a = try DatagramSocketTests.receiver(loop, "127.0.0.1", atA)
                let sender = try DatagramSocketTests.receiver(loop, "127.0.0.1", nil)
                let destination = try required(a.localSocketAddress, "address")
                let batch = DatagramBatch(capacity: 2)
                // The batch borrows the bytes: they must outlive the flush.
                let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 1)
                defer { storage.deallocate() }
                storage.copyBytes(from: [1, 2, 3, 9])
                let results = (0..<3).map { batch.append(UnsafeRawBufferPointer(rebasing: storage[$0..<($0 + 1)]), to: destination) }
                #expect(results == [true, true, false])
                batch.truncate(to: 1)
                #expect(batch.flush(on: sender).sent == 1)
                sender.close()
                // A closed socket takes nothing; the batch reports the loss and empties.
                _ = batch.append(UnsafeRawBufferPointer(rebasing: storage[3..<4]), to: destination)
                #expect(batch.flush(on: sender) == DatagramBatch.Outcome(sent: 0, bytesSent: 0, failed: 1))
            }
            #expect(try await atA.next("the one datagram left after truncate").bytes == [1])
        }
    }

    /// Copies `payloads` into one buffer that outlives the flush, and returns a slice per payload.
    static func borrowed(_ payloads: [[UInt8]], in storage: UnsafeMutableRawBufferPointer) -> [UnsafeRawBufferPointer] {
        var offset = 0
        return payloads.map { payload in
            let slice = UnsafeMutableRawBufferPointer(rebasing: storage[offset..<(offset + payload.count)])
            slice.copyBytes(from: payload)
            offset += payload.count
            return UnsafeRawBufferPointer(slice)
        }
    }

    @Test(arguments: DatagramSocketTests.families)
    func segmentedMessagesArriveAsTheirDatagramsInOrder(family: DatagramSocketTests.Family) async throws {
        try #require(DatagramBatch.segmentationOffloadIsAvailable, "Linux 4.18+ has UDP segmentation offload")
        try await withLoop { loop in
            let atA = Inbox<ReceivedDatagram>()
            let atB = Inbox<ReceivedDatagram>()
            let payloads = [100, 100, 100, 40, 40, 100, 120].enumerated().map { pattern($0.element, seed: UInt8($0.offset)) }
            let (outcome, shape) = try await loop.submit {
                let a = try DatagramSocketTests.receiver(loop, family.loopback, atA)
                let b = try DatagramSocketTests.receiver(loop, family.loopback, atB)
                let sender = try DatagramSocketTests.receiver(loop, family.loopback, nil)
                let toA = try required(a.localSocketAddress, "address")
                let toB = try required(b.localSocketAddress, "address")
                let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 600, alignment: 1)
                defer { storage.deallocate() }
                let slices = Self.borrowed(payloads, in: storage)
                let batch = DatagramBatch(capacity: 8)
                #expect(batch.append(slices[0], to: toA))
                #expect(!batch.appendSegment(slices[1]), "off until the owner turns it on")
                batch.usesSegmentationOffload = true
                // 100, 100, 100, then a shorter 40 ends the message.
                let joined = [1, 2, 3, 4].map { batch.appendSegment(slices[$0]) }
                #expect(joined == [true, true, true, false])
                #expect(batch.append(slices[4], to: toA))
                #expect(batch.append(slices[5], to: toB))
                #expect(!batch.appendSegment(slices[6]), "longer than the message's segment size")
                #expect(batch.append(slices[6], to: toB))
                let shape = (batch.count, batch.datagramCount, batch.length(at: 0))
                return (batch.flush(on: sender), shape)
            }
            #expect(shape == (4, 7, 340))
            #expect(outcome == DatagramBatch.Outcome(sent: 7, bytesSent: 600, failed: 0))
            #expect(try await atA.next(5, "five datagrams at A").map(\.bytes) == Array(payloads[0..<5]))
            #expect(try await atB.next(2, "two datagrams at B").map(\.bytes) == Array(payloads[5..<7]))
        }
    }

    @Test func segmentedMessagesStayWithinTheKernelsLimits() throws {
        let batch = DatagramBatch(capacity: 200)
        batch.usesSegmentationOffload = true
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 1000, alignment: 1)
        defer { storage.deallocate() }
        let one = UnsafeRawBufferPointer(rebasing: storage[0..<10])
        let destination = try SocketAddress(ipAddress: "127.0.0.1", port: 4000)
        #expect(!batch.appendSegment(one), "no message to join yet")
        #expect(batch.append(one, to: destination))
        var joined = 1
        while batch.appendSegment(one) { joined += 1 }
        #expect(joined == DatagramBatch.maxSegmentsPerMessage)
        batch.removeAll()
        let big = UnsafeRawBufferPointer(rebasing: storage[0..<1000])
        #expect(batch.append(big, to: destination))
        joined = 1
        while batch.appendSegment(big) { joined += 1 }
        #expect(joined == DatagramBatch.maxSegmentedBytes / 1000)
        // Truncating to before a segmented message gives its iovecs back.
        #expect(batch.append(one, to: destination))
        batch.truncate(to: 0)
        #expect(batch.count == 0 && batch.datagramCount == 0)
    }

    @Test func aSegmentedMessageTheRouteRefusesGoesOutOneByOne() async throws {
        try #require(DatagramBatch.segmentationOffloadIsAvailable, "Linux 4.18+ has UDP segmentation offload")
        try await withLoop { loop in
            let inbox = Inbox<ReceivedDatagram>()
            let payloads = (0..<3).map { pattern(1300, seed: UInt8($0)) }
            let (outcome, stillSegmenting) = try await loop.submit {
                let receiver = try DatagramSocketTests.receiver(loop, "::1", inbox)
                let sender = try DatagramSocketTests.receiver(loop, "::1", nil)
                // A path MTU of 1280 on the sender: a 1300-byte segment can't be cut from one
                // packet, so the kernel refuses the segmented message (EINVAL); one by one, the
                // datagrams are fragmented and go through.
                var mtu: Int32 = 1280
                #expect(setsockopt(sender.fileDescriptor, Int32(IPPROTO_IPV6), IPV6_MTU, &mtu, socklen_t(MemoryLayout<Int32>.size)) == 0)
                let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 3900, alignment: 1)
                defer { storage.deallocate() }
                let slices = Self.borrowed(payloads, in: storage)
                let batch = DatagramBatch(capacity: 4)
                batch.usesSegmentationOffload = true
                #expect(batch.append(slices[0], to: try required(receiver.localSocketAddress, "address")))
                #expect(batch.appendSegment(slices[1]) && batch.appendSegment(slices[2]))
                return (batch.flush(on: sender), batch.usesSegmentationOffload)
            }
            #expect(outcome == DatagramBatch.Outcome(sent: 3, bytesSent: 3900, failed: 0))
            #expect(!stillSegmenting, "the batch stops segmenting once the kernel refused it")
            #expect(try await inbox.next(3, "three datagrams").map(\.bytes) == payloads)
        }
    }
}
