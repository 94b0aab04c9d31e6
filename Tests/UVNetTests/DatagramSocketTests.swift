import Testing
import UVNet

#if canImport(Glibc)
import Glibc
#endif

@Suite struct DatagramSocketTests {
    /// A loopback address and the datagram limits at the default MTU of 1500 and at MTU 576.
    struct Family: Sendable, CustomTestStringConvertible {
        let loopback: String
        let maxAt1500: Int
        let maxAt576: Int
        var testDescription: String { loopback }
    }

    static let families = [
        Family(loopback: "127.0.0.1", maxAt1500: 1472, maxAt576: 548),
        Family(loopback: "::1", maxAt1500: 1452, maxAt576: 528),
    ]

    /// Creates a socket bound to `address`:0 whose datagrams, copied, go to `inbox`.
    static func receiver(_ loop: EventLoop, _ address: String, _ inbox: Inbox<ReceivedDatagram>?) throws -> DatagramSocket {
        let socket = DatagramSocket(loop: loop)
        try socket.bind(localPort: 0, localAddress: address)
        if let inbox {
            socket.onData = { inbox.put(ReceivedDatagram($0)) }
            try socket.receive()
        }
        return socket
    }

    // MARK: Round trips

    @Test(arguments: families)
    func roundTripCarriesBytesAndTheSendersAddress(family: Family) async throws {
        try await withLoop { loop in
            let atA = Inbox<ReceivedDatagram>()
            let atB = Inbox<ReceivedDatagram>()
            let (a, b, addressA, addressB) = try await loop.submit {
                let a = try Self.receiver(loop, family.loopback, atA)
                let b = try Self.receiver(loop, family.loopback, atB)
                return (LoopBound(a, loop: loop), LoopBound(b, loop: loop), try required(a.localSocketAddress, "A's address"), try required(b.localSocketAddress, "B's address"))
            }
            #expect(addressA.port != 0)
            #expect(addressA.port != addressB.port)
            #expect(addressA.ipAddress == family.loopback)

            let payload = pattern(300, seed: 1)
            try await loop.submit {
                try b.value.send(payload, to: addressA)
            }
            let first = try await atA.next("the datagram from B")
            #expect(first.bytes == payload)
            #expect(first.source == addressB)
            #expect(first.source.ipAddress == family.loopback)
            #expect(first.source.port == addressB.port)

            // The reply goes back through the flash.net-shaped API: a slice of a ByteArray to text and port.
            try await loop.submit {
                var array = ByteArray()
                array.writeUTFBytes("xxhello back!xx")
                try a.value.send(array, offset: 2, length: 11, address: family.loopback, port: addressB.port)
            }
            let reply = try await atB.next("the reply from A")
            #expect(reply.text == "hello back!")
            #expect(reply.source == addressA)

            // An empty datagram is a datagram too.
            try await loop.submit { try a.value.send(UnsafeRawBufferPointer(start: nil, count: 0), to: addressB) }
            let empty = try await atB.next("the empty datagram")
            #expect(empty.bytes.isEmpty)
            #expect(empty.source == addressA)

            let (localAddress, localPort) = try await loop.submit { (a.value.localAddress, a.value.localPort) }
            #expect(localAddress == family.loopback)
            #expect(localPort == addressA.port)
        }
    }

    @Test func manyDatagramsArriveWholeAndInOrder() async throws {
        try await withLoop { loop in
            let inbox = Inbox<ReceivedDatagram>()
            let batchEnds = Counter()
            let count = 200
            try await loop.submit {
                let receiver = try Self.receiver(loop, "127.0.0.1", inbox)
                receiver.onReceiveBatchEnd = { batchEnds.increment() }
                let sender = try Self.receiver(loop, "127.0.0.1", nil)
                let target = try required(receiver.localSocketAddress, "receiver's address")
                for index in 0..<count {
                    let payload = pattern(100 + index, seed: UInt8(truncatingIfNeeded: index))
                    try sender.send(payload, to: target)
                }
            }
            let received = try await inbox.next(count, "datagram")
            for (index, datagram) in received.enumerated() {
                #expect(datagram.bytes == pattern(100 + index, seed: UInt8(truncatingIfNeeded: index)), "datagram \(index)")
            }
            #expect(batchEnds.count >= 1)
        }
    }

    // MARK: connect() filtering

