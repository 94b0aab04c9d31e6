@testable import RelayClient
import RelayWire
import TestSupport
import Testing

/// The WebSocket transport's bytes without a socket: the upgrade, masked frames out (read back
/// with the relay's own decoder), frames in.
@Suite struct WebSocketClientChannelTests {
    static let keyBytes: [UInt8] = Array(1...16)

    /// Keys 0x01010101, 0x02020202, …: each frame's key is known, and no two are alike.
    static func countingKeys() -> MaskingKeys {
        var next: UInt8 = 0
        return MaskingKeys { buffer in
            for index in 0..<buffer.count {
                if index % 4 == 0 { next &+= 1 }
                buffer[index] = next
            }
        }
    }

    static func channel() -> WebSocketClientChannel {
        WebSocketClientChannel(randomBytes: keyBytes, maskingKeys: countingKeys())
    }

    static func accepting(_ channel: WebSocketClientChannel) -> [UInt8] {
        Array(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(WebSocketHandshake.accept(forKey: channel.key))\r\n"
            + "Sec-WebSocket-Protocol: gamerelay.v1\r\n\r\n").utf8)
    }

    /// Everything the relay's decoder reads from `bytes`.
    static func serverEvents(_ bytes: [UInt8]) -> [WebSocketFrameEvent] {
        var decoder = WebSocketFrameDecoder(role: .server, maxText: 16384, maxBinary: 1472)
        decoder.append(bytes)
        var events: [WebSocketFrameEvent] = []
        while let event = decoder.next() { events.append(event) }
        return events
    }

    static func read(_ channel: inout WebSocketClientChannel, _ bytes: [UInt8]) -> WebSocketClientChannel.Upgrade {
        bytes.withUnsafeBytes { channel.readUpgrade($0) }
    }

    @Test func theRequestNamesTheRelayAndOffersTheSubprotocol() {
        let channel = Self.channel()
        let v4 = String(decoding: channel.request(host: "127.0.0.1", port: 7400, origin: nil), as: UTF8.self)
        #expect(v4.hasPrefix("GET /v1/ws HTTP/1.1\r\n"))
        #expect(v4.contains("\r\nHost: 127.0.0.1:7400\r\n"))
        #expect(v4.contains("\r\nSec-WebSocket-Key: \(WebSocketClientHandshake.key(randomBytes: Self.keyBytes))\r\n"))
        #expect(v4.contains("\r\nSec-WebSocket-Protocol: gamerelay.v1\r\n"))
        #expect(!v4.contains("Origin:"))
        #expect(v4.hasSuffix("\r\n\r\n"))
        let v6 = String(decoding: channel.request(host: "::1", port: 7400, origin: "https://game.example"), as: UTF8.self)
        #expect(v6.contains("\r\nHost: [::1]:7400\r\n"))
        #expect(v6.contains("\r\nOrigin: https://game.example\r\n"))
    }

    @Test func anUpgradeSplitByteByByteIsAcceptedOnlyAtItsLastByte() {
        var channel = Self.channel()
        let answer = Self.accepting(channel)
        for byte in answer.dropLast() {
            #expect(Self.read(&channel, [byte]) == .incomplete)
        }
        #expect(Self.read(&channel, [answer.last!]) == .accepted)
        #expect(channel.phase == .open)
    }

    @Test func framesThatArriveWithTheHeadAreNotLost() {
        var channel = Self.channel()
        let frames = WebSocketFrameEncoder.text(#"{"event":"bound","address":"127.0.0.1:1"}"#)
            + WebSocketFrameEncoder.binary([0x47, 1, 3, 0])
        #expect(Self.read(&channel, Self.accepting(channel) + frames) == .accepted)
        #expect(channel.next() == .text(Array(#"{"event":"bound","address":"127.0.0.1:1"}"#.utf8)))
        #expect(channel.next() == .binary([0x47, 1, 3, 0]))
        #expect(channel.next() == nil)
    }

    @Test func anySplitOfTheAnswerAndItsFramesGivesTheSameEvents() {
        let frames = WebSocketFrameEncoder.text(#"{"id":1,"ok":true}"#) + WebSocketFrameEncoder.ping([5])
            + WebSocketFrameEncoder.binary(Array(repeating: 0x47, count: 300))
        let expected: [WebSocketFrameEvent] = [.text(Array(#"{"id":1,"ok":true}"#.utf8)), .ping([5]), .binary(Array(repeating: 0x47, count: 300))]
        var random = SeededGenerator(seed: 6455)
        for _ in 0..<200 {
            var channel = Self.channel()
            let stream = Self.accepting(channel) + frames
            var offset = 0
            var events: [WebSocketFrameEvent] = []
            while offset < stream.count {
                let end = min(stream.count, offset + Int.random(in: 1...90, using: &random))
                let chunk = Array(stream[offset..<end])
                if channel.phase == .upgrading {
                    let verdict = Self.read(&channel, chunk)
                    #expect(verdict == (channel.phase == .open ? .accepted : .incomplete))
                } else {
                    chunk.withUnsafeBytes { channel.read($0) }
                }
                while let event = channel.next() { events.append(event) }
                offset = end
            }
            #expect(events == expected)
        }
    }

    @Test(arguments: [400, 403, 404, 405, 426, 431])
    func aRefusalNamesItsStatus(status: Int) {
        var channel = Self.channel()
        let answer = Array("HTTP/1.1 \(status) Refused\r\nConnection: close\r\nContent-Length: 9\r\n\r\nrefused.\n".utf8)
        #expect(Self.read(&channel, answer) == .refused(status: status))
        #expect(channel.phase == .closed)
    }

    @Test func aWrongAcceptValueIsNotAnUpgrade() {
        var channel = Self.channel()
        let other = WebSocketClientChannel(randomBytes: Array(repeating: 9, count: 16))
        guard case .invalid = Self.read(&channel, Self.accepting(other)) else {
            Issue.record("a 101 for another key was accepted")
            return
        }
        #expect(channel.phase == .closed)
    }

    @Test func aHeadThatNeverEndsIsRefusedAtItsBound() {
        var channel = Self.channel()
        let line = Array("X-Filler: \(String(repeating: "a", count: 100))\r\n".utf8)
        #expect(Self.read(&channel, Array("HTTP/1.1 101 Switching Protocols\r\n".utf8)) == .incomplete)
        var verdict = WebSocketClientChannel.Upgrade.incomplete
        var fed = 0
        while verdict == .incomplete, fed < 4 * WebSocketClientChannel.maxResponseHead {
            verdict = Self.read(&channel, line)
            fed += line.count
        }
        guard case .invalid = verdict else {
            Issue.record("an endless head gave \(verdict)")
            return
        }
        #expect(fed <= WebSocketClientChannel.maxResponseHead + line.count)
    }

    @Test func controlMessagesGoOutAsMaskedTextWithAFreshKeyEach() {
        var channel = Self.channel()
        var output: [UInt8] = []
        Array(#"{"op":"ping"}"#.utf8).withUnsafeBytes { channel.appendText($0, to: &output) }
        let first = output
        Array(#"{"op":"ping"}"#.utf8).withUnsafeBytes { channel.appendText($0, to: &output) }
        let second = Array(output[first.count...])
        #expect(Self.serverEvents(output) == [.text(Array(#"{"op":"ping"}"#.utf8)), .text(Array(#"{"op":"ping"}"#.utf8))])
        // Masked (bit 7 of byte 1), with the source's keys in order.
        #expect(first[1] & 0x80 != 0)
        #expect(Array(first[2..<6]) == [1, 1, 1, 1])
        #expect(Array(second[2..<6]) == [2, 2, 2, 2])
        #expect(Array(first[6...]) != Array(#"{"op":"ping"}"#.utf8))
    }

    @Test(arguments: [0, 1, 100, 109, 110, 1456])
    func aDatagramGoesOutAsOneBinaryMessage(payloadSize: Int) {
        var channel = Self.channel()
        let header = PacketHeader(type: PacketType.data, flags: PacketFlags.latest, session: 0xDEAD_BEEF, member: 3,
                                  target: PacketHeader.broadcastTarget, sequence: 77)
        let payload = (0..<payloadSize).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var output: [UInt8] = [0xEE]
        payload.withUnsafeBytes { channel.appendDatagram(header, payload: $0, to: &output) }
        #expect(output.first == 0xEE)
        var expected = [UInt8](repeating: 0, count: PacketHeader.size)
        expected.withUnsafeMutableBytes { header.write(to: $0) }
        #expect(Self.serverEvents(Array(output.dropFirst())) == [.binary(expected + payload)])
    }

    @Test func pingIsAnsweredAndCloseEndsTheChannel() {
        var channel = Self.channel()
        _ = Self.read(&channel, Self.accepting(channel))
        var output: [UInt8] = []
        channel.appendPong([7, 8, 9], to: &output)
        channel.appendClose(code: .normalClosure, to: &output)
        #expect(channel.phase == .closed)
        let afterClose = output.count
        channel.appendClose(code: .normalClosure, to: &output)
        #expect(output.count == afterClose)
        #expect(Self.serverEvents(output) == [.pong([7, 8, 9]), .close(code: .normalClosure, reason: "")])
        // Frames that arrive after the close are not read.
        WebSocketFrameEncoder.text("{}").withUnsafeBytes { channel.read($0) }
        #expect(channel.next() == nil)
    }
}

/// Masking keys come from the injected source, in order, fetched a batch at a time.
@Suite struct MaskingKeysTests {
    @Test func keysComeFromTheSourceOneBatchPerRefill() {
        var refills = 0
        var keys = MaskingKeys { buffer in
            refills += 1
            for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: index / 4 + refills) }
        }
        var seen: [UInt32] = []
        for _ in 0..<(MaskingKeys.batch + 1) { seen.append(keys.next()) }
        #expect(refills == 2)
        #expect(seen[0] == 0x0101_0101)
        #expect(seen[1] == 0x0202_0202)
        #expect(seen[MaskingKeys.batch] == 0x0202_0202)
    }

    @Test func theSystemSourceDoesNotRepeatItself() {
        var keys = MaskingKeys()
        let drawn = (0..<(3 * MaskingKeys.batch)).map { _ in keys.next() }
        // 768 keys of 32 random bits collide with probability below 10⁻⁴.
        #expect(Set(drawn).count >= drawn.count - 1)
    }
}
