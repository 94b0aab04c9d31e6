@testable import RelayClient
import Testing
import UVNet

/// The drop rule without sockets: loopback never refuses a UDP send (the kernel hands each
/// datagram over synchronously), so a full send buffer is played by the injected sends.
@Suite struct DatagramDropsTests {
    static let datagram: [UInt8] = [1, 2, 3, 4]

    /// Runs `body` with a copy of ``datagram`` in memory of its own.
    static func withDatagram<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: datagram.count, alignment: 1)
        defer { storage.deallocate() }
        storage.copyBytes(from: datagram)
        return body(UnsafeRawBufferPointer(storage))
    }

    @Test func aDatagramTheKernelHasNoRoomForIsCountedNotKept() {
        var drops = DatagramDrops()
        var offered: [[UInt8]] = []
        let thrown = Self.withDatagram { bytes -> SocketError? in
            do throws(SocketError) {
                try drops.send(bytes) { offered.append(Array($0)); return true }
                try drops.send(bytes) { offered.append(Array($0)); return false }
                try drops.send(bytes) { offered.append(Array($0)); return false }
                return nil
            } catch {
                return error
            }
        }
        #expect(thrown == nil)
        #expect(drops.count == 2)
        // Each datagram was offered once: nothing was held back to be retried.
        #expect(offered == [[UInt8]](repeating: Self.datagram, count: 3))
    }

    @Test func anErrorIsThrownNotCountedAsADrop() {
        var drops = DatagramDrops()
        let error = SocketError(.io, operation: "send", message: "refused")
        let thrown = Self.withDatagram { bytes -> SocketError? in
            do throws(SocketError) {
                try drops.send(bytes) { (_) throws(SocketError) -> Bool in throw error }
                return nil
            } catch {
                return error
            }
        }
        #expect(thrown == error)
        #expect(drops.count == 0)
    }

    @Test func aBurstTheKernelTakesWholeIsNotSplit() {
        var drops = DatagramDrops()
        var single = 0
        let bytes = [UInt8](repeating: 7, count: 25)
        let taken = bytes.withUnsafeBytes { raw in
            drops.sendBurst(raw, segmentSize: 10, sendSegments: { _ in }, send: { _ in single += 1; return true })
        }
        #expect(taken == 3)
        #expect(single == 0)
        #expect(drops.count == 0)
    }

    @Test func aRefusedBurstFallsBackToSingleSendsAndCountsWhatDidNotFit() {
        var drops = DatagramDrops()
        var sizes: [Int] = []
        let bytes = [UInt8](repeating: 7, count: 45)
        let taken = bytes.withUnsafeBytes { raw in
            drops.sendBurst(raw, segmentSize: 10,
                            sendSegments: { (_) throws(SocketError) in throw SocketError(.io, operation: "send", message: "no room") },
                            send: { datagram in
                                sizes.append(datagram.count)
                                // Room for the first two only.
                                return sizes.count <= 2
                            })
        }
        #expect(sizes == [10, 10, 10, 10, 5])
        #expect(taken == 2)
        #expect(drops.count == 3)
    }
}
