import Testing

@testable import RelayWire

@Suite struct HTTPRequestHeadTests {
    static func parse(_ text: String, maxBytes: Int = 8192) -> HTTPRequestHead.Parse {
        HTTPRequestHead.parse(Array(text.utf8), maxBytes: maxBytes)
    }

    static func head(_ text: String, maxBytes: Int = 8192) -> HTTPRequestHead? {
        if case .complete(let head) = parse(text, maxBytes: maxBytes) { return head }
        return nil
    }

    @Test func aRequestLineSplitsIntoMethodTargetAndVersion() throws {
        let head = try #require(Self.head("GET /metrics?name=x HTTP/1.1\r\nHost: relay\r\n\r\nbody"))
        #expect(head.method == "GET")
        #expect(head.target == "/metrics?name=x")
        #expect(head.version == "HTTP/1.1")
        #expect(head.path == "/metrics")
        #expect(head.length == "GET /metrics?name=x HTTP/1.1\r\nHost: relay\r\n\r\n".utf8.count)
    }

    @Test(arguments: ["", "GET /metrics HTTP/1.1", "GET /metrics HTTP/1.1\r\n", "GET /metrics HTTP/1.1\r\n\r", "GET / HTTP/1.1\n\n"])
    func aHeadWithoutItsEmptyLineIsIncomplete(text: String) {
        #expect(Self.parse(text) == .incomplete)
    }

    @Test func theBoundCountsTheWholeHeadItsEmptyLineIncluded() {
        func head(filler: Int) -> String { "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: filler) + "\r\n\r\n" }
        #expect(head(filler: 8169).utf8.count == 8192)
        #expect(Self.head(head(filler: 8169))?.length == 8192)
        #expect(Self.parse(head(filler: 8170)) == .tooLarge)
    }

    @Test func moreThanTheBoundWithoutAnEndIsTooLargeAndNotBefore() {
        #expect(Self.parse(String(repeating: "x", count: 8192)) == .incomplete)
        #expect(Self.parse(String(repeating: "x", count: 8193)) == .tooLarge)
        #expect(Self.parse("GET / HTTP/1.1\r\n\r\n", maxBytes: 17) == .tooLarge)
        #expect(Self.head("GET / HTTP/1.1\r\n\r\n", maxBytes: 18) != nil)
    }

    @Test func anEndPastTheBoundDoesNotCountEvenWhenReceived() {
        #expect(HTTPRequestHead.headEnd(in: UnsafeRawBufferPointer(start: nil, count: 0), maxBytes: 8192) == nil)
        let bytes = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        bytes.withUnsafeBytes { buffer in
            #expect(HTTPRequestHead.headEnd(in: buffer, maxBytes: 18) == 14)
            #expect(HTTPRequestHead.headEnd(in: buffer, maxBytes: 17) == nil)
        }
    }

    @Test(arguments: [
        "hello there\r\n\r\n",
        "GET /metrics\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1 \r\n\r\n",
        "GET /metrics HTTP/1.1 extra\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET /metrics http/1.1\r\n\r\n",
        "\r\n\r\n",
    ])
    func aRequestLineOtherThanThreeFieldsWithAPathAndHTTP1IsMalformed(text: String) {
        #expect(Self.parse(text) == .malformed)
    }

    @Test func invalidUTF8InAFieldIsMalformed() {
        let bytes = Array("GET /".utf8) + [0xC3, 0x28] + Array(" HTTP/1.1\r\n\r\n".utf8)
        #expect(HTTPRequestHead.parse(bytes, maxBytes: 8192) == .malformed)
    }

    @Test func theRequestLineEndsAtTheFirstCarriageReturn() throws {
        #expect(Self.parse("GET /metrics HTTP/1.1\rX\r\n\r\n") != .malformed)
        let head = try #require(Self.head("GET /metrics HTTP/1.1\rX Y\r\n\r\n"))
        #expect(head.version == "HTTP/1.1")
    }

    @Test func anyMethodIsReadForTheCallerToJudge() {
        #expect(Self.head("DELETE /metrics HTTP/1.0\r\n\r\n")?.method == "DELETE")
        #expect(Self.head(" /metrics HTTP/1.0\r\n\r\n")?.method == "")
    }

    @Test func thePathIsTheTargetBeforeItsFirstQuestionMark() {
        #expect(Self.head("GET /a?b?c HTTP/1.1\r\n\r\n")?.path == "/a")
        #expect(Self.head("GET /?x HTTP/1.1\r\n\r\n")?.path == "/")
        #expect(Self.head("GET /m\u{e9}trics? HTTP/1.1\r\n\r\n")?.path == "/m\u{e9}trics")
    }
}
