import Testing

@testable import RelayWire

@Suite struct WebSocketHandshakeTests {
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    /// A request like the conformance client's: fields given as nil are left out.
    static func request(
        method: String = "GET", path: String = "/v1/ws", http: String = "HTTP/1.1", host: String? = "127.0.0.1",
        upgrade: String? = "websocket", connection: String? = "Upgrade", key: String? = key, version: String? = "13",
        protocol subprotocol: String? = "gamerelay.v1", origin: String? = nil, extra: [String] = []
    ) -> String {
        var lines = ["\(method) \(path) \(http)"]
        let fields: [(String, String?)] = [
            ("Host", host), ("Upgrade", upgrade), ("Connection", connection), ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", version), ("Sec-WebSocket-Protocol", subprotocol), ("Origin", origin),
        ]
        for (name, value) in fields { if let value { lines.append("\(name): \(value)") } }
        return (lines + extra).joined(separator: "\r\n") + "\r\n\r\n"
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0 >> 4, radix: 16) + String($0 & 0xF, radix: 16) }.joined()
    }

    static func answer(_ text: String, origins: [String] = []) -> WebSocketHandshake.Answer {
        WebSocketHandshake.answer(head: text.bytes, allowedOrigins: origins)
    }

    static func status(_ text: String, origins: [String] = []) -> Int {
        answer(text, origins: origins).status.rawValue
    }

    // MARK: SHA-1 and base64

    @Test func sha1MatchesRFC3174() {
        #expect(Self.hex(SHA1.digest("abc".bytes)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Self.hex(SHA1.digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".bytes))
            == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(Self.hex(SHA1.digest(Array(repeating: 0x61, count: 1_000_000))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        #expect(Self.hex(SHA1.digest(String(repeating: "0123456701234567012345670123456701234567012345670123456701234567", count: 10).bytes))
            == "dea356a2cddd90c7a7ecedc5ebb563934f460452")
        #expect(Self.hex(SHA1.digest([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }

    @Test func base64MatchesRFC4648() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(plain.bytes) == encoded)
            #expect(Base64.decode(encoded.bytes) == plain.bytes)
        }
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9v\n", "Zm 9", "Zm=v", "!!!!"] {
            #expect(Base64.decode(bad.bytes) == nil, "\(bad)")
        }
    }

    @Test func theAcceptValueMatchesRFC6455() {
        #expect(WebSocketHandshake.accept(forKey: Self.key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    // MARK: 101

    @Test func aValidUpgradeGets101WithAcceptAndSubprotocol() {
        let answer = Self.answer(Self.request(protocol: "chat, gamerelay.v1",
                                              extra: ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]))
        #expect(answer.isUpgrade && answer.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(answer.response.text == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: gamerelay.v1\r\n\r\n")
    }

    @Test func tokensAreCaseInsensitiveAndTheQueryIsIgnored() {
        let text = "GET /v1/ws?room=lobby&v=2 HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: WebSocket\r\n"
            + "connection: keep-alive, Upgrade\r\nsec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
            + "sec-websocket-version: 13\r\nsec-websocket-protocol: chat,gamerelay.v1 , other\r\n\r\n"
        #expect(Self.status(text) == 101)
    }

    @Test func listFieldsMayBeSplitOverRepeatedLines() {
        #expect(Self.status(Self.request(connection: "keep-alive", extra: ["Connection: upgrade"])) == 101)
        #expect(Self.status(Self.request(protocol: "chat", extra: ["Sec-WebSocket-Protocol: gamerelay.v1"])) == 101)
    }

    @Test func theOriginMustBeListedWhenAnAllowListIsGiven() {
        let origins = ["https://game.example", "http://localhost:8080"]
        #expect(Self.status(Self.request(origin: "https://game.example"), origins: origins) == 101)
        #expect(Self.status(Self.request(origin: "http://localhost:8080"), origins: origins) == 101)
        #expect(Self.status(Self.request(origin: "https://evil.example"), origins: origins) == 403)
        #expect(Self.status(Self.request(origin: "https://game.example:443"), origins: origins) == 403)
        #expect(Self.status(Self.request(), origins: origins) == 403)
        #expect(Self.status(Self.request(origin: "https://game.example", extra: ["Origin: https://game.example"]), origins: origins) == 403)
        #expect(Self.status(Self.request(origin: "https://anything.example")) == 101)
    }

    // MARK: each refusal

    @Test(arguments: ["/", "/v1/ws/", "/V1/WS", "/v1/wss", "*", "http://127.0.0.1/v1/ws"])
    func anotherPathIs404(path: String) {
        #expect(Self.status(Self.request(path: path)) == 404)
    }

    @Test(arguments: ["POST", "OPTIONS", "HEAD", "get", "PUT"])
    func anotherMethodIs405(method: String) {
        let answer = Self.answer(Self.request(method: method))
        #expect(answer.status == .methodNotAllowed && answer.response.text.contains("\r\nAllow: GET\r\n"))
    }

    @Test(arguments: ["8", "14", "", "13, 13", " 12"])
    func anotherVersionIs426NamingVersion13(version: String) {
        let answer = Self.answer(Self.request(version: version))
        #expect(answer.status == .upgradeRequired)
        #expect(answer.response.text.contains("\r\nSec-WebSocket-Version: 13\r\n"))
    }

    @Test(arguments: [
        "GET /v1/ws HTTP/1.0", "GET /v1/ws HTTP/2", "GET /v1/ws http/1.1", "GET  /v1/ws HTTP/1.1", "GET /v1/ws  HTTP/1.1",
        "GET /v1/ws HTTP/1.1 ", "GET /v1/ws", "GET /v1 ws HTTP/1.1", "G(T /v1/ws HTTP/1.1", " GET /v1/ws HTTP/1.1",
        "GET /v1/w\u{7F} HTTP/1.1", "GET /v1/wé HTTP/1.1",
    ])
    func aMalformedRequestLineIs400(line: String) {
        let text = line + "\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(Self.key)\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: gamerelay.v1\r\n\r\n"
        #expect(Self.status(text) == 400)
    }

    @Test(arguments: [
        ["upgrade": nil], ["upgrade": "h2c"], ["connection": nil], ["connection": "keep-alive"], ["version": nil],
        ["key": nil], ["key": "!!!!!!!!!!!!!!!!!!!!!!=="], ["key": "AAAAAAAAAAAAAAAAAAAA"], ["key": "AAAAAAAAAAAAAAAAAAAAAAA="],
        ["key": "AAAAAAAAAAAAAAAAAAAAAAAA"], ["protocol": nil], ["protocol": "chat, gamerelay.v2"], ["protocol": "GAMERELAY.V1"],
        ["host": nil],
    ] as [[String: String?]])
    func aMissingOrWrongUpgradeFieldIs400(change: [String: String?]) {
        func pick(_ name: String, _ fallback: String) -> String? { change.keys.contains(name) ? change[name]! : fallback }
        let text = Self.request(
            host: pick("host", "127.0.0.1"), upgrade: pick("upgrade", "websocket"), connection: pick("connection", "Upgrade"),
            key: pick("key", Self.key), version: pick("version", "13"), protocol: pick("protocol", "gamerelay.v1"))
        #expect(Self.status(text) == 400)
    }

    @Test(arguments: ["Host: b", "Upgrade: websocket", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==", "Sec-WebSocket-Version: 13"])
    func aRepeatedSingleFieldIs400(extra: String) {
        #expect(Self.status(Self.request(extra: [extra])) == 400)
    }

    @Test(arguments: [
        "X-Folded: a\r\n b", "Bad Name: x", "Name : x", ": x", "X: a\u{0}b", "X: a\rb", "X: a\u{1}b", "NoColon",
    ])
    func aMalformedFieldIs400(extra: String) {
        #expect(Self.status(Self.request(extra: [extra])) == 400)
    }

    @Test func refusalsCloseAndCarryAShortTextBody() {
        let answer = Self.answer(Self.request(protocol: nil))
        let text = answer.response.text
        let body = answer.detail + "\n"
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(text.contains("\r\nConnection: close\r\n") && text.contains("\r\nContent-Type: text/plain\r\n"))
        #expect(text.hasSuffix("\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body))
        #expect(!answer.detail.isEmpty)
    }

    // MARK: check order

    @Test func checksRunInTheOrderOfProtocolSection7() {
        let origins = ["https://game.example"]
        // A bad request line beats everything after it.
        #expect(Self.status(Self.request(method: "POST", path: "/x", http: "HTTP/1.0", version: "8"), origins: origins) == 400)
        // Method before path.
        #expect(Self.status(Self.request(method: "POST", path: "/x"), origins: origins) == 405)
        // Path before origin and version.
        #expect(Self.status(Self.request(path: "/x", version: "8", protocol: nil), origins: origins) == 404)
        // Origin before version.
        #expect(Self.status(Self.request(version: "8", origin: "https://evil.example"), origins: origins) == 403)
        // Version before the rest.
        #expect(Self.status(Self.request(upgrade: nil, key: "bad", version: "8", protocol: nil)) == 426)
        // The rest is 400, whichever fails.
        #expect(Self.status(Self.request(upgrade: nil, key: "bad", protocol: nil)) == 400)
        // A malformed field line is "anything else": after the path, Origin and the version,
        // which are read from the well-formed lines.
        #expect(Self.status(Self.request(path: "/x", extra: ["Bad Name: x"]), origins: origins) == 404)
        #expect(Self.status(Self.request(origin: nil, extra: ["Bad Name: x"]), origins: origins) == 403)
        #expect(Self.status(Self.request(version: "8", origin: "https://game.example", extra: ["Bad Name: x"]), origins: origins) == 426)
        #expect(Self.status(Self.request(origin: "https://game.example", extra: ["Bad Name: x"]), origins: origins) == 400)
        #expect(Self.status(Self.request(origin: "https://game.example", extra: [" folded"]), origins: origins) == 400)
    }

    // MARK: reading from a stream

    @Test func readWaitsForTheEndOfTheHeadAndReportsItsLength() {
        let text = Self.request()
        let bytes = text.bytes + [0x81, 0x80, 1, 2, 3, 4]
        #expect(WebSocketHandshake.read(Array(bytes[..<(text.utf8.count - 1)]), allowedOrigins: []) == .incomplete)
        guard case .answer(let answer, let length) = WebSocketHandshake.read(bytes, allowedOrigins: []) else {
            Issue.record("no answer")
            return
        }
        #expect(answer.isUpgrade && length == text.utf8.count)
    }

    @Test func aHeadOverTheBoundIs431() {
        let filler = "X-Filler: " + String(repeating: "a", count: 8200)
        let bytes = Self.request(extra: [filler]).bytes
        guard case .answer(let answer, let length) = WebSocketHandshake.read(bytes, allowedOrigins: []) else {
            Issue.record("no answer")
            return
        }
        #expect(answer.status == .requestHeaderFieldsTooLarge && length == 0)
        #expect(answer.response.text.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(WebSocketHandshake.read(Array(repeating: 0x61, count: 8193), allowedOrigins: []) != .incomplete)
        #expect(WebSocketHandshake.read(Array(repeating: 0x61, count: 8192), allowedOrigins: []) == .incomplete)
    }

    // MARK: client side

    @Test func theClientRequestIsAcceptedAndItsAnswerVerified() {
        let key = WebSocketClientHandshake.key(randomBytes: Array(0..<16))
        let request = WebSocketClientHandshake.request(host: "relay.example:7400", key: key, origin: "https://game.example")
        let answer = WebSocketHandshake.answer(head: request, allowedOrigins: ["https://game.example"])
        #expect(answer.isUpgrade)
        #expect(WebSocketClientHandshake.verify(head: answer.response, key: key) == .accepted)
        #expect(WebSocketClientHandshake.verify(head: answer.response, key: Self.key) == .invalid("wrong Sec-WebSocket-Accept"))
        let refusal = WebSocketHandshake.answer(head: request, allowedOrigins: ["https://other.example"]).response
        let head = refusal.withUnsafeBytes { Array(refusal[..<(HTTPRequestHead.headEnd(in: $0, maxBytes: 8192)! + 4)]) }
        #expect(WebSocketClientHandshake.verify(head: head, key: key) == .refused(status: 403))
    }

    @Test func theClientRefusesA101WithoutTheSubprotocolOrWithAnExtension() {
        let accept = WebSocketHandshake.accept(forKey: Self.key)
        let base = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n"
        #expect(WebSocketClientHandshake.verify(head: (base + "Sec-WebSocket-Protocol: gamerelay.v1\r\n\r\n").bytes, key: Self.key) == .accepted)
        #expect(WebSocketClientHandshake.verify(head: (base + "\r\n").bytes, key: Self.key) != .accepted)
        let withExtension = base + "Sec-WebSocket-Protocol: gamerelay.v1\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        #expect(WebSocketClientHandshake.verify(head: withExtension.bytes, key: Self.key) != .accepted)
        #expect(WebSocketClientHandshake.verify(head: "HTTP/1.0 101 OK\r\n\r\n".bytes, key: Self.key) == .invalid("malformed status line"))
    }
}

@Suite struct WebSocketSniffTests {
    @Test func aMethodAndASpaceIsHTTP() {
        for method in WebSocketHandshake.sniffedMethods {
            #expect(WebSocketHandshake.sniff((method + " /v1/ws").bytes) == .http)
            #expect(WebSocketHandshake.sniff((method + " ").bytes) == .http)
            #expect(WebSocketHandshake.sniff(method.bytes) == .undecided)
        }
    }

    @Test func prefixesWaitAndEverythingElseIsTheControlChannel() {
        #expect(WebSocketHandshake.sniff([]) == .undecided)
        #expect(WebSocketHandshake.sniff("P".bytes) == .undecided)
        #expect(WebSocketHandshake.sniff("PA".bytes) == .undecided)
        #expect(WebSocketHandshake.sniff("GETX".bytes) == .notHTTP)
        #expect(WebSocketHandshake.sniff("get /".bytes) == .notHTTP)
        #expect(WebSocketHandshake.sniff("{\"op\":\"ping\"}\0".bytes) == .notHTTP)
        #expect(WebSocketHandshake.sniff("<policy-file-request/>\0".bytes) == .notHTTP)
        #expect(WebSocketHandshake.sniff(" GET /".bytes) == .notHTTP)
        #expect(WebSocketHandshake.sniff("BREW /".bytes) == .notHTTP)
    }
}
