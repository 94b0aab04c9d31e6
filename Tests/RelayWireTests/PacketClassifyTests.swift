import Testing

@testable import RelayWire

@Suite struct PacketClassifyTests {
    static func datagram(type: UInt8, payload: Int, magic: UInt8 = 0x47, version: UInt8 = 1) -> [UInt8] {
        var header = PacketHeader(type: type, session: 1, member: 2, target: 3, sequence: 4)
        header.magic = magic
        header.version = version
        return header.bytes + [UInt8](repeating: 0xAB, count: payload)
    }

    static func classify(_ bytes: [UInt8], max: Int = 1200) -> Result<PacketHeader, DropReason> {
        PacketHeader.classify(bytes, maxDatagram: max)
    }

    static func reason(_ result: Result<PacketHeader, DropReason>) -> DropReason? {
        if case .failure(let reason) = result { return reason }
        return nil
    }

    @Test(arguments: [
        (PacketType.data, 0), (PacketType.data, 1), (PacketType.data, 1184),
        (PacketType.ping, 0), (PacketType.ping, 64),
        (PacketType.bind, 16), (PacketType.bind, 24),
    ])
    func accepts(type: UInt8, payload: Int) throws {
        let bytes = Self.datagram(type: type, payload: payload)
        let header = try Self.classify(bytes).get()
        #expect(header == PacketHeader(parsing: bytes))
    }

    @Test(arguments: [0, 1, 15])
    func shortIsMalformed(length: Int) {
        let bytes = Array(Self.datagram(type: PacketType.data, payload: 0).prefix(length))
        #expect(Self.reason(Self.classify(bytes)) == .malformed)
    }

    @Test(arguments: [0x00, 0x46, 0x48, 0x67, 0xFF] as [UInt8])
    func wrongMagicIsMalformed(magic: UInt8) {
        #expect(Self.reason(Self.classify(Self.datagram(type: PacketType.data, payload: 4, magic: magic))) == .malformed)
    }

    @Test(arguments: [0, 2, 255] as [UInt8])
    func wrongVersionIsMalformed(version: UInt8) {
        #expect(Self.reason(Self.classify(Self.datagram(type: PacketType.data, payload: 4, version: version))) == .malformed)
    }

    @Test(arguments: [0, 2, 5, 6, 0x83, 255] as [UInt8])
    func typeNotBindDataPingIsMalformed(type: UInt8) {
        #expect(Self.reason(Self.classify(Self.datagram(type: type, payload: 16))) == .malformed)
    }

    @Test(arguments: [65, 66, 500])
    func pingPayloadOver64IsMalformed(payload: Int) {
        #expect(Self.reason(Self.classify(Self.datagram(type: PacketType.ping, payload: payload))) == .malformed)
    }

    @Test(arguments: [0, 8, 15, 17, 20, 23, 25, 32, 100])
    func bindPayloadNot16Or24IsMalformed(payload: Int) {
        #expect(Self.reason(Self.classify(Self.datagram(type: PacketType.bind, payload: payload))) == .malformed)
    }

    @Test func sizeLimitIsInclusive() {
        let bytes = Self.datagram(type: PacketType.data, payload: 24)
        #expect(Self.reason(Self.classify(bytes, max: 40)) == nil)
        #expect(Self.reason(Self.classify(bytes, max: 39)) == .oversize)
    }

    @Test func oversizeIsCheckedBeforeMalformed() {
        let garbage = [UInt8](repeating: 0, count: 1201)
        #expect(Self.reason(Self.classify(garbage)) == .oversize)
        let shortButOverTinyLimit = [UInt8](repeating: 0, count: 10)
        #expect(Self.reason(Self.classify(shortButOverTinyLimit, max: 5)) == .oversize)
        let oversizedPing = Self.datagram(type: PacketType.ping, payload: 100)
        #expect(Self.reason(Self.classify(oversizedPing, max: 100)) == .oversize)
    }

    @Test func emptyDatagramIsMalformed() {
        #expect(Self.reason(Self.classify([])) == .malformed)
    }
}
