import Testing
import TestSupport

@testable import RelayWire

@Suite struct ControlFrameDecoderTests {
    /// Feeds `chunks` one by one, draining events after each.
    static func events(_ chunks: [[UInt8]], max: Int = 1024) -> (events: [ControlFrameEvent], decoder: ControlFrameDecoder) {
        var decoder = ControlFrameDecoder(maxMessageSize: max)
        var events: [ControlFrameEvent] = []
        for chunk in chunks {
            decoder.append(chunk)
            while let event = decoder.next() { events.append(event) }
        }
        return (events, decoder)
    }

    static func events(_ text: String, max: Int = 1024) -> [ControlFrameEvent] {
        events([text.bytes], max: max).events
    }

    static func message(_ text: String, _ terminator: UInt8) -> ControlFrameEvent {
        .message(text.bytes, terminator: terminator)
    }

    @Test func nulAndNewlineBothTerminate() {
        #expect(Self.events("{\"a\":1}\0{\"b\":2}\n") == [
            Self.message("{\"a\":1}", 0), Self.message("{\"b\":2}", 10),
        ])
    }

    @Test func firstTerminatorWins() {
        #expect(Self.events("ab\n\0cd\0") == [Self.message("ab", 10), Self.message("cd", 0)])
    }

    @Test func carriageReturnStaysInTheMessage() {
        #expect(Self.events("{}\r\n") == [Self.message("{}\r", 10)])
    }

    @Test func noEventUntilTerminated() {
        var decoder = ControlFrameDecoder(maxMessageSize: 64)
        decoder.append("{\"op\"".bytes)
        #expect(decoder.next() == nil)
        decoder.append(":1}".bytes)
        #expect(decoder.next() == nil)
        decoder.append([0])
        #expect(decoder.next() == Self.message("{\"op\":1}", 0))
        #expect(decoder.next() == nil)
    }

    @Test func byteAtATimeGivesTheSameMessages() {
        let stream = "{\"a\":1}\n  \0{\"b\":[1,2]}\0x\n"
        let chunks = stream.bytes.map { [$0] }
        #expect(Self.events(chunks).events == Self.events(stream))
        #expect(Self.events(stream) == [Self.message("{\"a\":1}", 10), Self.message("{\"b\":[1,2]}", 0), Self.message("x", 10)])
    }

    @Test(arguments: ["\0", "\n", "\0\n\0\0\n\n", " \t \0", "\r\n", " \r\t \n"])
    func emptyAndWhitespaceMessagesAreSkipped(stream: String) {
        let (events, decoder) = Self.events([stream.bytes])
        #expect(events.isEmpty)
        #expect(decoder.replyTerminator == 0)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func replyTerminatorFollowsLastNonEmptyMessage() {
        var decoder = ControlFrameDecoder(maxMessageSize: 100)
        #expect(decoder.replyTerminator == 0)
        decoder.append("a\n".bytes)
        _ = decoder.next()
        #expect(decoder.replyTerminator == 10)
        decoder.append(" \0\0".bytes)
        #expect(decoder.next() == nil)
        #expect(decoder.replyTerminator == 10)
        decoder.append("b\0".bytes)
        _ = decoder.next()
        #expect(decoder.replyTerminator == 0)
    }

    @Test func messageOfExactlyMaxIsAllowed() {
        let body = String(repeating: "x", count: 16)
        #expect(Self.events(body + "\0", max: 16) == [Self.message(body, 0)])
    }

    @Test func unterminatedExactlyMaxWaits() {
        let (events, decoder) = Self.events([Array(repeating: UInt8(ascii: "x"), count: 16)], max: 16)
        #expect(events.isEmpty)
        #expect(!decoder.isFinished)
    }

    @Test(arguments: ["\0", "\n"])
    func terminatedMessageOverMaxIsTooLarge(terminator: String) {
        let body = String(repeating: "x", count: 17)
        let (events, decoder) = Self.events([(body + terminator + "{}\0").bytes], max: 16)
        #expect(events == [.tooLarge(lastTerminator: 0)])
        #expect(decoder.isFinished)
    }

    @Test func unterminatedOverMaxIsTooLargeAsSoonAsBuffered() {
        var decoder = ControlFrameDecoder(maxMessageSize: 16)
        decoder.append(Array(repeating: UInt8(ascii: "x"), count: 16))
        #expect(decoder.next() == nil)
        decoder.append([UInt8(ascii: "x")])
        #expect(decoder.next() == .tooLarge(lastTerminator: 0))
        #expect(decoder.next() == nil)
    }

    @Test func whitespaceOverMaxIsTooLarge() {
        #expect(Self.events(String(repeating: " ", count: 17) + "\0", max: 16) == [.tooLarge(lastTerminator: 0)])
        #expect(Self.events(String(repeating: " ", count: 17), max: 16) == [.tooLarge(lastTerminator: 0)])
    }

    @Test func completeMessagesBeforeTheFloodComeFirst() {
        let stream = "{\"id\":1}\n{\"id\":2}\0" + String(repeating: "x", count: 40)
        #expect(Self.events(stream, max: 16) == [
            Self.message("{\"id\":1}", 10), Self.message("{\"id\":2}", 0), .tooLarge(lastTerminator: 0),
        ])
        let lf = "{\"id\":1}\n" + String(repeating: "x", count: 40)
        #expect(Self.events(lf, max: 16) == [Self.message("{\"id\":1}", 10), .tooLarge(lastTerminator: 10)])
    }

    @Test func terminatorIsNotCounted() {
        // 16 bytes + terminator in a stream split right after the 16th byte.
        let body = String(repeating: "y", count: 16)
        let (events, _) = Self.events([body.bytes, "\n".bytes], max: 16)
        #expect(events == [Self.message(body, 10)])
    }

    @Test func finishedDecoderIgnoresEverything() {
        var decoder = ControlFrameDecoder(maxMessageSize: 4)
        decoder.append("123456".bytes)
        #expect(decoder.next() == .tooLarge(lastTerminator: 0))
        decoder.append("{}\0".bytes)
        #expect(decoder.next() == nil)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func zeroMaxAllowsOnlyEmptyMessages() {
        #expect(Self.events("\0\n", max: 0).isEmpty)
        #expect(Self.events("a", max: 0) == [.tooLarge(lastTerminator: 0)])
    }

    // MARK: Flash policy

    static let policy = "<policy-file-request/>\0"

    @Test func policyRequestAtStart() {
        let (events, decoder) = Self.events([Self.policy.bytes])
        #expect(events == [.policyFileRequest])
        #expect(decoder.isFinished)
    }

    @Test(arguments: [[10], [3, 10], [1, 1, 1], [22], [5, 17]])
    func policyRequestInFragments(cuts: [Int]) {
        var chunks: [[UInt8]] = []
        var rest = Self.policy.bytes[...]
        for cut in cuts {
            chunks.append(Array(rest.prefix(cut)))
            rest = rest.dropFirst(cut)
        }
        chunks.append(Array(rest))
        #expect(Self.events(chunks).events == [.policyFileRequest])
    }

    @Test func policyRequestEmittedOnceAndThenNothing() {
        let (events, _) = Self.events([(Self.policy + "{\"op\":\"ping\"}\0" + Self.policy).bytes])
        #expect(events == [.policyFileRequest])
    }

    @Test func strictPrefixWaits() {
        var decoder = ControlFrameDecoder(maxMessageSize: 4)
        decoder.append("<policy-file-request/>".bytes)
        #expect(decoder.next() == nil)
        #expect(!decoder.isFinished)
    }

    @Test(arguments: ["<policy-file-request/>\n", "<policy-file-request />\0", " <policy-file-request/>\0", "<POLICY-file-request/>\0", "<x\0"])
    func divergingStartIsAnOrdinaryFrame(stream: String) {
        let events = Self.events(stream)
        #expect(events.count == 1)
        if case .message(let bytes, _) = events.first {
            #expect(bytes == Array(stream.bytes.dropLast()))
        } else {
            Issue.record("expected a message, got \(events)")
        }
    }

    @Test func divergenceFoundInALaterChunk() {
        let (events, _) = Self.events([Array("<policy-".utf8), Array("fil\0".utf8)])
        #expect(events == [Self.message("<policy-fil", 0)])
    }

    @Test func policyTextLaterIsAnOrdinaryFrame() {
        #expect(Self.events("{}\0" + Self.policy) == [Self.message("{}", 0), Self.message("<policy-file-request/>", 0)])
    }

    @Test func emptyMessageBeforePolicyTextDisablesIt() {
        #expect(Self.events("\0" + Self.policy) == [Self.message("<policy-file-request/>", 0)])
    }

    @Test func policyDocumentIsExact() {
        let expected = #"<?xml version="1.0"?><cross-domain-policy><site-control permitted-cross-domain-policies="master-only"/><allow-access-from domain="*" to-ports="7400"/></cross-domain-policy>"#
        #expect(ControlFrameDecoder.policyDocument(controlPort: 7400) == expected.bytes + [0])
        #expect(ControlFrameDecoder.policyDocument(controlPort: 40123).text.contains(#"to-ports="40123""#))
    }

    // MARK: Efficiency

    @Test func manySmallAppendsStayLinearAndCompact() {
        var decoder = ControlFrameDecoder(maxMessageSize: 16384)
        let message = #"{"op":"ping","id":12345}"#.bytes + [0]
        var count = 0
        for _ in 0..<5_000 {
            for byte in message {
                decoder.append([byte])
                while case .message = decoder.next() { count += 1 }
            }
        }
        #expect(count == 5_000)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func slowLargeMessageIsScannedOnce() {
        // 16 KiB arriving a byte at a time: a rescanning decoder would do ~134M steps.
        var decoder = ControlFrameDecoder(maxMessageSize: 16384)
        for _ in 0..<16384 {
            decoder.append([UInt8(ascii: " ")])
            #expect(decoder.next() == nil)
        }
        decoder.append([UInt8(ascii: "1"), 0])
        #expect(decoder.next() == .tooLarge(lastTerminator: 0))
    }

    @Test func unsafeBufferAppend() {
        var decoder = ControlFrameDecoder(maxMessageSize: 16)
        "{}\n".bytes.withUnsafeBytes { decoder.append($0) }
        #expect(decoder.next() == Self.message("{}", 10))
    }
}

@Suite struct ControlFrameDecoderSplitTests {
    /// However a stream is cut into reads, the events are the same.
    @Test func randomSplitsGiveTheSameEvents() {
        var generator = SeededGenerator(seed: 77)
        let pieces: [[UInt8]] = ["{\"a\":1}".bytes, [0], [10], " ".bytes, "\r".bytes, "<policy-file-request/>".bytes, "xxxxxxxx".bytes]
        for _ in 0..<2000 {
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                stream += pieces.randomElement(using: &generator)!
            }
            let max = Int.random(in: 0...24, using: &generator)
            var whole = ControlFrameDecoder(maxMessageSize: max)
            whole.append(stream)
            var expected: [ControlFrameEvent] = []
            while let event = whole.next() { expected.append(event) }

            var split = ControlFrameDecoder(maxMessageSize: max)
            var got: [ControlFrameEvent] = []
            var rest = stream[...]
            while !rest.isEmpty {
                let cut = Int.random(in: 1...rest.count, using: &generator)
                split.append(Array(rest.prefix(cut)))
                rest = rest.dropFirst(cut)
                while let event = split.next() { got.append(event) }
            }
            #expect(got == expected, "\(stream.text.debugDescription) max \(max)")
        }
    }
}
