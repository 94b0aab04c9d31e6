import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A blocking test client of the control channel, whatever frames its messages: it sends one
/// and reads the next as a JSON object.
protocol JSONMessageClient: AnyObject {
    /// Sends one control message.
    func send(_ json: String) throws
    /// Reads the next message as a JSON object, waiting at most `timeout`.
    func readObject(timeout: Duration) throws -> [String: Any]
}

extension JSONMessageClient {
    /// Sends a request and returns the next message, which must be its reply.
    func request(_ json: String) throws -> [String: Any] {
        try send(json)
        let reply = try readObject(timeout: .seconds(10))
        guard reply["ok"] != nil else { throw TestFailure("expected a reply, got \(reply)") }
        return reply
    }

    /// Waits for the next event with the given name, failing on any other message.
    func expectEvent(_ name: String, timeout: Duration = .seconds(10)) throws -> [String: Any] {
        let object = try readObject(timeout: timeout)
        guard object["event"] as? String == name else { throw TestFailure("expected event \(name), got \(object)") }
        return object
    }
}

/// A blocking TCP control-channel client with bounded waits: frames JSON with `\0` (or `\n`),
/// sends requests and reads replies and events.
final class ControlTestClient: JSONMessageClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    var terminator: UInt8 = 0

    init(host: String = "127.0.0.1", port: Int) throws {
        fd = try connectedTestSocket(host: host, port: port)
    }

    deinit { Glibc.close(fd) }

    /// Closes both directions, as a client that goes away does.
    func close() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Sends a request and returns its reply, collecting the events that arrive before it.
    func request(_ json: String, events: inout [[String: Any]]) throws -> [String: Any] {
        try send(json)
        while true {
            let frame = try readObject()
            if frame["ok"] != nil { return frame }
            events.append(frame)
        }
    }

    /// Sends raw bytes.
    func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Sends one JSON text with the client's terminator.
    func send(_ json: String) throws {
        try sendRaw(Array(json.utf8) + [terminator])
    }

    /// Reads one frame (bytes before the next `\0` or `\n`), waiting at most `timeout`.
    func readFrame(timeout: Duration = .seconds(10)) throws -> (text: String, terminator: UInt8) {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let end = buffer.firstIndex(where: { $0 == 0 || $0 == 10 }) {
                let frame = Array(buffer[..<end])
                let term = buffer[end]
                buffer.removeSubrange(...end)
                return (String(decoding: frame, as: UTF8.self), term)
            }
            guard try readMore(until: deadline) else { throw TestFailure("connection closed while waiting for a frame") }
        }
    }

    /// Reads one frame and parses it as a JSON object.
    func readObject(timeout: Duration = .seconds(10)) throws -> [String: Any] {
        let frame = try readFrame(timeout: timeout)
        guard let object = try JSONSerialization.jsonObject(with: Data(frame.text.utf8)) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(frame.text)")
        }
        return object
    }


    /// Whether the peer closed the connection within `timeout` (any unread frames are discarded).
    func waitForClose(timeout: Duration = .seconds(10)) throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            buffer.removeAll()
            if try !readMore(until: deadline) { return true }
        }
        return false
    }

    /// Whether any frame arrives within `timeout`.
    func hasFrame(within timeout: Duration) throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !buffer.contains(where: { $0 == 0 || $0 == 10 }) {
            if ContinuousClock.now >= deadline { return false }
            if try !readMore(until: deadline) { return false }
        }
        return true
    }

    /// Reads what is available, waiting until `deadline`; false on EOF or reset.
    private func readMore(until deadline: ContinuousClock.Instant) throws -> Bool {
        guard let chunk = try receiveAvailable(fd, until: deadline) else { return false }
        buffer.append(contentsOf: chunk)
        return true
    }
}

/// A blocking TCP socket connected to `host:port`, for the test clients.
func connectedTestSocket(host: String, port: Int) throws -> Int32 {
    let address = try TestAddress(host: host, port: port)
    let fd = socket(address.family, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed: \(errno)") }
    guard address.withSockAddr({ Glibc.connect(fd, $0, $1) }) == 0 else {
        Glibc.close(fd)
        throw TestFailure("connect to \(host):\(port) failed: errno \(errno)")
    }
    return fd
}

/// Reads what a blocking test socket has, waiting until `deadline`: nil on EOF or reset, and
/// ``TestFailure`` when nothing came in time.
func receiveAvailable(_ fd: Int32, until deadline: ContinuousClock.Instant) throws -> [UInt8]? {
    while true {
        let remaining = deadline - ContinuousClock.now
        let ms = max(0, Int32(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000))
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, ms)
        if ready == 0 { throw TestFailure("timed out waiting for data") }
        // Interrupted: poll again for what is left of the wait.
        guard ready > 0 else { continue }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(chunk[..<n]) : nil
    }
}

/// A loopback socket address for the blocking test clients.
struct TestAddress {
    private(set) var storage = sockaddr_storage()
    let family: Int32
    let length: socklen_t

    init(host: String, port: Int) throws {
        var storage = sockaddr_storage()
        if host.contains(":") {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1 else { throw TestFailure("bad address \(host)") }
            withUnsafeBytes(of: sin6) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
            family = AF_INET6
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host, &sin.sin_addr) == 1 else { throw TestFailure("bad address \(host)") }
            withUnsafeBytes(of: sin) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
            family = AF_INET
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        self.storage = storage
    }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var copy = storage
        return withUnsafePointer(to: &copy) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
    }
}

/// Runs blocking `body` on a thread of its own and waits for it: a test whose timing matters
/// then neither waits for, nor holds, one of the few threads of the shared cooperative pool
/// that other tests' blocking socket calls occupy.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
