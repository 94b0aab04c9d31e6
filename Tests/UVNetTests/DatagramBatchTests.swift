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
}
