import Testing

@testable import RelayWire

@Suite struct WebSocketFrameDecoderTests {
    /// Feeds `chunks` one by one, draining events after each.
    static func events(
        _ chunks: [[UInt8]], role: WebSocketRole = .server, maxText: Int = 1024, maxBinary: Int = 1200
    ) -> (events: [WebSocketFrameEvent], decoder: WebSocketFrameDecoder) {
        var decoder = WebSocketFrameDecoder(role: role, maxText: maxText, maxBinary: maxBinary)
        var events: [WebSocketFrameEvent] = []
        for chunk in chunks {
            decoder.append(chunk)
            while let event = decoder.next() { events.append(event) }
        }
        return (events, decoder)
    }

    static func events(_ bytes: [UInt8], role: WebSocketRole = .server, maxText: Int = 1024, maxBinary: Int = 1200)
        -> [WebSocketFrameEvent]
    {
        events([bytes], role: role, maxText: maxText, maxBinary: maxBinary).events
    }

    /// A client frame, masked with a fixed key unless `key` is nil; `first` is the whole first byte.
    static func frame(_ first: UInt8, _ payload: [UInt8], key: UInt32? = 0x37FA_213D) -> [UInt8] {
        var output: [UInt8] = [first]
        let maskBit: UInt8 = key == nil ? 0 : 0x80
        if payload.count < 126 {
            output.append(maskBit | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            output += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            output.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { output.append(UInt8(truncatingIfNeeded: payload.count >> shift)) }
        }
        guard let key else { return output + payload }
        let keyBytes = (0..<4).map { UInt8(truncatingIfNeeded: key >> (24 - 8 * UInt32($0))) }
        return output + keyBytes + payload.enumerated().map { $1 ^ keyBytes[$0 % 4] }
    }

    static func protocolError(_ events: [WebSocketFrameEvent]) -> WebSocketCloseCode? {
        if case .protocolError(let code, _)? = events.last { return code }
        return nil
    }

    // MARK: RFC 6455 §5.7

    @Test func rfcSingleFrameUnmaskedTextReadsAsAClient() {
        #expect(Self.events([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F], role: .client) == [.text("Hello".bytes)])
    }

    @Test func rfcSingleFrameMaskedTextReadsAsAServer() {
        let bytes: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        #expect(Self.events(bytes) == [.text("Hello".bytes)])
    }

    @Test func rfcFragmentedUnmaskedTextIsReassembled() {
        let bytes: [UInt8] = [0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F]
        #expect(Self.events(bytes, role: .client) == [.text("Hello".bytes)])
    }

    @Test func rfcPingAndMaskedPong() {
        #expect(Self.events([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F], role: .client) == [.ping("Hello".bytes)])
        let pong: [UInt8] = [0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        #expect(Self.events(pong) == [.pong("Hello".bytes)])
    }

    @Test func rfcSixteenAndSixtyFourBitLengths() {
        let small = (0..<256).map { UInt8(truncatingIfNeeded: $0) }
        #expect(Self.events([0x82, 0x7E, 0x01, 0x00] + small, role: .client) == [.binary(small)])
        let large = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(Self.events([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0] + large, role: .client, maxBinary: 65536) == [.binary(large)])
    }

    @Test func nonMinimalLengthEncodingsAreAccepted() {
        #expect(Self.events([0x82, 0x7E, 0x00, 0x03, 1, 2, 3], role: .client) == [.binary([1, 2, 3])])
        #expect(Self.events([0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2], role: .client) == [.binary([1, 2])])
    }

    // MARK: splitting

    @Test func everySplitIntoTwoChunksGivesTheSameEvents() {
        let stream = Self.frame(0x01, "Hel".bytes) + Self.frame(0x89, "p".bytes) + Self.frame(0x80, "lo".bytes)
            + Self.frame(0x82, Array(repeating: 0xAB, count: 300)) + Self.frame(0x81, []) + Self.frame(0x88, [0x03, 0xE8] + "bye".bytes)
        let whole = Self.events(stream)
        #expect(whole == [.ping("p".bytes), .text("Hello".bytes), .binary(Array(repeating: 0xAB, count: 300)), .text([]),
                          .close(code: .normalClosure, reason: "bye")])
        for split in 0...stream.count {
            #expect(Self.events([Array(stream[..<split]), Array(stream[split...])]).events == whole, "split at \(split)")
        }
    }

