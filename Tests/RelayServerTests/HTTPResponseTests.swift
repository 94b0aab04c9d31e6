@testable import RelayServer
import RelayWire
import Testing
import TestSupport

/// The SDK client's response reader and the GameServer reader, without sockets.
@Suite("HTTP responses and the Agones GameServer")
struct HTTPResponseTests {
    func parse(_ text: String, complete: Bool = false, limit: Int = 64 << 10) -> HTTPResponse.Parse {
        HTTPResponse.parse(Array(text.utf8), isComplete: complete, limit: limit)
    }

    @Test func contentLengthFramesTheBody() {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        #expect(parse(text) == .done(HTTPResponse(status: 200, body: Array("{}".utf8))))
        #expect(parse(String(text.dropLast())) == .needMore)
        #expect(parse(String(text.dropLast()), complete: true) == .invalid("the connection closed inside the body"))
    }

    @Test func chunkedBodiesAreJoined() {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n"
        #expect(parse(text) == .done(HTTPResponse(status: 200, body: Array("{\"a\":1}".utf8))))
        #expect(parse(String(text.dropLast(2))) == .needMore)
        #expect(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == .invalid("a bad chunk size"))
        #expect(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n") == .invalid("a chunk without its CRLF"))
        #expect(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffff0\r\n") == .invalid("a chunk over the size limit"))
    }

    @Test func withoutFramingTheBodyEndsWithTheConnection() {
        let text = "HTTP/1.0 404 Not Found\r\n\r\nnope"
        #expect(parse(text) == .needMore)
        #expect(parse(text, complete: true) == .done(HTTPResponse(status: 404, body: Array("nope".utf8))))
        #expect(parse("HTTP/1.1 204 No Content\r\n\r\n") == .done(HTTPResponse(status: 204, body: [])))
    }

    @Test(arguments: [
        "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
    ])
    func malformedResponsesAreRefused(text: String) {
        guard case .invalid = parse(text, complete: true) else {
            Issue.record("accepted: \(text.debugDescription)")
            return
        }
    }

    @Test func responsesAreBounded() {
        #expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", limit: 64) == .invalid("the response exceeds 64 bytes"))
        #expect(parse(String(repeating: "a", count: 100), limit: 64) == .invalid("the response exceeds 64 bytes"))
        let head = "HTTP/1.1 200 OK\r\n" + String(repeating: "X: y\r\n", count: 3000)
        #expect(parse(head) == .invalid("the response head exceeds 16384 bytes"))
    }

    /// Random bytes and mutations of a good response never crash the reader and never yield a
    /// body larger than what came in.
    @Test func arbitraryBytesNeverCrashTheReader() {
        var random = SeededGenerator(seed: 0xA60E5)
        let good = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n".utf8)
        for round in 0..<20_000 {
            var bytes = good
            if round % 2 == 0 {
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            } else {
                bytes = (0..<Int.random(in: 0...80, using: &random)).map { _ in
                    [UInt8(ascii: "\r"), UInt8(ascii: "\n"), UInt8(ascii: "0"), UInt8(ascii: ":"), UInt8(ascii: "H"), UInt8.random(in: 0...255, using: &random)]
                        .randomElement(using: &random)!
                }
            }
            for complete in [false, true] {
                if case .done(let response) = HTTPResponse.parse(bytes, isComplete: complete, limit: 1024) {
                    #expect(response.body.count <= bytes.count)
                }
            }
        }
    }

    @Test func theGameServerNamesItsAllocatedPorts() throws {
        let body = """
        {"object_meta":{"name":"gs-1","labels":{"a":"b"}},"spec":{"health":{}},
         "status":{"state":"Scheduled","address":"203.0.113.7","ports":[{"name":"metrics","port":"7100"},{"name":"relay","port":7231}]}}
        """
        let gameServer = try #require(AgonesGameServer.parse(Array(body.utf8)))
        #expect(gameServer.state == "Scheduled")
        #expect(gameServer.address == "203.0.113.7")
        #expect(gameServer.ports == [.init(name: "metrics", port: 7100), .init(name: "relay", port: 7231)])
        #expect(gameServer.port(named: nil) == 7231)
        #expect(gameServer.port(named: "metrics") == 7100)
        #expect(gameServer.port(named: "voice") == nil)
        let unnamed = try #require(AgonesGameServer.parse(Array(#"{"status":{"ports":[{"name":"game","port":7001}]}}"#.utf8)))
        #expect(unnamed.port(named: nil) == 7001)
        #expect(AgonesGameServer.parse(Array(#"{"status":{}}"#.utf8))?.port(named: nil) == nil)
        #expect(AgonesGameServer.parse(Array(#"{"status":{"ports":[{"port":0},{"port":70000},{"port":1.5}]}}"#.utf8))?.ports == [])
        #expect(AgonesGameServer.parse(Array("[]".utf8)) == nil)
        #expect(AgonesGameServer.parse(Array("{\"status\":3}".utf8)) == nil)
    }

    @Test func dropSummariesNameEachReasonThatRoseOnce() {
        var summary = DropSummary()
        var counters = RelayCounters()
        #expect(summary.update(counters).isEmpty)
        counters.drop(.badToken)
        counters.drop(.badToken)
        counters.drop(.oversize)
        #expect(summary.update(counters) == [.init(reason: "oversize", new: 1, total: 1), .init(reason: "bad_token", new: 2, total: 2)])
        #expect(summary.update(counters).isEmpty)
        counters.drop(.badToken)
        counters.udpReceiveQueueDrops = 7
        #expect(summary.update(counters) == [.init(reason: "bad_token", new: 1, total: 3), .init(reason: "receive_queue_full", new: 7, total: 7)])
    }
}
