@testable import gamerelay
import Testing

@Suite("bench --websocket-members: what it sets and what it refuses")
struct BenchWebSocketOptionsTests {
    @Test func theCountReachesTheWorkload() throws {
        #expect(try BenchCommand.parse([]).workload.webSocketMembers == 0)
        #expect(try BenchCommand.parse(["--members", "8", "--websocket-members", "4"]).workload.webSocketMembers == 4)
        #expect(try BenchCommand.parse(["--members", "8", "--websocket-members", "8"]).workload.webSocketMembers == 8)
        #expect(try BenchCommand.parse(["--websocket-members", "2", "--tls"]).workload.webSocketMembers == 2)
    }

    @Test(arguments: [
        ["--websocket-members", "-1"],
        ["--members", "4", "--websocket-members", "5"],
        ["--websocket-members", "1", "--protocol", "turn", "--relay", "127.0.0.1:3478"],
        ["--websocket-members", "1", "--connections", "10"],
    ])
    func refused(arguments: [String]) {
        #expect(throws: (any Error).self) { try BenchCommand.parse(arguments) }
    }

    @Test func theLastMembersOfASessionJoinOverAWebSocket() throws {
        let workload = try BenchCommand.parse(["--members", "5", "--websocket-members", "2"]).workload
        let choices = (0..<5).map { workload.joinsOverWebSocket($0) }
        #expect(choices == [false, false, false, true, true])
    }
}
