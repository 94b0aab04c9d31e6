import CLibUV
import Testing
import UVNet

@Suite struct SocketAddressTests {
    /// Input text, the PROTOCOL.md §3 text it must print as, and the expected family.
    struct Formatting: Sendable, CustomTestStringConvertible {
        let input: String
        let text: String
        let family: SocketAddress.Family
        var testDescription: String { input }
    }

    static let formatting: [Formatting] = [
        // IPv4
        Formatting(input: "1.2.3.4", text: "1.2.3.4", family: .ipv4),
        Formatting(input: "0.0.0.0", text: "0.0.0.0", family: .ipv4),
        Formatting(input: "255.255.255.255", text: "255.255.255.255", family: .ipv4),
        Formatting(input: "127.0.0.1", text: "127.0.0.1", family: .ipv4),
        // The two exceptions that keep `::`.
        Formatting(input: "::", text: "::", family: .ipv6),
        Formatting(input: "0:0:0:0:0:0:0:0", text: "::", family: .ipv6),
        Formatting(input: "::1", text: "::1", family: .ipv6),
        Formatting(input: "0:0:0:0:0:0:0:0001", text: "::1", family: .ipv6),
        // IPv4-compatible: first 96 bits zero, neither :: nor ::1.
        Formatting(input: "::2", text: "::0.0.0.2", family: .ipv6),
        Formatting(input: "::0.0.0.2", text: "::0.0.0.2", family: .ipv6),
        Formatting(input: "::1.2.3.4", text: "::1.2.3.4", family: .ipv6),
        Formatting(input: "::ffff", text: "::0.0.255.255", family: .ipv6),
        Formatting(input: "::0.0.0.1", text: "::1", family: .ipv6),
        // IPv4-mapped.
        Formatting(input: "::ffff:127.0.0.1", text: "::ffff:127.0.0.1", family: .ipv6),
        Formatting(input: "::FFFF:7f00:1", text: "::ffff:127.0.0.1", family: .ipv6),
        Formatting(input: "0:0:0:0:0:ffff:0102:0304", text: "::ffff:1.2.3.4", family: .ipv6),
        Formatting(input: "::ffff:0:0", text: "::ffff:0.0.0.0", family: .ipv6),
        Formatting(input: "::ffff:255.255.255.255", text: "::ffff:255.255.255.255", family: .ipv6),
        // Near misses of the exceptions stay in long form.
        Formatting(input: "::1:0:0", text: "0:0:0:0:0:1:0:0", family: .ipv6),
        Formatting(input: "::fffe:1.2.3.4", text: "0:0:0:0:0:fffe:102:304", family: .ipv6),
        Formatting(input: "::ffff:0:1.2.3.4", text: "0:0:0:0:ffff:0:102:304", family: .ipv6),
        Formatting(input: "::1:0:0:0", text: "0:0:0:0:1:0:0:0", family: .ipv6),
        Formatting(input: "1::", text: "1:0:0:0:0:0:0:0", family: .ipv6),
        Formatting(input: "64:ff9b::192.0.2.33", text: "64:ff9b:0:0:0:0:c000:221", family: .ipv6),
        // Long form: lowercase, leading zeros dropped, never `::`.
        Formatting(input: "2001:DB8::0001", text: "2001:db8:0:0:0:0:0:1", family: .ipv6),
        Formatting(input: "2001:0db8:0000:0000:0000:ff00:0042:8329", text: "2001:db8:0:0:0:ff00:42:8329", family: .ipv6),
        Formatting(input: "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF",
                   text: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", family: .ipv6),
        Formatting(input: "fe80::1", text: "fe80:0:0:0:0:0:0:1", family: .ipv6),
        // Brackets and scopes are accepted and never printed inside the address.
        Formatting(input: "[2001:db8::1]", text: "2001:db8:0:0:0:0:0:1", family: .ipv6),
        Formatting(input: "[::1]", text: "::1", family: .ipv6),
        Formatting(input: "fe80::1%2", text: "fe80:0:0:0:0:0:0:1", family: .ipv6),
        Formatting(input: "[fe80::abcd%15]", text: "fe80:0:0:0:0:0:0:abcd", family: .ipv6),
    ]

    @Test(arguments: formatting)
    func printsByProtocolSection3(row: Formatting) throws {
        let address = try SocketAddress(ipAddress: row.input, port: 80)
        #expect(address.ipAddress == row.text)
        #expect(address.family == row.family)
        #expect(address.port == 80)
        let expectedDescription = row.family == .ipv4 ? "\(row.text):80" : "[\(row.text)]:80"
        #expect(address.description == expectedDescription)
        #expect("\(address)" == expectedDescription)
    }

    @Test(arguments: formatting)
    func printedTextParsesBackToTheSameAddress(row: Formatting) throws {
        let address = try SocketAddress(ipAddress: row.input, port: 80)
        let reparsed = try SocketAddress(ipAddress: address.ipAddress, port: 80)
        #expect(reparsed == address)
        #expect(reparsed.ipAddress == address.ipAddress)
    }

    @Test func scopeIDIsKeptButNotPrinted() throws {
        let address = try SocketAddress(ipAddress: "fe80::1%2", port: 4000)
        #expect(address.scopeID == 2)
        #expect(address.description == "[fe80:0:0:0:0:0:0:1]:4000")
        #expect(try SocketAddress(ipAddress: "fe80::1", port: 4000).scopeID == 0)
    }

    static let invalidAddresses: [String] = [
        "1.2.3", "256.0.0.1", "::g", "", "localhost",
        "1.2.3.4.5", "01.2.3.4", "0x7f.0.0.1", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4:80",
        "[1.2.3.4]", "[::1", "::1]", "[]", "[", "]",
        "1.2.3.4%1", "fe80::1%", "fe80::1%eth0", "fe80::1%-1", "fe80::1%+1", "fe80::1%4294967296",
        "1:2:3:4:5:6:7:8:9", "1::2::3", ":::", "12345::", "::ffff:1.2.3", "[::1]:80",
    ]

    @Test(arguments: invalidAddresses)
    func invalidTextThrowsInvalidAddress(text: String) {
        let error = #expect(throws: SocketError.self) { try SocketAddress(ipAddress: text, port: 80) }
        #expect(error?.code == .invalidAddress)
    }

    /// Not in the table above: a NUL in a test's name garbles the test output.
    @Test func embeddedNULIsNotTruncatedAway() {
        for text in ["1.2.3.4\u{0}", "::1\u{0}junk", "1.2.3.4\u{0}junk"] {
            let error = #expect(throws: SocketError.self) { try SocketAddress(ipAddress: text, port: 80) }
            #expect(error?.code == .invalidAddress)
        }
    }

    @Test(arguments: [-1, 65536, Int.min, Int.max])
    func portsOutside16BitsThrowPortOutOfRange(port: Int) {
        let error = #expect(throws: SocketError.self) { try SocketAddress(ipAddress: "1.2.3.4", port: port) }
        #expect(error?.code == .portOutOfRange)
        let v6Error = #expect(throws: SocketError.self) { try SocketAddress(ipAddress: "::1", port: port) }
        #expect(v6Error?.code == .portOutOfRange)
    }

    @Test func portIsCheckedBeforeTheAddress() {
        let error = #expect(throws: SocketError.self) { try SocketAddress(ipAddress: "nonsense", port: 70000) }
        #expect(error?.code == .portOutOfRange)
    }

    @Test(arguments: [0, 1, 65535])
    func portBoundsAreAccepted(port: Int) throws {
        #expect(try SocketAddress(ipAddress: "1.2.3.4", port: port).port == port)
    }

    @Test func portIsSettable() throws {
        var address = try SocketAddress(ipAddress: "::1", port: 0)
        address.port = 8080
        #expect(address.description == "[::1]:8080")
    }

    // MARK: sockaddr

    @Test(arguments: ["1.2.3.4", "0.0.0.0", "255.255.255.255", "::", "::1", "::ffff:10.0.0.1",
                      "2001:db8::1", "fe80::1%3", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])
    func sockaddrRoundTripsBothFamilies(text: String) throws {
        let address = try SocketAddress(ipAddress: text, port: 0xBEEF)
        let back = address.withSockAddr { pointer, length in
            #expect(length == socklen_t(address.family == .ipv4
                ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size))
            return SocketAddress(pointer)
        }
        let roundTripped = try #require(back)
        #expect(roundTripped == address)
        #expect(roundTripped.family == address.family)
        #expect(roundTripped.scopeID == address.scopeID)
        #expect(roundTripped.description == address.description)
    }

    @Test func sockaddrInUsesNetworkByteOrder() throws {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UInt16(8080).bigEndian
        sin.sin_addr.s_addr = UInt32(0xC0A8_0102).bigEndian // 192.168.1.2
        let address = try #require(withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0) }
        })
        #expect(address.description == "192.168.1.2:8080")
        #expect(address.family == .ipv4)

        let written = try SocketAddress(ipAddress: "192.168.1.2", port: 8080).withSockAddr { pointer, _ in
            UnsafeRawPointer(pointer).load(as: sockaddr_in.self)
        }
        #expect(written.sin_family == sa_family_t(AF_INET))
        #expect(written.sin_port == UInt16(8080).bigEndian)
        #expect(written.sin_addr.s_addr == UInt32(0xC0A8_0102).bigEndian)
    }

    @Test func sockaddrIn6KeepsBytesPortAndScope() throws {
        let written = try SocketAddress(ipAddress: "fe80::1:2%7", port: 443).withSockAddr { pointer, _ in
            UnsafeRawPointer(pointer).load(as: sockaddr_in6.self)
        }
        #expect(written.sin6_family == sa_family_t(AF_INET6))
        #expect(written.sin6_port == UInt16(443).bigEndian)
        #expect(written.sin6_scope_id == 7)
        let bytes = withUnsafeBytes(of: written.sin6_addr) { Array($0) }
        #expect(bytes == [0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0x02])
    }

    @Test func mappedSockaddrIn6PrintsMappedAndEqualsIPv4() throws {
        let mapped = try SocketAddress(ipAddress: "::ffff:127.0.0.1", port: 5000)
        let received = try #require(mapped.withSockAddr { pointer, _ in SocketAddress(pointer) })
        #expect(received.family == .ipv6)
        #expect(received.description == "[::ffff:127.0.0.1]:5000")
        #expect(received == SocketAddress.loopbackIPv4(port: 5000))
    }

    @Test func otherFamiliesAreNil() {
        var storage = sockaddr_storage()
        storage.ss_family = sa_family_t(AF_UNIX)
        #expect(withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0) }
        } == nil)
        storage.ss_family = sa_family_t(AF_UNSPEC)
        #expect(withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0) }
        } == nil)
    }

    // MARK: Equality

    @Test func ipv4EqualsItsMappedFormAndHashesAlike() throws {
        let ipv4 = try SocketAddress(ipAddress: "192.0.2.7", port: 9000)
        let mapped = try SocketAddress(ipAddress: "::ffff:192.0.2.7", port: 9000)
        #expect(ipv4 == mapped)
        #expect(ipv4.hashValue == mapped.hashValue)
        #expect(Set([ipv4]).contains(mapped))
        #expect([mapped: "member"][ipv4] == "member")
        // Equal, yet each prints in its own family.
        #expect(ipv4.description == "192.0.2.7:9000")
        #expect(mapped.description == "[::ffff:192.0.2.7]:9000")
        #expect(ipv4.isIPv4MappedOrIPv4)
        #expect(mapped.isIPv4MappedOrIPv4)
    }

    @Test func unequalNeighbours() throws {
        let ipv4 = try SocketAddress(ipAddress: "1.2.3.4", port: 80)
        #expect(ipv4 != (try SocketAddress(ipAddress: "1.2.3.4", port: 81)))
        #expect(ipv4 != (try SocketAddress(ipAddress: "1.2.3.5", port: 80)))
        // IPv4-compatible is not IPv4-mapped.
        let compatible = try SocketAddress(ipAddress: "::1.2.3.4", port: 80)
        #expect(ipv4 != compatible)
        #expect(!compatible.isIPv4MappedOrIPv4)
        #expect(SocketAddress.ipv4Any(port: 80) != SocketAddress.ipv6Any(port: 80))
        #expect(SocketAddress.loopbackIPv4(port: 80) != SocketAddress.loopbackIPv6(port: 80))
        #expect(!SocketAddress.loopbackIPv6(port: 80).isIPv4MappedOrIPv4)
    }

    @Test func scopeIsNotPartOfEquality() throws {
        let one = try SocketAddress(ipAddress: "fe80::1%1", port: 80)
        let two = try SocketAddress(ipAddress: "fe80::1%2", port: 80)
        #expect(one == two)
        #expect(one.hashValue == two.hashValue)
    }

    @Test func staticHelpers() {
        #expect(SocketAddress.ipv4Any(port: 0).description == "0.0.0.0:0")
        #expect(SocketAddress.ipv6Any(port: 0).description == "[::]:0")
        #expect(SocketAddress.loopbackIPv4(port: 80).description == "127.0.0.1:80")
        #expect(SocketAddress.loopbackIPv6(port: 80).description == "[::1]:80")
        let built = SocketAddress(ipv4: (10, 0, 0, 1), port: 9)
        #expect(built.description == "10.0.0.1:9")
        #expect(built.family == .ipv4)
        #expect(built == (try? SocketAddress(ipAddress: "10.0.0.1", port: 9)))
    }
}