    @Test(arguments: families)
    func connectedSocketIgnoresOtherSendersFilteredByTheKernel(family: Family) async throws {
        try await withLoop { loop in
            let inbox = Inbox<ReceivedDatagram>()
            let (a, peer, stranger, addressA, addressPeer) = try await loop.submit {
                let a = try Self.receiver(loop, family.loopback, nil)
                let peer = try Self.receiver(loop, family.loopback, nil)
                let stranger = try Self.receiver(loop, family.loopback, nil)
                let addressPeer = try required(peer.localSocketAddress, "peer's address")
                try a.connect(remoteAddress: family.loopback, remotePort: addressPeer.port)
                return (LoopBound(a, loop: loop), LoopBound(peer, loop: loop), LoopBound(stranger, loop: loop),
                        try required(a.localSocketAddress, "a's address"), addressPeer)
            }
            // The stranger sends first, then the peer; A is not receiving yet, so both would queue.
            let head = try await loop.submit {
                try stranger.value.send(bytes("stranger"), to: addressA)
                try peer.value.send(bytes("peer 1"), to: addressA)
                // What the kernel queued: the stranger's datagram would be first had it not been dropped.
                return peekQueuedSource(fd: a.value.fileDescriptor)
            }
            #expect(head == addressPeer, "the kernel queued a datagram from \(head.map(String.init(describing:)) ?? "nobody") first")

            try await loop.submit {
                a.value.onData = { inbox.put(ReceivedDatagram($0)) }
                try a.value.receive()
            }
            #expect(try await inbox.next("the peer's first datagram") == ReceivedDatagram(bytes: bytes("peer 1"), source: addressPeer))
            // While receiving: another stranger datagram, then the positive control from the peer.
            try await loop.submit {
                try stranger.value.send(bytes("stranger 2"), to: addressA)
                try peer.value.send(bytes("peer 2"), to: addressA)
            }
            #expect(try await inbox.next("the peer's second datagram") == ReceivedDatagram(bytes: bytes("peer 2"), source: addressPeer))
            #expect(inbox.drain().isEmpty)

            let (connected, remoteAddress, remotePort) = try await loop.submit { (a.value.connected, a.value.remoteAddress, a.value.remotePort) }
            #expect(connected)
            #expect(remoteAddress == family.loopback)
            #expect(remotePort == addressPeer.port)
        }
    }

    @Test(arguments: families)
    func connectedSocketDropsStrangersDatagramsQueuedBeforeConnect(family: Family) async throws {
        try await withLoop { loop in
            let inbox = Inbox<ReceivedDatagram>()
            let (a, peer, stranger, addressA, addressPeer, addressStranger) = try await loop.submit {
                let a = try Self.receiver(loop, family.loopback, nil)
                let peer = try Self.receiver(loop, family.loopback, nil)
                let stranger = try Self.receiver(loop, family.loopback, nil)
                return (LoopBound(a, loop: loop), LoopBound(peer, loop: loop), LoopBound(stranger, loop: loop),
                        try required(a.localSocketAddress, "a's address"), try required(peer.localSocketAddress, "peer's address"), try required(stranger.localSocketAddress, "stranger's address"))
            }
            // Before connect the kernel accepts anyone: the stranger's datagram queues first.
            let head = try await loop.submit {
                try stranger.value.send(bytes("stranger"), to: addressA)
                try peer.value.send(bytes("peer 1"), to: addressA)
                return peekQueuedSource(fd: a.value.fileDescriptor)
            }
            try #require(head == addressStranger, "the stranger's datagram is not queued first, so this test would prove nothing")

            // connect() does not flush the queue: the socket's own source check must drop it.
            try await loop.submit {
                try a.value.connect(remoteAddress: family.loopback, remotePort: addressPeer.port)
                a.value.onData = { inbox.put(ReceivedDatagram($0)) }
                try a.value.receive()
            }
            #expect(try await inbox.next("the peer's queued datagram") == ReceivedDatagram(bytes: bytes("peer 1"), source: addressPeer))
            // Positive control: a later datagram from the peer arrives, and nothing from the stranger came before it.
            try await loop.submit {
                try peer.value.send(bytes("peer 2"), to: addressA)
            }
            #expect(try await inbox.next("the peer's later datagram") == ReceivedDatagram(bytes: bytes("peer 2"), source: addressPeer))
            #expect(inbox.drain().isEmpty)
        }
    }

