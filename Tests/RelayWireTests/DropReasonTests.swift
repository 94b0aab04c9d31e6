import Testing

@testable import RelayWire

@Suite struct DropReasonTests {
    @Test func namesAreTheProtocolsSnakeCase() {
        #expect(DropReason.all.map(\.name) == [
            "oversize", "malformed", "unbound", "address_mismatch", "duplicate",
            "stale", "no_target", "rate_limited", "bad_token", "backlog",
        ])
        #expect(DropReason.addressMismatch.description == "address_mismatch")
    }

    @Test func indicesAreDenseAndMatchPositions() {
        #expect(DropReason.all.map(\.index) == Array(0..<DropReason.all.count))
        #expect(Set(DropReason.all).count == DropReason.all.count)
    }

    @Test func staticMembersAreInAll() {
        let members: [DropReason] = [
            .oversize, .malformed, .unbound, .addressMismatch, .duplicate,
            .stale, .noTarget, .rateLimited, .badToken, .backlog,
        ]
        #expect(members == DropReason.all)
    }
}
