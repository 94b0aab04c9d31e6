#if canImport(Glibc)
import Glibc
#endif

/// Ports on 127.0.0.1 for tests that must name one before a process binds it.
public enum LoopbackPorts {
    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
    public static func unusedTCPPort() throws -> Int {
        try unusedPort(type: Int32(SOCK_STREAM.rawValue))
    }

    /// A UDP port on 127.0.0.1 that was free a moment ago.
    public static func unusedUDPPort() throws -> Int {
        try unusedPort(type: Int32(SOCK_DGRAM.rawValue))
    }

    private static func unusedPort(type: Int32) throws -> Int {
        let fd = socket(AF_INET, type, 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("bind: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