    @Test func connectedSocketSendsToItsRemoteOnly() async throws {
        try await withLoop { loop in
            let atPeer = Inbox<ReceivedDatagram>()
            let (a, peerAddress, code) = try await loop.submit {
                let peer = try Self.receiver(loop, "127.0.0.1", atPeer)
                let peerAddress = try required(peer.localSocketAddress, "peer's address")
                let a = try Self.receiver(loop, "127.0.0.1", nil)
                try a.connect(remoteAddress: "127.0.0.1", remotePort: peerAddress.port)
                try a.send(bytes("via connect"))
                let code = thrownCode { try a.send(bytes("elsewhere"), to: peerAddress) }
                return (LoopBound(a, loop: loop), peerAddress, code)
            }
            #expect(code == .alreadyConnected)
            let datagram = try await atPeer.next("the datagram sent without a destination")
            #expect(datagram.text == "via connect")
            let (bound, local) = try await loop.submit { (a.value.bound, a.value.localSocketAddress) }
            #expect(bound)
            #expect(datagram.source == local)
            #expect(peerAddress.port != 0)

            let again = try await loop.submit {
                thrownCode { try a.value.connect(remoteAddress: "127.0.0.1", remotePort: peerAddress.port) }
            }
            #expect(again == .alreadyConnected)
        }
    }

    enum UDPEvent: Sendable, Equatable {
        case data(ReceivedDatagram)
        case failed(SocketError)
    }

    @Test func connectedSocketReportsARefusedPeerAndKeepsReceiving() async throws {
        try await withLoop { loop in
            let events = Inbox<UDPEvent>()
            let (a, peerPort) = try await loop.submit {
                let peer = try Self.receiver(loop, "127.0.0.1", nil)
                let peerPort = peer.localPort
                let a = try Self.receiver(loop, "127.0.0.1", nil)
                a.onData = { events.put(.data(ReceivedDatagram($0))) }
                a.onIOError = { events.put(.failed($0)) }
                try a.connect(remoteAddress: "127.0.0.1", remotePort: peerPort)
                try a.receive()
                // Nobody listens there any more: the kernel answers with ICMP port unreachable.
                peer.close()
                return (LoopBound(a, loop: loop), peerPort)
            }
            try await loop.submit { try a.value.send(bytes("anyone?")) }
            guard case .failed(let error) = try await events.next("the refused send's error") else {
                Issue.record("a datagram to a closed port produced no error")
                return
            }
            #expect(error.uvErrorCode == -ECONNREFUSED)
            #expect(error.operation == "receive")
            // A new peer on the same port: the socket still receives.
            let (addressA, newPeer) = try await loop.submit {
                let again = DatagramSocket(loop: loop)
                try again.bind(localPort: peerPort, localAddress: "127.0.0.1")
                return (try required(a.value.localSocketAddress, "A's address"), LoopBound(again, loop: loop))
            }
            try await loop.submit { try newPeer.value.send(bytes("back again"), to: addressA) }
            #expect(try await events.next("the new peer's datagram") == .data(ReceivedDatagram(bytes: bytes("back again"), source: .loopbackIPv4(port: UInt16(peerPort)))))
            #expect(try await loop.submit { a.value.receiving })
        }
    }

    // MARK: Datagram size

    @Test(arguments: families)
    func sendRefusesOversizeAndDeliversExactlyTheMaximum(family: Family) async throws {
        try await withLoop { loop in
            let inbox = Inbox<ReceivedDatagram>()
            let (sender, target, limit) = try await loop.submit {
                let receiver = try Self.receiver(loop, family.loopback, inbox)
                let sender = try Self.receiver(loop, family.loopback, nil)
                return (LoopBound(sender, loop: loop), try required(receiver.localSocketAddress, "receiver's address"), sender.maxDatagramSize)
            }
            #expect(limit == family.maxAt1500)

            let tooLarge = try await loop.submit {
                thrownError { try sender.value.send(pattern(family.maxAt1500 + 1), to: target) }
            }
            #expect(tooLarge?.code == .datagramTooLarge)
            let exact = pattern(family.maxAt1500, seed: 9)
            try await loop.submit {
                try sender.value.send(exact, to: target)
            }
            let received = try await inbox.next("the maximum-size datagram")
            #expect(received.bytes == exact)
            // Nothing of the refused datagram was sent.
            #expect(inbox.drain().isEmpty)
        }
    }

