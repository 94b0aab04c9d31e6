import Testing

@testable import RelayWire

@Suite struct WebSocketFrameEncoderTests {
    static func decode(_ bytes: [UInt8], role: WebSocketRole, max: Int = 1 << 20) -> [WebSocketFrameEvent] {
        var decoder = WebSocketFrameDecoder(role: role, maxText: max, maxBinary: max)
        decoder.append(bytes)
        var events: [WebSocketFrameEvent] = []
        while let event = decoder.next() { events.append(event) }
        return events
    }

    @Test func serverFramesMatchTheRFCExamples() {
        #expect(WebSocketFrameEncoder.text("Hello") == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        #expect(WebSocketFrameEncoder.ping("Hello".bytes) == [0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    }

    @Test func clientFramesAreMaskedWithTheGivenKey() {
        #expect(WebSocketFrameEncoder.text("Hello", maskingKey: 0x37FA_213D)
            == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        #expect(WebSocketFrameEncoder.pong("Hello".bytes, maskingKey: 0x37FA_213D)
            == [0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    }

    @Test(arguments: [0, 125, 126, 65535, 65536, 70000])
    func lengthsUseTheShortestForm(count: Int) {
        let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0) }
        let frame = WebSocketFrameEncoder.binary(payload)
        let expectedHeader = count < 126 ? 2 : count <= 65535 ? 4 : 10
        #expect(frame.count == expectedHeader + count)
        #expect(WebSocketFrameEncoder.headerLength(payloadCount: count, isMasked: false) == expectedHeader)
        #expect(WebSocketFrameEncoder.headerLength(payloadCount: count, isMasked: true) == expectedHeader + 4)
        #expect(frame[1] == (count < 126 ? UInt8(count) : count <= 65535 ? 126 : 127))
        #expect(Self.decode(frame, role: .client) == [.binary(payload)])
        #expect(Self.decode(WebSocketFrameEncoder.binary(payload, maskingKey: 0xA1B2_C3D4), role: .server) == [.binary(payload)])
    }

    @Test func aHeaderIsWrittenIntoCallerStorageInFrontOfThePayload() {
        var storage = [UInt8](repeating: 0xEE, count: 14 + 300)
        let written = storage.withUnsafeMutableBytes {
            WebSocketFrameEncoder.writeHeader(opcode: .binary, payloadCount: 300, maskingKey: nil, into: $0)
        }
        #expect(written == 4 && Array(storage[..<4]) == [0x82, 126, 0x01, 0x2C] && storage[4] == 0xEE)
    }

    @Test func fragmentsRoundTrip() {
        var output: [UInt8] = []
        WebSocketFrameEncoder.appendFrame(opcode: .text, isFinal: false, payload: "Hel".bytes, maskingKey: 1, to: &output)
        output += WebSocketFrameEncoder.ping([1, 2], maskingKey: 2)
        WebSocketFrameEncoder.appendFrame(opcode: .continuation, payload: "lo".bytes, maskingKey: 3, to: &output)
        #expect(Self.decode(output, role: .server) == [.ping([1, 2]), .text("Hello".bytes)])
    }

    @Test func closeFramesCarryTheCodeAndAReasonCutAtACharacter() {
        #expect(WebSocketFrameEncoder.close(code: nil) == [0x88, 0x00])
        #expect(WebSocketFrameEncoder.close(code: .messageTooBig, reason: "too big") == [0x88, 9, 0x03, 0xF1] + "too big".bytes)
        let long = String(repeating: "é", count: 100)  // 200 bytes
        let frame = WebSocketFrameEncoder.close(code: .protocolError, reason: long)
        #expect(frame.count == 2 + 2 + 122)
        #expect(Self.decode(frame, role: .client) == [.close(code: .protocolError, reason: String(repeating: "é", count: 61))])
    }

    @Test func maskingIsItsOwnInverseFromAnyOffset() {
        let original = (0..<37).map { UInt8($0) }
        for offset in 0..<4 {
            var bytes = original
            WebSocketMask.apply(key: 0x0102_0304, offset: offset, to: &bytes)
            let expected = original.enumerated().map { $1 ^ UInt8((($0 + offset) & 3) + 1) }
            #expect(bytes == expected)
            WebSocketMask.apply(key: 0x0102_0304, offset: offset, to: &bytes)
            #expect(bytes == original)
        }
    }
}
