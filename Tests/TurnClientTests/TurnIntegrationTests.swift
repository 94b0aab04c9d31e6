import TestSupport
import Testing
import TurnClient
import UVNet

/// TurnAllocation against a real coturn on 127.0.0.1, once without authentication and once with
/// long-term credentials. Fails (rather than skips) when `turnserver` is not installed.
@Suite("TurnAllocation against coturn")
struct TurnIntegrationTests {
    typealias Received = (channel: UInt16, payload: [UInt8])

    @Test(arguments: [false, true])
    func twoAllocationsExchangeIndicationsAndChannelData(longTerm: Bool) async throws {
        let server = try TurnServerProcess(longTerm: longTerm)
        defer { server.stop() }
        let loop = EventLoop(name: "turn-test")
        do {
            try await exchange(on: loop, port: server.port, longTerm: longTerm)
            await loop.shutdown()
        } catch {
            await loop.shutdown()
            throw TestFailure("\(error)\n--- turnserver log ---\n\(server.log)")
        }
    }

    private func exchange(on loop: EventLoop, port: Int, longTerm: Bool) async throws {
        let credentials = longTerm ? TurnCredentials(username: TurnServerProcess.user, password: TurnServerProcess.password,
                                                     realm: TurnServerProcess.realm) : nil
        let channelData = [Inbox<Received>(), Inbox<Received>()]
        let indications = [Inbox<(peer: SocketAddress, payload: [UInt8])>(), Inbox<(peer: SocketAddress, payload: [UInt8])>()]
        let allocated = Inbox<Result<SocketAddress, TurnError>>()
        let clients = try await loop.submit {
            let clients = [TurnAllocation(loop: loop, credentials: credentials), TurnAllocation(loop: loop, credentials: credentials)]
            for (index, client) in clients.enumerated() {
                client.onChannelData = { channel, payload in channelData[index].put((channel, Array(payload))) }
                client.onData = { peer, payload in indications[index].put((peer, Array(payload))) }
                try client.connect(host: "127.0.0.1", port: port)
                client.allocate(lifetime: 600) { allocated.put($0) }
            }
            return LoopBound(clients, loop: loop)
        }
        // Completions arrive in whichever order the server answers; index the addresses by client.
        for result in try await allocated.wait(for: 2, "two allocations") { _ = try result.get() }
        let relayed = try await loop.submit { clients.value.map { $0.relayedAddress! } }
        #expect(relayed[0] != relayed[1])
        #expect(relayed.allSatisfy { $0.ipAddress == "127.0.0.1" && $0.port > 0 })
        let details = try await loop.submit { clients.value.map { ($0.mappedAddress, $0.localAddress, $0.realm, $0.lifetime) } }
        for detail in details {
            #expect(detail.0 == detail.1, "XOR-MAPPED-ADDRESS is the client's own address on loopback")
            #expect(detail.2 == (longTerm ? TurnServerProcess.realm : nil))
            #expect((detail.3 ?? 0) > 0)
        }

        // Send indication → Data indication, which needs a permission on the receiving side.
        let permitted = Inbox<Result<Void, TurnError>>()
        try await loop.submit {
            clients.value[0].createPermission(for: [relayed[1]]) { permitted.put($0) }
            clients.value[1].createPermission(for: [relayed[0]]) { permitted.put($0) }
        }
        for result in try await permitted.wait(for: 2, "two permissions") { try result.get() }
        // Send indication → Data indication.
        // Indications are unreliable datagrams, and coturn may install a permission a moment after
        // answering for it: resend, as a client would, until one arrives (bounded).
        var received: (peer: SocketAddress, payload: [UInt8])?
        for _ in 0..<40 where received == nil {
            try await loop.submit { try clients.value[0].sendIndication(Array("indicated".utf8), to: relayed[1]) }
            received = try? await indications[1].wait(for: 1, timeout: .milliseconds(250), "a Data indication")[0]
        }
        let indication = try #require(received, "no Data indication after 40 Send indications")
        #expect(indication.peer == relayed[0])
        #expect(indication.payload == Array("indicated".utf8))

        // ChannelBind both ways, then ChannelData both ways.
        let bound = Inbox<(Int, Result<UInt16, TurnError>)>()
        try await loop.submit {
            clients.value[0].bindChannel(to: relayed[1]) { bound.put((0, $0)) }
            clients.value[1].bindChannel(to: relayed[0]) { bound.put((1, $0)) }
        }
        var assigned = [UInt16](repeating: 0, count: 2)
        for (index, result) in try await bound.wait(for: 2, "two channel bindings") { assigned[index] = try result.get() }
        let channels = assigned
        #expect(channels.allSatisfy { ChannelData.bindableChannels.contains($0) })
        // ChannelData is a datagram too: resend until each side has one (bounded).
        for _ in 0..<40 where channelData[0].all.isEmpty || channelData[1].all.isEmpty {
            try await loop.submit {
                try Array("from zero".utf8).withUnsafeBytes { try clients.value[0].sendChannelData($0, channel: channels[0]) }
                try Array("from one!".utf8).withUnsafeBytes { try clients.value[1].sendChannelData($0, channel: channels[1]) }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let atOne = try await channelData[1].wait(for: 1, "ChannelData at client 1")[0]
        let atZero = try await channelData[0].wait(for: 1, "ChannelData at client 0")[0]
        #expect(atOne.channel == channels[1] && atOne.payload == Array("from zero".utf8), "got \(atOne.payload)")
        #expect(atZero.channel == channels[0] && atZero.payload == Array("from one!".utf8))
        let lookups = try await loop.submit { (clients.value[1].peer(forChannel: channels[1]), clients.value[0].channel(for: relayed[1])) }
        #expect(lookups.0 == relayed[0])
        #expect(lookups.1 == channels[0])

        // A burst: 40 payloads, each on the channel twice, is 80 ChannelData in two segmented
        // sends (64 is the most one carries); coturn relays them as 80 datagrams.
        let burstTaken = try await loop.submit {
            try clients.value[0].sendChannelDataBurst(count: 40, payloadSize: 5, channels: [channels[0], channels[0]]) { index, bytes in
                bytes.initializeMemory(as: UInt8.self, repeating: UInt8(index))
            }
        }
        #expect(burstTaken == 80)
        // Late resends of the 9-byte ChannelData above may still arrive; the burst's are 5 bytes.
        var burst: [Received] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while burst.count < 80, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
            burst = channelData[1].all.filter { $0.payload.count == 5 }
        }
        #expect(burst.count == 80)
        #expect(burst.allSatisfy { $0.channel == channels[1] })
        let arrived: [[UInt8]] = burst.map(\.payload).sorted { $0[0] < $1[0] }
        let sent: [[UInt8]] = (0..<80).map { [UInt8](repeating: UInt8($0 / 2), count: 5) }
        #expect(arrived == sent)

        let refreshed = Inbox<Result<UInt32, TurnError>>()
        try await loop.submit { clients.value[0].refresh(lifetime: 300) { refreshed.put($0) } }
        #expect(try await refreshed.wait(for: 1, "a refresh")[0].get() > 0)
        try await loop.submit { for client in clients.value { client.close() } }
    }

    @Test func longTermServerRefusesMissingAndWrongCredentials() async throws {
        let server = try TurnServerProcess(longTerm: true)
        defer { server.stop() }
        let loop = EventLoop(name: "turn-auth-test")
        let results = Inbox<(String, Result<SocketAddress, TurnError>)>()
        let port = server.port
        do {
            try await loop.submit {
                let cases: [(String, TurnCredentials?)] = [
                    ("anonymous", nil),
                    ("wrong password", TurnCredentials(username: TurnServerProcess.user, password: "nope")),
                    ("wrong realm", TurnCredentials(username: TurnServerProcess.user, password: TurnServerProcess.password, realm: "elsewhere")),
                ]
                for (name, credentials) in cases {
                    let client = TurnAllocation(loop: loop, credentials: credentials)
                    try client.connect(host: "127.0.0.1", port: port)
                    client.allocate { result in
                        results.put((name, result))
                        client.close()
                    }
                }
            }
            let outcomes = try await results.wait(for: 3, "three refusals")
            await loop.shutdown()
            for (name, result) in outcomes {
                guard case .failure(let error) = result else {
                    Issue.record("\(name): allocated, but the server should have refused")
                    continue
                }
                #expect(error.code == .unauthorized, "\(name): \(error)")
                #expect(error.stunError?.code == StunErrorCode.unauthorized, "\(name): \(error)")
            }
        } catch {
            await loop.shutdown()
            throw TestFailure("\(error)\n--- turnserver log ---\n\(server.log)")
        }
    }
}
