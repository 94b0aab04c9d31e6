import Testing
import UVNet

@Suite struct ReusePortSteeringTests {
    struct Setup: Sendable, CustomTestStringConvertible {
        let address: String
        let groupSize: Int
        let wordOffset: Int
        var testDescription: String { "\(groupSize) sockets on \(address), word at \(wordOffset)" }
    }

    /// A datagram as one member of the group saw it.
    struct Arrival: Sendable {
        let socketIndex: Int
        let bytes: [UInt8]
    }

    /// Binds `groupSize` sockets to one port with `reusePort`, in index order, reporting every
    /// datagram with the index of the socket that got it; attaches steering first if asked.
    static func group(on loop: EventLoop, _ setup: Setup, steered: Bool,
                      _ arrivals: Inbox<Arrival>) throws -> (members: [DatagramSocket], address: SocketAddress) {
        var members: [DatagramSocket] = []
        var port = 0
        for index in 0..<setup.groupSize {
            let socket = DatagramSocket(loop: loop)
            try socket.bind(localPort: port, localAddress: setup.address, reusePort: true)
            port = socket.localPort
            socket.onData = { arrivals.put(Arrival(socketIndex: index, bytes: Array($0.bytes))) }
            try socket.receive()
            members.append(socket)
        }
        if steered {
            try members[0].attachReusePortSteering(wordOffset: UInt32(setup.wordOffset), groupSize: UInt32(setup.groupSize))
        }
        return (members, try required(members[0].localSocketAddress, "the group's address"))
    }

    /// A 12-byte payload whose big-endian word at `offset` is `value`, the rest filler.
    static func payload(value: UInt32, offset: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xEE, count: 12)
        for shift in 0..<4 { bytes[offset + shift] = UInt8(truncatingIfNeeded: value >> (24 - 8 * shift)) }
        return bytes
    }

    /// The values steered: varied, so no sender's datagrams all belong to one socket.
    static let values: [UInt32] = (0..<200).map { UInt32(truncatingIfNeeded: $0 &* 2_654_435_761 &+ 12_345) }

    /// Sends every value from several sources (the kernel's hash uses the source address) and
    /// returns, per value, the index of the socket it reached.
    static func deliver(_ setup: Setup, steered: Bool) async throws -> [UInt32: Int] {
        try await withLoop { loop in
            let arrivals = Inbox<Arrival>()
            try await loop.submit {
                let (_, destination) = try Self.group(on: loop, setup, steered: steered, arrivals)
                let senders = try (0..<4).map { _ in
                    let sender = DatagramSocket(loop: loop)
                    try sender.bind(localPort: 0, localAddress: setup.address)
                    return sender
                }
                for (index, value) in Self.values.enumerated() {
                    try senders[index % senders.count].send(Self.payload(value: value, offset: setup.wordOffset), to: destination)
                }
            }
            let got = try await arrivals.next(Self.values.count, "the steered datagrams")
            var reached: [UInt32: Int] = [:]
            for arrival in got {
                let word = arrival.bytes[setup.wordOffset..<(setup.wordOffset + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                reached[word] = arrival.socketIndex
            }
            return reached
        }
    }

    @Test(arguments: [
        Setup(address: "127.0.0.1", groupSize: 2, wordOffset: 4),
        Setup(address: "127.0.0.1", groupSize: 3, wordOffset: 4),
        // Offset 0 is the first byte of the UDP payload, not of the UDP header.
        Setup(address: "127.0.0.1", groupSize: 3, wordOffset: 0),
        Setup(address: "::1", groupSize: 3, wordOffset: 4),
    ])
    func eachDatagramReachesTheSocketItsWordNames(setup: Setup) async throws {
        let reached = try await Self.deliver(setup, steered: true)
        #expect(reached.count == Self.values.count)
        let misrouted = Self.values.filter { reached[$0] != Int($0 % UInt32(setup.groupSize)) }
        #expect(misrouted.isEmpty, "\(misrouted.count) of \(Self.values.count) reached another socket")
    }

    @Test func withoutSteeringTheKernelIgnoresTheWord() async throws {
        // The control for the test above: the same traffic, unsteered, lands by source address.
        let setup = Setup(address: "127.0.0.1", groupSize: 3, wordOffset: 4)
        let reached = try await Self.deliver(setup, steered: false)
        #expect(reached.count == Self.values.count)
        let misrouted = Self.values.filter { reached[$0] != Int($0 % 3) }
        #expect(!misrouted.isEmpty)
    }

    @Test func aPayloadTooShortForTheWordGoesToTheFirstSocket() async throws {
        try await withLoop { loop in
            let arrivals = Inbox<Arrival>()
            try await loop.submit {
                let setup = Setup(address: "127.0.0.1", groupSize: 3, wordOffset: 4)
                let (_, destination) = try Self.group(on: loop, setup, steered: true, arrivals)
                for source in 0..<6 {
                    let sender = DatagramSocket(loop: loop)
                    try sender.bind(localPort: 0, localAddress: "127.0.0.1")
                    // Seven bytes: the word at 4...7 is one byte short. Byte 6 tells them apart.
                    try sender.send([1, 1, 1, 1, 2, 2, UInt8(source)], to: destination)
                    // A full word naming socket 2, from the same source, as the positive control.
                    try sender.send(Self.payload(value: 5, offset: 4), to: destination)
                }
            }
            let got = try await arrivals.next(12, "the short datagrams and the controls")
            #expect(got.filter { $0.bytes.count == 7 }.map(\.socketIndex) == [Int](repeating: 0, count: 6))
            #expect(got.filter { $0.bytes.count == 12 }.map(\.socketIndex) == [Int](repeating: 2, count: 6))
        }
    }

    @Test func theKernelsRefusalIsThrownWithItsReason() async throws {
        try await withLoop { loop in
            try await loop.submit {
                let plain = DatagramSocket(loop: loop)
                try plain.bind(localPort: 0, localAddress: "127.0.0.1")
                let refused = thrownError { try plain.attachReusePortSteering(wordOffset: 4, groupSize: 2) }
                #expect(refused?.code == .invalidArgument)
                #expect(refused?.message.contains("EINVAL") == true, "\(String(describing: refused))")
                #expect(refused?.message.contains("reusePort") == true)

                let unbound = DatagramSocket(loop: loop)
                #expect(thrownCode { try unbound.attachReusePortSteering(wordOffset: 4, groupSize: 2) } == .notBound)

                let grouped = DatagramSocket(loop: loop)
                try grouped.bind(localPort: 0, localAddress: "127.0.0.1", reusePort: true)
                #expect(thrownCode { try grouped.attachReusePortSteering(wordOffset: 4, groupSize: 0) } == .invalidArgument)
                try grouped.attachReusePortSteering(wordOffset: 4, groupSize: 1)
            }
        }
    }
}
