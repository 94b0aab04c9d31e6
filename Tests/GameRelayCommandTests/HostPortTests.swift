import ArgumentParser
@testable import gamerelay
import Testing

@Suite("HOST:PORT arguments: what they accept, and what they say when they don't")
struct HostPortTests {
    @Test(arguments: [
        ("127.0.0.1:7400", "127.0.0.1", 7400),
        ("relay.example.net:1", "relay.example.net", 1),
        ("[::1]:65535", "::1", 65535),
    ])
    func accepted(argument: String, host: String, port: Int) throws {
        let parsed = try HostPort.parse(argument)
        #expect(parsed.host == host && parsed.port == port)
        #expect(HostPort(argument: argument)?.description == argument)
    }

    @Test(arguments: [
        ("127.0.0.1", "no port"),
        ("relay.example.net", "no port"),
        ("[::1]", "no port"),
        ("::1", "IPv6 address goes in brackets"),
        ("::1:7400", "IPv6 address goes in brackets"),
        ("[::1", "needs its ']'"),
        ("[::1]7400", "expected ':PORT'"),
        (":7400", "no host"),
        ("127.0.0.1:", "port must be a number"),
        ("127.0.0.1:99999", "port must be a number"),
        ("127.0.0.1:0", "port must be a number"),
        ("127.0.0.1:http", "port must be a number"),
    ])
    func refusedWithAReason(argument: String, reason: String) {
        do {
            _ = try HostPort.parse(argument)
            Issue.record("\(argument) was accepted")
        } catch {
            #expect(error.description.contains(reason), "\(argument): \(error.description)")
        }
        #expect(HostPort(argument: argument) == nil)
    }

    @Test func pingAndBenchNameTheMissingPort() {
        do {
            _ = try PingCommand.parse(["127.0.0.1"])
            Issue.record("ping took a relay without a port")
        } catch {
            #expect(PingCommand.message(for: error).contains("no port: write HOST:PORT, e.g. 127.0.0.1:7400"), "\(PingCommand.message(for: error))")
        }
        do {
            _ = try BenchCommand.parse(["--relay", "127.0.0.1"])
            Issue.record("bench took a relay without a port")
        } catch {
            #expect(BenchCommand.message(for: error).contains("no port: write HOST:PORT, e.g. 127.0.0.1:7400"), "\(BenchCommand.message(for: error))")
        }
    }
}
