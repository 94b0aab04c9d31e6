import Testing
import TurnClient
import UVNet

@Suite("STUN message codec")
struct StunMessageTests {
    @Test(arguments: [
        (StunMethod.binding, StunClass.request, UInt16(0x0001)),
        (.binding, .successResponse, 0x0101),
        (.allocate, .request, 0x0003),
        (.allocate, .successResponse, 0x0103),
        (.allocate, .errorResponse, 0x0113),
        (.send, .indication, 0x0016),
        (.data, .indication, 0x0017),
        (.createPermission, .request, 0x0008),
        (.channelBind, .successResponse, 0x0109),
        (StunMethod(rawValue: 0xFFF), .errorResponse, 0x3FFF),
    ])
    func messageTypeBitsInterleaveAsTheRFCSays(method: StunMethod, messageClass: StunClass, raw: UInt16) {
        let type = StunMessageType(method: method, messageClass: messageClass)
        #expect(type.rawValue == raw)
        #expect(StunMessageType(rawValue: raw) == type)
    }

    @Test func typesWithTheTopBitsSetAreNotStun() {
        #expect(StunMessageType(rawValue: 0x4001) == nil)
        #expect(StunMessageType(rawValue: 0x8001) == nil)
    }

    @Test func roundTripKeepsEveryAttributeAndPadsToFour() throws {
        let id = StunTransactionID.random()
        let peer = SocketAddress(ipv4: (10, 1, 2, 3), port: 4567)
        let attributes: [StunAttribute] = [
            .requestedTransport(17), .lifetime(600), .channelNumber(0x4001),
            .xorAddress(.xorPeerAddress, peer, transactionID: id),
            .username("u"), .realm("realm"), .nonce(Array("abcdefg".utf8)), .data([1, 2, 3, 4, 5]),
            .errorCode(StunErrorCode(code: 438, reason: "Stale Nonce")),
        ]
        let message = StunMessage(type: StunMessageType(method: .allocate, messageClass: .request), transactionID: id, attributes: attributes)
        let bytes = message.encode()
        #expect(bytes.count % 4 == 0)
        #expect(Int(bytes[2]) << 8 | Int(bytes[3]) == bytes.count - 20)
        let decoded = try StunMessage(decoding: bytes)
        #expect(decoded == message)
        #expect(decoded.attribute(.lifetime)?.uint32Value == 600)
        #expect(decoded.attribute(.channelNumber)?.channelNumberValue == 0x4001)
        #expect(decoded.address(.xorPeerAddress) == peer)
        #expect(decoded.errorCode == StunErrorCode(code: 438, reason: "Stale Nonce"))
        #expect(decoded.attribute(.requestedTransport)?.value == [17, 0, 0, 0])
    }

    @Test func integrityAndFingerprintAreAppendedInOrderAndVerify() throws {
        let key = TurnCredentials.longTermKey(username: "u", realm: "r", password: "p")
        let message = StunMessage(type: StunMessageType(method: .refresh, messageClass: .request),
                                  attributes: [.lifetime(0), .username("u")])
        let bytes = message.encode(integrityKey: key, fingerprint: true)
        let decoded = try StunMessage(decoding: bytes)
        #expect(decoded.attributes.map(\.type) == [.lifetime, .username, .messageIntegrity, .fingerprint])
        #expect(StunMessage.verifyIntegrity(bytes, key: key) == true)
        #expect(StunMessage.verifyIntegrity(bytes, key: TurnCredentials.longTermKey(username: "u", realm: "r", password: "q")) == false)
        #expect(StunMessage.verifyIntegrity(message.encode(), key: key) == nil)
    }

    @Test func longTermKeyIsMD5OfUserRealmPassword() {
        // MD5("u:r:p"), computed independently with `printf 'u:r:p' | md5sum`.
        let hex = TurnCredentials.longTermKey(username: "u", realm: "r", password: "p").map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(hex == "44add22b6f3179b751eafd68ee370f7d")
    }

    @Test func malformedMessagesAreRejected() {
        let good = StunMessage(type: StunMessageType(method: .binding, messageClass: .request), attributes: [.lifetime(1)]).encode()
        var badCookie = good
        badCookie[4] = 0
        var badLength = good
        badLength[3] = 4
        var oddLength = good
        oddLength[3] = 7
        var longAttribute = good
        longAttribute[23] = 40
        var afterIntegrity = StunMessage(type: StunMessageType(method: .binding, messageClass: .request)).encode(integrityKey: [1])
        afterIntegrity += [0x00, 0x0D, 0x00, 0x04, 0, 0, 0, 1]
        afterIntegrity[3] = UInt8(afterIntegrity.count - 20)
        for bytes in [Array(good[..<19]), badCookie, badLength, oddLength, longAttribute, afterIntegrity] {
            #expect(throws: TurnError.self) { try StunMessage(decoding: bytes) }
        }
        #expect(throws: Never.self) { try StunMessage(decoding: good) }
    }

    @Test func looksLikeStunTellsStunFromChannelData() {
        let stun = StunMessage(type: StunMessageType(method: .binding, messageClass: .request)).encode()
        let frame = ChannelData.encode(channel: 0x4000, payload: [UInt8](repeating: 0x21, count: 20))
        #expect(stun.withUnsafeBytes { StunMessage.looksLikeStun($0) })
        #expect(!frame.withUnsafeBytes { StunMessage.looksLikeStun($0) })
    }
}
