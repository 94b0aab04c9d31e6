import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A relay's Prometheus endpoint (`--relay-metrics`): `http://HOST:PORT/metrics`, or `HOST:PORT`
/// for that path. Plain HTTP only: `gamerelay serve --metrics-port` serves nothing else.
struct MetricsURL: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var endpoint: HostPort
    var path: String

    init?(argument: String) {
        var rest = Substring(argument)
        if rest.hasPrefix("http://") { rest = rest.dropFirst("http://".count) } else if rest.contains("://") { return nil }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let endpoint = HostPort(argument: String(rest[..<slash])) else { return nil }
        self.endpoint = endpoint
        path = slash == rest.endIndex ? "/metrics" : String(rest[slash...])
        guard !path.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else { return nil }
    }

    var description: String { "http://\(endpoint)\(path)" }

    /// The largest response read: a relay's metrics are a few kilobytes.
    private static let responseLimit = 4 << 20

    /// GETs the page with one blocking HTTP/1.0 exchange; call it off any event loop.
    ///
    /// - Parameter timeout: The longest the whole exchange may take.
    /// - Returns: The body of a `200` answer; nil on any failure (the caller reports the figure
    ///   as unknown rather than failing the run).
    func fetch(timeout: Duration = .seconds(2)) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(endpoint.host, String(endpoint.port), &hints, &found) == 0, let info = found else { return nil }
        defer { freeaddrinfo(found) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue), info.pointee.ai_protocol)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let deadline = ContinuousClock.now + timeout
        func wait(for events: Int32) -> Bool {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var pfd = pollfd(fd: fd, events: Int16(events), revents: 0)
            let millis = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            return poll(&pfd, 1, millis) == 1
        }
        if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS, wait(for: Int32(POLLOUT)) else { return nil }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error == 0 else { return nil }
        }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(endpoint)\r\nConnection: close\r\n\r\n".utf8)
        var written = 0
        while written < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL)) }
            if n > 0 { written += n; continue }
            guard n < 0, errno == EAGAIN || errno == EINTR, wait(for: Int32(POLLOUT)) else { return nil }
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while response.count < Self.responseLimit {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { response += chunk[..<n]; continue }
            if n == 0 { break }
            guard errno == EAGAIN || errno == EINTR, wait(for: Int32(POLLIN)) else { return nil }
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n"),
              let status = text[..<split.lowerBound].split(separator: "\r\n").first,
              status.split(separator: " ").dropFirst().first == "200" else { return nil }
        return String(text[split.upperBound...])
    }
}
