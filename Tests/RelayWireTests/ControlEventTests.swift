import Testing

@testable import RelayWire

@Suite struct ControlEventTests {
    @Test(arguments: [
        (ControlEvent.joined(member: 4, name: "carol"), #"{"event":"joined","member":4,"name":"carol"}"#),
        (.joined(member: 65534, name: "é\"\\\n\t💥<b>\0"), #"{"event":"joined","member":65534,"name":"é\"\\\n\t💥<b>\u0000"}"#),
        (.left(member: 3, reason: .leave), #"{"event":"left","member":3,"reason":"leave"}"#),
        (.left(member: 3, reason: .disconnect), #"{"event":"left","member":3,"reason":"disconnect"}"#),
        (.left(member: 3, reason: .kick), #"{"event":"left","member":3,"reason":"kick"}"#),
        (.left(member: 3, reason: .timeout), #"{"event":"left","member":3,"reason":"timeout"}"#),
        (.owner(member: 2), #"{"event":"owner","member":2}"#),
        (.bound(address: "127.0.0.1:5000"), #"{"event":"bound","address":"127.0.0.1:5000"}"#),
        (.bound(address: "[::ffff:127.0.0.1]:5000"), #"{"event":"bound","address":"[::ffff:127.0.0.1]:5000"}"#),
        (.unbound, #"{"event":"unbound","reason":"idle"}"#),
        (.kicked, #"{"event":"kicked"}"#),
        (.shutdown(drainMs: 5000), #"{"event":"shutdown","drainMs":5000}"#),
        (.closing(reason: .idle), #"{"event":"closing","reason":"idle"}"#),
        (.closing(reason: .drain), #"{"event":"closing","reason":"drain"}"#),
    ])
    func encoding(event: ControlEvent, expected: String) throws {
        let bytes = event.encoded()
        #expect(bytes.text == expected)
        #expect(!bytes.contains(0) && !bytes.contains(10))
        let object = try StrictJSONReader.parse(bytes).objectValue
        #expect(object?.keys.first == "event")
        #expect(object?["event"] == .string(event.name))
        #expect(object?["ok"] == nil)
    }

    @Test func leaveReasonsAreTheProtocolsFour() {
        #expect(LeaveReason.allCases.map(\.rawValue) == ["leave", "disconnect", "kick", "timeout"])
    }
}
