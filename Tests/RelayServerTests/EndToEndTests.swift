import Foundation
import RelayWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `gamerelay serve` binary, started as users and the conformance suite start it.
@Suite("gamerelay serve (process)")
struct EndToEndTests {
    @Test func servesAnExchangeAndDrainsOnSIGTERM() async throws {
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--drain-timeout", "30", "--log-level", "warning"])
        let (control, udp, line) = try relay.waitForListening()
        #expect(line == #"{"event":"listening","control":"\#(control)","udp":"\#(udp)"}"#)
        #expect(control.hasPrefix("127.0.0.1:") && control == udp)
        let port = try #require(control.portSuffix)

        let creator = try ControlTestClient(port: port)
        let session = try #require(try creator.request(#"{"op":"create","capacity":2}"#)["session"] as? String)
        var members: [TestMember] = []
        for name in ["a", "b"] {
            let client = try ControlTestClient(port: port)
            let reply = try client.request(#"{"op":"join","session":"\#(session)","name":"\#(name)"}"#)
            members.append(try TestMember(control: client, udp: UDPTestClient(relayPort: port), joinReply: reply))
        }
        _ = try members[0].client.expectEvent("joined")
        for member in members { try member.bind() }
        let datagram = members[1].header(PacketType.data, target: 0xFFFF, sequence: 1).bytes + Array("e2e".utf8)
        members[1].udp.send(datagram)
        #expect(try members[0].udp.expectDatagram() == datagram)

        relay.signal(SIGTERM)
        for member in members { #expect(try member.client.expectEvent("shutdown")["drainMs"] as? Int == 30000) }
        _ = try creator.expectEvent("shutdown")
        let refused = try members[0].client.request(#"{"op":"join","session":"\#(session)"}"#)
        #expect((refused["error"] as? [String: Any])?["code"] as? String == "shutting_down")
        let early = try await relay.waitForExit(timeout: .milliseconds(200))
        #expect(early == nil, "the relay must wait for open connections; it exited with \(String(describing: early)): \(early == nil ? "" : relay.stderrText())")
        for member in members { member.client.close() }
        creator.close()
        #expect(try await relay.waitForExit() == 0)
    }

    @Test func twoDataPlaneLoopsShareThePortAndRefuseAForeignHolder() async throws {
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--threads", "2", "--log-level", "warning"])
        let port = try #require(try relay.waitForListening().control.portSuffix)
        let creator = try ControlTestClient(port: port)
        let session = try #require(try creator.request(#"{"op":"create","capacity":8}"#)["session"] as? String)
        var members: [TestMember] = []
        for _ in 0..<6 {
            let client = try ControlTestClient(port: port)
            let reply = try client.request(#"{"op":"join","session":"\#(session)"}"#)
            members.append(try TestMember(control: client, udp: UDPTestClient(relayPort: port), joinReply: reply))
        }
        for (index, member) in members.enumerated() {
            for _ in 0..<(members.count - 1 - index) { _ = try member.client.expectEvent("joined") }
            try member.bind()
        }
        // Six source ports spread over both sockets; every member must hear every other.
        for member in members {
            member.udp.send(member.header(PacketType.data, target: 0xFFFF, sequence: 1), payload: [UInt8(member.member)])
        }
        for member in members {
            var heard = Set<UInt8>()
            for _ in 0..<(members.count - 1) { heard.insert(try member.udp.expectDatagram().last!) }
            #expect(heard == Set(members.map { UInt8($0.member) }).subtracting([UInt8(member.member)]))
        }
        // A second relay may not join the port through SO_REUSEPORT.
        let intruder = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--udp-port", "\(port)", "--threads", "2"])
        #expect(try await intruder.waitForExit() != 0)
        #expect(intruder.stderrText().contains("in use"))
        relay.signal(SIGKILL)
    }

    @Test func aSecondSignalExitsAtOnceWithStatusOne() async throws {
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--drain-timeout", "30"])
        let port = try #require(try relay.waitForListening().control.portSuffix)
        let client = try ControlTestClient(port: port)
        // A reply proves the relay accepted the connection: a drain with none open ends at once.
        _ = try client.request(#"{"op":"ping"}"#)
        relay.signal(SIGINT)
        _ = try client.expectEvent("shutdown")
        relay.signal(SIGINT)
        #expect(try await relay.waitForExit(timeout: .seconds(5)) == 1)
    }

    @Test(arguments: [
        ["--bogus"],
        ["--port", "65536"],
        ["--max-datagram", "39"],
        ["--max-datagram", "1473"],
        ["--idle-timeout", "0"],
        ["--control-idle-timeout", "-1"],
        ["--empty-session-timeout", "abc"],
        ["--host", "not-an-address"],
        ["--threads", "0"],
        ["--metrics-port", "70000"],
    ])
    func badFlagsExitNonZeroWithOneLine(flags: [String]) async throws {
        let relay = try RelayProcessHarness(["serve", "--port", "0"] + flags)
        let status = try #require(try await relay.waitForExit())
        #expect(status != 0)
        let lines = relay.stderrText().split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(lines)")
    }

    @Test func aPortInUseIsRefusedWithOneLine() async throws {
        // A plain listening TCP socket holds the port.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        let address = try TestAddress(host: "127.0.0.1", port: 0)
        #expect(address.withSockAddr { bind(fd, $0, $1) } == 0)
        #expect(listen(fd, 1) == 0)
        var storage = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = Int(UInt16(bigEndian: storage.sin_port))

        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "\(port)"])
        let status = try #require(try await relay.waitForExit())
        #expect(status != 0)
        let text = relay.stderrText()
        #expect(text.split(separator: "\n").count == 1 && text.contains("in use"), "stderr: \(text)")
    }

    @Test func aUDPPortInUseIsRefused() async throws {
        let holder = try UDPTestClient(relayPort: 9)
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--udp-port", "\(holder.localPort)"])
        let status = try #require(try await relay.waitForExit())
        #expect(status != 0)
        #expect(relay.stderrText().contains("UDP"))
    }
}
