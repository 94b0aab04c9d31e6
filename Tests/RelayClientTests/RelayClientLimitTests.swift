import RelayClient
import RelayWire
import TestSupport
import Testing
import UVNet

/// The client against relays whose `hello` advertises limits it must not take at face value.
@Suite("RelayClient limits")
struct RelayClientLimitTests {
    /// What the client reported, copied off the loop.
    struct Outcome: Sendable {
        var advertised = 0
        var adopted = 0
        var results: [String] = []
    }

    /// Connects a client to a fake relay advertising `maxDatagram`, says hello, joins, and runs
    /// `body` on the joined client; returns what `hello` reported and what `body` recorded.
    static func afterJoining(advertised maxDatagram: Int, datagrams: Inbox<[UInt8]> = Inbox(),
                             _ body: @escaping @Sendable (RelayClient, inout Outcome) -> Void) async throws -> Outcome {
        let loop = EventLoop(name: "client-limits")
        let done = Inbox<Outcome>()
        let relay = try await loop.submit {
            let relay = try FakeRelay(loop: loop, maxDatagram: maxDatagram, datagrams: datagrams)
            let client = RelayClient(loop: loop)
            client.keepAliveInterval = nil
            var outcome = Outcome()
            client.connect(host: "127.0.0.1", port: relay.controlPort) { _ in
                client.hello { hello in
                    switch hello {
                    case .failure(let error):
                        outcome.results.append("hello: \(error.code)")
                        done.put(outcome)
                        client.close()
                    case .success(let hello):
                        outcome.advertised = hello.maxDatagram
                        client.join(code: "ABCDEF") { joined in
                            if case .failure(let error) = joined { outcome.results.append("join: \(error.code)") }
                            outcome.adopted = client.maxDatagram
                            body(client, &outcome)
                            done.put(outcome)
                            client.close()
                        }
                    }
                }
            }
            return LoopBound(relay, loop: loop)
        }
        let outcome = try await done.wait("the client's run against the fake relay")
        try await loop.submit { relay.value.close() }
        await loop.shutdown()
        return outcome[0]
    }

    /// The name of the error `send` throws, or "sent".
    static func attempt(_ send: () throws -> Void) -> String {
        do {
            try send()
            return "sent"
        } catch let error as RelayClientError {
            return error.code.name
        } catch {
            return "\(error)"
        }
    }

    @Test func aHugeAdvertisedMaxDatagramIsClampedToOnePacket() async throws {
        let datagrams = Inbox<[UInt8]>()
        let outcome = try await Self.afterJoining(advertised: 1_000_000, datagrams: datagrams) { client, outcome in
            for payloadSize in [2_000, 1_457, 1_456] {
                let payload = [UInt8](repeating: 0xAB, count: payloadSize)
                outcome.results.append("\(payloadSize): " + Self.attempt {
                    try payload.withUnsafeBytes { try client.send($0) }
                })
            }
            outcome.results.append("burst: " + Self.attempt {
                try client.sendBurst(count: 2, payloadSize: 100_000) { _, _ in }
            })
        }
        #expect(outcome.advertised == 1_000_000)
        #expect(outcome.adopted == 1_472)
        #expect(outcome.results == ["2000: datagramTooLarge", "1457: datagramTooLarge", "1456: sent", "burst: datagramTooLarge"])
        let arrived = try await datagrams.wait("the largest datagram")
        #expect(arrived[0].count == 1_472)
        #expect(arrived[0].suffix(1_456) == [UInt8](repeating: 0xAB, count: 1_456)[...])
    }

    @Test func anAdvertisedLimitBelowOnePacketIsKept() async throws {
        let outcome = try await Self.afterJoining(advertised: 200) { client, outcome in
            for payloadSize in [185, 184] {
                let payload = [UInt8](repeating: 1, count: payloadSize)
                outcome.results.append(Self.attempt {
                    try payload.withUnsafeBytes { try client.send($0) }
                })
            }
        }
        #expect(outcome.adopted == 200)
        #expect(outcome.results == ["datagramTooLarge", "sent"])
    }

    @Test func aMaxDatagramSmallerThanAHeaderFailsHello() async throws {
        let outcome = try await Self.afterJoining(advertised: 3) { _, _ in }
        #expect(outcome.results == ["hello: protocolViolation"])
    }
}