    @Test func oneByteAtATimeGivesTheSameEvents() {
        let payload = (0..<70000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let stream = Self.frame(0x02, payload) + Self.frame(0x8A, [9, 9]) + Self.frame(0x80, [1])
        let expected: [WebSocketFrameEvent] = [.pong([9, 9]), .binary(payload + [1])]
        #expect(Self.events(stream, maxBinary: 70001) == expected)
        #expect(Self.events(stream.map { [$0] }, maxBinary: 70001).events == expected)
    }

    @Test func emptyReadsChangeNothing() {
        let stream = Self.frame(0x81, "hi".bytes)
        #expect(Self.events([[], Array(stream[..<3]), [], Array(stream[3...]), []]).events == [.text("hi".bytes)])
    }

    // MARK: masking by role

    @Test func aServerClosesOnAnUnmaskedFrame() {
        let events = Self.events(Self.frame(0x81, "hi".bytes, key: nil))
        #expect(Self.protocolError(events) == .protocolError)
    }

    @Test func aClientClosesOnAMaskedFrame() {
        let events = Self.events(Self.frame(0x81, "hi".bytes), role: .client)
        #expect(Self.protocolError(events) == .protocolError)
    }

    @Test(arguments: [0, 1, 2, 3, 5, 8, 9, 16, 17, 100])
    func unmaskingWorksForEveryLengthAndKey(count: Int) {
        let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        for key: UInt32 in [0, 0xFFFF_FFFF, 0x0102_0304, 0xDEAD_BEEF] {
            #expect(Self.events(Self.frame(0x82, payload, key: key)) == [.binary(payload)])
        }
    }

    // MARK: 1002 paths

    @Test(arguments: [0x10, 0x20, 0x40, 0x70] as [UInt8])
    func reservedBitsAreAProtocolError(bits: UInt8) {
        #expect(Self.protocolError(Self.events(Self.frame(0x81 | bits, "x".bytes))) == .protocolError)
    }

    @Test(arguments: [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] as [UInt8])
    func unknownOpcodesAreAProtocolError(opcode: UInt8) {
        #expect(Self.protocolError(Self.events(Self.frame(0x80 | opcode, []))) == .protocolError)
    }

    @Test func aContinuationWithoutAMessageIsAProtocolError() {
        #expect(Self.protocolError(Self.events(Self.frame(0x80, "x".bytes))) == .protocolError)
        #expect(Self.protocolError(Self.events(Self.frame(0x00, "x".bytes))) == .protocolError)
    }

    @Test func aNewDataFrameInsideAFragmentedMessageIsAProtocolError() {
        let events = Self.events(Self.frame(0x01, "a".bytes) + Self.frame(0x82, "b".bytes))
        #expect(events.count == 1 && Self.protocolError(events) == .protocolError)
        #expect(Self.protocolError(Self.events(Self.frame(0x02, "a".bytes) + Self.frame(0x01, "b".bytes))) == .protocolError)
    }

    @Test func aFragmentedControlFrameIsAProtocolError() {
        for opcode: UInt8 in [0x8, 0x9, 0xA] {
            #expect(Self.protocolError(Self.events(Self.frame(opcode, []))) == .protocolError)
        }
    }

    @Test func aControlFrameOver125BytesIsAProtocolError() {
        #expect(Self.events(Self.frame(0x89, Array(repeating: 1, count: 125))) == [.ping(Array(repeating: 1, count: 125))])
        #expect(Self.protocolError(Self.events(Self.frame(0x89, Array(repeating: 1, count: 126)))) == .protocolError)
        // A 7-bit length of 126 announcing a short payload is still too long a form for a control frame.
        #expect(Self.protocolError(Self.events([0x8A, 0xFE, 0x00, 0x05])) == .protocolError)
    }

    @Test func aSixtyFourBitLengthWithItsTopBitSetIsAProtocolError() {
        let header: [UInt8] = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]
        #expect(Self.protocolError(Self.events(header)) == .protocolError)
    }

    @Test func controlFramesBetweenFragmentsAreDelivered() {
        let stream = Self.frame(0x02, [1]) + Self.frame(0x89, [7]) + Self.frame(0x00, [2]) + Self.frame(0x8A, []) + Self.frame(0x80, [3])
        #expect(Self.events(stream) == [.ping([7]), .pong([]), .binary([1, 2, 3])])
    }

    // MARK: UTF-8

    @Test func invalidUTF8InATextMessageIs1007() {
        #expect(Self.protocolError(Self.events(Self.frame(0x81, [0xC0, 0x80]))) == .invalidPayload)
        #expect(Self.protocolError(Self.events(Self.frame(0x81, [0xED, 0xA0, 0x80]))) == .invalidPayload)
    }