    @Test(arguments: families)
    func smallerMTULowersTheLimit(family: Family) async throws {
        try await withLoop { loop in
            let inbox = Inbox<ReceivedDatagram>()
            let (sender, target, limit) = try await loop.submit {
                let receiver = try Self.receiver(loop, family.loopback, inbox)
                let sender = try Self.receiver(loop, family.loopback, nil)
                sender.mtu = 576
                return (LoopBound(sender, loop: loop), try required(receiver.localSocketAddress, "receiver's address"), sender.maxDatagramSize)
            }
            #expect(limit == family.maxAt576)

            let tooLarge = try await loop.submit {
                var array = ByteArray()
                array.writeBytes(pattern(family.maxAt576 + 1))
                return thrownCode { try sender.value.send(array, address: family.loopback, port: target.port) }
            }
            #expect(tooLarge == .datagramTooLarge)
            let exact = pattern(family.maxAt576, seed: 3)
            try await loop.submit {
                var array = ByteArray()
                array.writeBytes(exact)
                try sender.value.send(array, address: family.loopback, port: target.port)
            }
            #expect(try await inbox.next("the maximum-size datagram at MTU 576").bytes == exact)
        }
    }

    // MARK: Errors

    @Test(arguments: ["127.0.0.1", "::1"])
    func bindToAPortInUseIsAddressInUse(address: String) async throws {
        try await withLoop { loop in
            let (error, retried) = try await loop.submit { () -> (SocketError?, Bool) in
                let first = try Self.receiver(loop, address, nil)
                let port = try required(first.localSocketAddress, "first's address").port
                let second = DatagramSocket(loop: loop)
                let error = thrownError { try second.bind(localPort: port, localAddress: address) }
                // A failed bind leaves the socket unbound and usable.
                let unbound = !second.bound
                try second.bind(localPort: 0, localAddress: address)
                return (error, unbound && second.bound && second.localPort != port)
            }
            #expect(error?.code == .addressInUse)
            #expect(error?.uvErrorCode != nil)
            #expect(retried)
        }
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func reusePortLetsSocketsShareAPortAndEachReceives(address: String) async throws {
        try await withLoop { loop in
            let inbox = Inbox<ReceivedDatagram>()
            let (sender, port, withoutReuse) = try await loop.submit {
                let first = DatagramSocket(loop: loop)
                try first.bind(localPort: 0, localAddress: address, reusePort: true)
                let port = first.localPort
                let second = DatagramSocket(loop: loop)
                try second.bind(localPort: port, localAddress: address, reusePort: true)
                for socket in [first, second] {
                    socket.onData = { inbox.put(ReceivedDatagram($0)) }
                    try socket.receive()
                }
                let third = DatagramSocket(loop: loop)
                let withoutReuse = thrownCode { try third.bind(localPort: port, localAddress: address) }
                let sender = try Self.receiver(loop, address, nil)
                return (LoopBound(sender, loop: loop), port, withoutReuse)
            }
            #expect(withoutReuse == .addressInUse)
            // Whichever of the two the kernel picks (by the sender's address, so the same one for
            // both), each datagram arrives once; the second is the control for the first.
            let target = try SocketAddress(ipAddress: address, port: port)
            try await loop.submit {
                try sender.value.send(bytes("shared"), to: target)
                try sender.value.send(bytes("control"), to: target)
            }
            #expect(try await inbox.next(2, "the datagrams on the shared port").map(\.text) == ["shared", "control"])
            #expect(inbox.drain().isEmpty)
        }
    }

    @Test(arguments: ["not an address", "127.0.0.256", "localhost", "1.2.3", "::1::", ""])
    func bindToABadAddressIsInvalidAddress(address: String) async throws {
        try await withLoop { loop in
            let (code, bound) = try await loop.submit {
                let socket = DatagramSocket(loop: loop)
                let code = thrownCode { try socket.bind(localPort: 0, localAddress: address) }
                return (code, socket.bound)
            }
            #expect(code == .invalidAddress)
            #expect(!bound)
        }
    }

    @Test(arguments: [-1, 65_536, 1_000_000, Int.min])
    func bindToAPortOutOfRangeIsPortOutOfRange(port: Int) async throws {
        try await withLoop { loop in
            let code = try await loop.submit {
                let socket = DatagramSocket(loop: loop)
                return thrownCode { try socket.bind(localPort: port, localAddress: "127.0.0.1") }
            }
            #expect(code == .portOutOfRange)
        }
    }

    @Test func secondBindIsAlreadyBoundAndReceiveBeforeBindIsNotBound() async throws {
        try await withLoop { loop in
            let (receiveCode, bindCode, stillOnFirstPort) = try await loop.submit { () -> (SocketError.Code?, SocketError.Code?, Bool) in
                let socket = DatagramSocket(loop: loop)
                let receiveCode = thrownCode { try socket.receive() }
                try socket.bind(localPort: 0, localAddress: "127.0.0.1")
                let port = socket.localPort
                let bindCode = thrownCode { try socket.bind(localPort: 0, localAddress: "127.0.0.1") }
                return (receiveCode, bindCode, socket.localPort == port && socket.receiving == false)
            }
            #expect(receiveCode == .notBound)
            #expect(bindCode == .alreadyBound)
            #expect(stillOnFirstPort)
        }
    }

    @Test func operationsAfterCloseAreClosed() async throws {
        try await withLoop { loop in
            let codes = try await loop.submit {
                let socket = try Self.receiver(loop, "127.0.0.1", nil)
                socket.close()
                socket.close()
                return [
                    thrownCode { try socket.bind(localPort: 0, localAddress: "127.0.0.1") },
                    thrownCode { try socket.receive() },
                    thrownCode { try socket.connect(remoteAddress: "127.0.0.1", remotePort: 9) },
                    thrownCode { try socket.send(bytes("x"), to: .loopbackIPv4(port: 9)) },
                ]
            }
            #expect(codes == [.closed, .closed, .closed, .closed])
        }
    }

    @Test func closedSocketHasNoDescriptorAndItsHotPathSendFails() async throws {
        try await withLoop { loop in
            let inbox = Inbox<ReceivedDatagram>()
            let (socket, target, openDescriptor) = try await loop.submit {
                let receiver = try Self.receiver(loop, "127.0.0.1", inbox)
                let socket = try Self.receiver(loop, "127.0.0.1", nil)
                return (LoopBound(socket, loop: loop), try required(receiver.localSocketAddress, "receiver's address"),
                        socket.fileDescriptor)
            }
            #expect(openDescriptor >= 0)
            try await loop.submit { socket.value.close() }
            // One more turn: the close callback has run and libuv has released the handle.
            try await loop.submit {}
            let (descriptor, result) = try await loop.submit {
                (socket.value.fileDescriptor, bytes("late").withUnsafeBytes { socket.value.trySendUnchecked($0, to: target) })
            }
            #expect(descriptor == -1)
            #expect(result < 0, "a closed socket sent \(result) bytes")
            // Positive control: the receiver is alive and hears a live sender; the late datagram never came.
            try await loop.submit { try Self.receiver(loop, "127.0.0.1", nil).send(bytes("live"), to: target) }
            #expect(try await inbox.next("the live datagram").text == "live")
            #expect(inbox.drain().isEmpty)
        }
    }

    @Test func sendAndConnectArgumentErrors() async throws {
        try await withLoop { loop in
            let codes = try await loop.submit {
                let socket = try Self.receiver(loop, "127.0.0.1", nil)
                return [
                    thrownCode { try socket.send(bytes("x")) },
                    thrownCode { try socket.send(bytes("x"), to: .loopbackIPv4(port: 0)) },
                    thrownCode { try socket.connect(remoteAddress: "127.0.0.1", remotePort: 0) },
                    thrownCode { try socket.connect(remoteAddress: "127.0.0.1", remotePort: 65_536) },
                    thrownCode { try socket.connect(remoteAddress: "nowhere", remotePort: 9) },
                    thrownCode { try socket.send(ByteArray(), offset: 1, length: 0, address: "127.0.0.1", port: 9) },
                    thrownCode { try socket.send(bytes("x"), to: .loopbackIPv6(port: 9)) },
                ]
            }
            // An IPv6 destination on an IPv4 socket is refused by the kernel (EAFNOSUPPORT), not sent.
            #expect(codes == [.notConnected, .portOutOfRange, .portOutOfRange, .portOutOfRange, .invalidAddress,
                              .invalidArgument, .invalidAddress])
        }
    }

    @Test func datagramLimitFollowsTheDestinationsFamily() async throws {
        try await withLoop { loop in
            let limits = try await loop.submit {
                let socket = DatagramSocket(loop: loop)
                defer { socket.close() }
                socket.mtu = 1280
                return [
                    socket.datagramLimit(to: .loopbackIPv4(port: 9)),
                    socket.datagramLimit(to: try SocketAddress(ipAddress: "::ffff:127.0.0.1", port: 9)),
                    socket.datagramLimit(to: .loopbackIPv6(port: 9)),
                ]
            }
            #expect(limits == [1252, 1252, 1232])
        }
    }

    /// Linux grants twice the request (half is its bookkeeping), up to `net.core.rmem_max`; 64 KiB
    /// is below any kernel's default maximum, so the grant is exact.
    @Test func receiveBufferRequestIsGrantedAndReported() async throws {
        try await withLoop { loop in
            let (before, granted, after, codes) = try await loop.submit {
                let socket = DatagramSocket(loop: loop)
                defer { socket.close() }
                let unbound = thrownCode { try socket.requestReceiveBufferSize(65_536) }
                try socket.bind(localPort: 0, localAddress: "127.0.0.1")
                let before = socket.receiveBufferSize
                let granted = try socket.requestReceiveBufferSize(65_536)
                let after = socket.receiveBufferSize
                let zero = thrownCode { try socket.requestReceiveBufferSize(0) }
                return (before, granted, after, [unbound, zero])
            }
            #expect(before > 0)
            #expect(granted == 131_072)
            #expect(after == granted)
            #expect(codes == [.invalidArgument, .invalidArgument])
        }
    }

    /// One segmented send arrives as separate datagrams, in order, the last one shorter, and so
    /// does a burst; the argument checks refuse what the kernel would, before anything is sent.
    @Test(arguments: families)
    func segmentedSendArrivesAsSeparateDatagrams(family: Family) async throws {
        try await withLoop { loop in
            let inbox = Inbox<ReceivedDatagram>()
            let payload = pattern(5 * 116 + 40, seed: 9)
            let burst = pattern(3 * 50, seed: 4)
            let (codes, burstCount) = try await loop.submit {
                let receiver = try Self.receiver(loop, family.loopback, inbox)
                let sender = DatagramSocket(loop: loop)
                let unconnected = thrownCode { try payload.withUnsafeBytes { try sender.sendSegments($0, segmentSize: 116) } }
                let burstUnconnected = thrownCode { _ = try payload.withUnsafeBytes { try sender.sendBurst($0, segmentSize: 116) } }
                try sender.connect(remoteAddress: family.loopback, remotePort: receiver.localPort)
                try payload.withUnsafeBytes { try sender.sendSegments($0, segmentSize: 116) }
                let tooMany = thrownCode { try payload.withUnsafeBytes { try sender.sendSegments($0, segmentSize: 1) } }
                let tooLarge = thrownCode { try pattern(3000).withUnsafeBytes { try sender.sendSegments($0, segmentSize: 1500) } }
                let burstTooMany = thrownCode { _ = try payload.withUnsafeBytes { try sender.sendBurst($0, segmentSize: 1) } }
                let count = try burst.withUnsafeBytes { try sender.sendBurst($0, segmentSize: 50) }
                return ([unconnected, burstUnconnected, tooMany, tooLarge, burstTooMany], count)
            }
            #expect(codes == [.notConnected, .notConnected, .invalidArgument, .datagramTooLarge, .invalidArgument])
            #expect(burstCount == 3)
            let received = try await inbox.next(9, "six segments, then a burst of three")
            #expect(received.map(\.bytes.count) == [116, 116, 116, 116, 116, 40, 50, 50, 50])
            #expect(received.prefix(6).flatMap(\.bytes) == payload)
            #expect(received.suffix(3).flatMap(\.bytes) == burst)
        }
    }

    @Test func trySendSendsAtOnceAndChecksLikeSend() async throws {
        try await withLoop { loop in
            let inbox = Inbox<ReceivedDatagram>()
            let outcome = try await loop.submit { () -> [String] in
                let receiver = try Self.receiver(loop, "127.0.0.1", inbox)
                let destination = try required(receiver.localSocketAddress, "the receiver's address")
                let sender = DatagramSocket(loop: loop)
                var outcome: [String] = []
                for size in [1_472, 1_473] {
                    let payload = pattern(size, seed: 3)
                    outcome.append(payload.withUnsafeBytes { bytes in
                        do throws(SocketError) { return try sender.trySend(bytes, to: destination) ? "sent" : "dropped" } catch { return "\(error.code)" }
                    })
                }
                sender.close()
                outcome.append([UInt8]([1]).withUnsafeBytes { bytes in
                    do throws(SocketError) { return try sender.trySend(bytes, to: destination) ? "sent" : "dropped" } catch { return "\(error.code)" }
                })
                return outcome
            }
            #expect(outcome == ["sent", "datagramTooLarge", "closed"])
            #expect(try await inbox.next("the datagram trySend sent").bytes == pattern(1_472, seed: 3))
        }
    }
}
