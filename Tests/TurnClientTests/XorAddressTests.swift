import Testing
import TurnClient
import UVNet

@Suite("XOR address attributes")
struct XorAddressTests {
    @Test(arguments: ["127.0.0.1", "192.0.2.1", "255.255.255.255", "0.0.0.0", "::1", "2001:db8::1", "fe80::1:2:3:4", "::ffff:10.0.0.1"])
    func roundTrip(address text: String) throws {
        let address = try SocketAddress(ipAddress: text, port: 40_000)
        for _ in 0..<8 {
            let id = StunTransactionID.random()
            let attribute = StunAttribute.xorAddress(.xorRelayedAddress, address, transactionID: id)
            #expect(attribute.value.count == (address.isIPv4MappedOrIPv4 ? 8 : 20))
            #expect(attribute.xorAddress(transactionID: id) == address)
        }
    }

    @Test func ipv4EncodingMatchesTheRFCLayout() {
        // 192.0.2.1:32853 XOR the cookie is 0xE112A643 port 0xA147 (RFC 5769 §2.2).
        let id = StunTransactionID(bytes: [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae])
        let attribute = StunAttribute.xorAddress(.xorMappedAddress, SocketAddress(ipv4: (192, 0, 2, 1), port: 32853), transactionID: id)
        #expect(attribute.value == [0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43])
    }

    @Test func ipv6EncodingMixesInTheTransactionID() throws {
        let address = try SocketAddress(ipAddress: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853)
        let id = StunTransactionID(bytes: [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae])
        let attribute = StunAttribute.xorAddress(.xorMappedAddress, address, transactionID: id)
        #expect(attribute.value == Array(RFC5769Vectors.ipv6Response[40..<60]))
        let other = StunTransactionID(bytes: [UInt8](repeating: 0, count: 12))
        #expect(attribute.xorAddress(transactionID: other) != address)
    }

    @Test func malformedValuesDecodeToNil() {
        let id = StunTransactionID.random()
        #expect(StunAttribute(type: .xorPeerAddress, value: [0, 1, 0, 0]).xorAddress(transactionID: id) == nil)
        #expect(StunAttribute(type: .xorPeerAddress, value: [0, 3, 0, 0, 1, 2, 3, 4]).xorAddress(transactionID: id) == nil)
        #expect(StunAttribute(type: .xorPeerAddress, value: [0, 2, 0, 0, 1, 2, 3, 4]).xorAddress(transactionID: id) == nil)
    }

    @Test func plainMappedAddressIsNotXored() {
        let attribute = StunAttribute(type: .mappedAddress, value: [0, 1, 0x1F, 0x90, 127, 0, 0, 1])
        #expect(attribute.plainAddress == SocketAddress(ipv4: (127, 0, 0, 1), port: 8080))
    }
}