    @Test func aCharacterSplitAcrossFragmentsIsValid() {
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]
        let stream = Self.frame(0x01, [euro[0]]) + Self.frame(0x00, [euro[1]]) + Self.frame(0x80, [euro[2]])
        #expect(Self.events(stream) == [.text(euro)])
    }

    @Test func binaryMessagesAreNotCheckedAsUTF8() {
        #expect(Self.events(Self.frame(0x82, [0xFF, 0xFE])) == [.binary([0xFF, 0xFE])])
    }

    // MARK: close frames

    @Test func closeFramesCarryAnOptionalCodeAndReason() {
        #expect(Self.events(Self.frame(0x88, [])) == [.close(code: nil, reason: "")])
        #expect(Self.events(Self.frame(0x88, [0x0F, 0xA0])) == [.close(code: WebSocketCloseCode(rawValue: 4000), reason: "")])
        #expect(Self.events(Self.frame(0x88, [0x03, 0xE9] + "gone ✓".bytes)) == [.close(code: .goingAway, reason: "gone ✓")])
    }

    @Test func aOneByteClosePayloadIs1002() {
        #expect(Self.protocolError(Self.events(Self.frame(0x88, [0x03]))) == .protocolError)
    }

    @Test func aCloseReasonThatIsNotUTF8Is1007() {
        #expect(Self.protocolError(Self.events(Self.frame(0x88, [0x03, 0xE8, 0xFF]))) == .invalidPayload)
    }

    @Test(arguments: [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] as [UInt16])
    func codesNotAllowedOnTheWireAre1002(code: UInt16) {
        let events = Self.events(Self.frame(0x88, [UInt8(code >> 8), UInt8(code & 0xFF)]))
        #expect(Self.protocolError(events) == .protocolError)
    }

    @Test(arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999] as [UInt16])
    func codesAllowedOnTheWireAreReported(code: UInt16) {
        let events = Self.events(Self.frame(0x88, [UInt8(code >> 8), UInt8(code & 0xFF)]))
        #expect(events == [.close(code: WebSocketCloseCode(rawValue: code), reason: "")])
    }

    @Test func nothingIsReadAfterACloseOrAnError() {
        let afterClose = Self.events([Self.frame(0x88, []) + Self.frame(0x81, "late".bytes), Self.frame(0x81, "later".bytes)])
        #expect(afterClose.events == [.close(code: nil, reason: "")])
        #expect(afterClose.decoder.isFinished && afterClose.decoder.bufferedByteCount == 0)
        let afterError = Self.events([Self.frame(0xC1, []) + Self.frame(0x81, "late".bytes)])
        #expect(afterError.events.count == 1 && afterError.decoder.isFinished)
    }

    @Test func aCloseBetweenFragmentsEndsTheStream() {
        let events = Self.events(Self.frame(0x01, "par".bytes) + Self.frame(0x88, [0x03, 0xE8]) + Self.frame(0x80, "t".bytes))
        #expect(events == [.close(code: .normalClosure, reason: "")])
    }

    // MARK: bounds

    @Test func aTextMessageOfExactlyMaxTextIsAcceptedOneMoreIsTooLarge() {
        let fits = Array(repeating: UInt8(ascii: "a"), count: 16)
        #expect(Self.events(Self.frame(0x81, fits), maxText: 16) == [.text(fits)])
        #expect(Self.events(Self.frame(0x81, fits + [0x61]), maxText: 16) == [.textTooLarge])
    }

    @Test func aFragmentedTextMessageIsTooLargeAsSoonAsAFrameWouldPassTheBound() {
        let stream = Self.frame(0x01, Array(repeating: 0x61, count: 10)) + Self.frame(0x00, Array(repeating: 0x61, count: 7))
        let (events, decoder) = Self.events([Array(stream.prefix(22))], maxText: 16)
        // The second frame's header alone decides: none of its payload was needed.
        #expect(events == [.textTooLarge] && decoder.isFinished && decoder.bufferedByteCount == 0)
        #expect(Self.events(stream + Self.frame(0x81, "x".bytes), maxText: 16) == [.textTooLarge])
    }

    @Test func anOversizedBinaryMessageIsSkippedAndReadingGoesOn() {
        let big = Array(repeating: UInt8(7), count: 1201)
        let stream = Self.frame(0x82, big) + Self.frame(0x82, [1, 2]) + Self.frame(0x02, Array(big[..<1000]))
            + Self.frame(0x89, [5]) + Self.frame(0x80, Array(big[..<201])) + Self.frame(0x81, "ok".bytes)
        // The 1000-byte fragment fits; the bound is passed only by the one after the ping.
        let expected: [WebSocketFrameEvent] = [.binaryTooLarge, .binary([1, 2]), .ping([5]), .binaryTooLarge, .text("ok".bytes)]
        #expect(Self.events(stream) == expected)
        var decoder = WebSocketFrameDecoder(role: .server, maxText: 1024, maxBinary: 1200)
        var events: [WebSocketFrameEvent] = []
        var largestBuffer = 0
        for byte in stream {
            decoder.append([byte])
            largestBuffer = max(largestBuffer, decoder.bufferedByteCount)
            while let event = decoder.next() { events.append(event) }
        }
        #expect(events == expected)
        #expect(largestBuffer <= 1200 + 14, "the skipped payload is never kept")
    }

    @Test func aHugeDeclaredLengthIsReportedWithoutWaitingForItsPayload() {
        let header: [UInt8] = [0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4]
        let (events, decoder) = Self.events([header + Array(repeating: 0, count: 4096)])
        #expect(events == [.binaryTooLarge] && !decoder.isFinished && decoder.bufferedByteCount == 0)
    }

    @Test func theBufferNeverHoldsMoreThanTheBoundAndAHeader() {
        let payload = Array(repeating: UInt8(0x61), count: 1024)
        var decoder = WebSocketFrameDecoder(role: .server, maxText: 1024, maxBinary: 16)
        for chunk in [Self.frame(0x01, Array(payload[..<1000])), Self.frame(0x80, Array(payload[1000...]))] {
            decoder.append(chunk)
            #expect(decoder.bufferedByteCount <= 1024)
        }
        #expect(decoder.next() == .text(payload))
    }
}
