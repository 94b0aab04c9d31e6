import Foundation
import RelayWire
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A blocking UDP data-channel client with bounded waits, bound to loopback port 0.
final class UDPTestClient {
    let fd: Int32
    let relay: TestAddress
    /// The local port, for comparing with `bound` events.
    let localPort: Int

    init(host: String = "127.0.0.1", relayPort: Int) throws {
        relay = try TestAddress(host: host, port: relayPort)
        let fd = socket(relay.family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        self.fd = fd
        let local = try TestAddress(host: host, port: 0)
        guard local.withSockAddr({ Glibc.bind(fd, $0, $1) }) == 0 else { throw TestFailure("bind failed: \(errno)") }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = withUnsafeBytes(of: storage) { raw -> UInt16 in
            // sin_port and sin6_port share the offset 2 in both layouts.
            UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        }
        localPort = Int(port)
    }

    deinit { Glibc.close(fd) }

    /// Sends one datagram to the relay.
    func send(_ bytes: [UInt8]) {
        _ = relay.withSockAddr { addr, len in bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, addr, len) } }
    }

    /// Sends a datagram made of `header` and `payload`.
    func send(_ header: PacketHeader, payload: [UInt8] = []) {
        send(header.bytes + payload)
    }

    /// The next datagram, or nil when none arrives within `timeout`.
    func receive(timeout: Duration = .seconds(2)) -> [UInt8]? {
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, ms) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n >= 0 ? Array(buffer[..<n]) : nil
    }

    /// The next datagram; fails the test when none arrives.
    func expectDatagram(timeout: Duration = .seconds(10), _ what: String = "a datagram") throws -> [UInt8] {
        guard let datagram = receive(timeout: timeout) else { throw TestFailure("no \(what) arrived within \(timeout)") }
        return datagram
    }
}

/// One joined member: a control connection plus a UDP socket, bound through the cookie round trip.
final class TestMember {
    let control: ControlClientBox
    let udp: UDPTestClient
    let session: String
    let member: UInt16
    let token: [UInt8]

    var sessionLow: UInt32 { UInt32(session.suffix(8), radix: 16)! }

    init(control: ControlTestClient, udp: UDPTestClient, joinReply: [String: Any]) throws {
        self.control = ControlClientBox(control)
        self.udp = udp
        session = joinReply["session"] as! String
        member = UInt16(joinReply["member"] as! Int)
        let hex = joinReply["token"] as! String
        token = stride(from: 0, to: hex.count, by: 2).map {
            let start = hex.index(hex.startIndex, offsetBy: $0)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
    }

    /// The control client.
    var client: ControlTestClient { control.client }

    /// A header for this member's datagrams.
    func header(_ type: UInt8, target: UInt16 = 0, sequence: UInt32 = 0, flags: UInt8 = 0) -> PacketHeader {
        PacketHeader(type: type, flags: flags, session: sessionLow, member: member, target: target, sequence: sequence)
    }

    /// BIND, take the cookie, BIND with it: the address is bound and the `bound` event read.
    func bind() throws {
        udp.send(header(PacketType.bind), payload: token)
        let ack = try udp.expectDatagram("cookie BIND_ACK")
        guard ack.count == 24, ack[2] == PacketType.bindAck else { throw TestFailure("expected a cookie BIND_ACK, got \(ack)") }
        let cookie = Array(ack[16...])
        udp.send(header(PacketType.bind), payload: token + cookie)
        let done = try udp.expectDatagram("empty BIND_ACK")
        guard done.count == 16, done[2] == PacketType.bindAck else { throw TestFailure("expected an empty BIND_ACK, got \(done)") }
        _ = try client.expectEvent("bound")
    }
}

/// Holds a control client (kept as a class so members can share it).
final class ControlClientBox {
    let client: ControlTestClient
    init(_ client: ControlTestClient) { self.client = client }
}

extension TestRelay {
    /// A new control connection to the relay.
    func connect() throws -> ControlTestClient {
        try ControlTestClient(host: host, port: controlPort)
    }

    /// Creates a session and returns its reply.
    func createSession(capacity: Int? = nil) throws -> (client: ControlTestClient, reply: [String: Any]) {
        let client = try connect()
        let reply = try client.request(capacity.map { "{\"op\":\"create\",\"capacity\":\($0)}" } ?? "{\"op\":\"create\"}")
        guard reply["ok"] as? Bool == true else { throw TestFailure("create failed: \(reply)") }
        return (client, reply)
    }

    /// Joins `session` with a new connection and UDP socket; binds when asked.
    func join(_ session: String, name: String = "", bind: Bool = true) throws -> TestMember {
        let client = try connect()
        let reply = try client.request("{\"op\":\"join\",\"session\":\"\(session)\",\"name\":\"\(name)\"}")
        guard reply["ok"] as? Bool == true else { throw TestFailure("join failed: \(reply)") }
        let member = try TestMember(control: client, udp: UDPTestClient(host: host, relayPort: udpPort), joinReply: reply)
        if bind { try member.bind() }
        return member
    }

    /// Creates a session and joins `count` bound members, draining the `joined` events.
    func makeMembers(_ count: Int, capacity: Int? = nil) throws -> [TestMember] {
        let (_, reply) = try createSession(capacity: capacity)
        let session = reply["session"] as! String
        var members: [TestMember] = []
        for index in 0..<count {
            let member = try join(session, name: "m\(index)", bind: false)
            for earlier in members { _ = try earlier.client.expectEvent("joined") }
            members.append(member)
        }
        for member in members { try member.bind() }
        return members
    }
}
