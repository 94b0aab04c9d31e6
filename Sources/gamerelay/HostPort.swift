import ArgumentParser

/// A `HOST:PORT` argument: `127.0.0.1:7400`, `relay.example.net:7400` or `[::1]:7400`.
struct HostPort: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var host: String
    var port: Int

    /// Why an argument is not a `HOST:PORT`, in words for the command line.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init?(argument: String) {
        guard let parsed = try? Self.parse(argument) else { return nil }
        self = parsed
    }

    private init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, saying what is wrong when it can't: a relay has no default port, so
    /// a bare host is the likeliest mistake.
    ///
    /// - Throws: ``Failure`` naming the missing or bad part, with an example.
    static func parse(_ argument: String) throws(Failure) -> HostPort {
        let host: Substring
        let portText: Substring?
        if argument.hasPrefix("[") {
            guard let close = argument.firstIndex(of: "]") else { throw Failure(description: "an IPv6 address in brackets needs its ']', e.g. [::1]:7400") }
            host = argument[argument.index(after: argument.startIndex)..<close]
            let rest = argument[argument.index(after: close)...]
            guard rest.isEmpty || rest.hasPrefix(":") else { throw Failure(description: "expected ':PORT' after ']', e.g. [::1]:7400") }
            portText = rest.isEmpty ? nil : rest.dropFirst()
        } else if let colon = argument.lastIndex(of: ":") {
            host = argument[..<colon]
            guard !host.contains(":") else {
                throw Failure(description: "an IPv6 address goes in brackets before the port, e.g. [::1]:7400")
            }
            portText = argument[argument.index(after: colon)...]
        } else {
            host = Substring(argument)
            portText = nil
        }
        guard !host.isEmpty else { throw Failure(description: "no host: write HOST:PORT, e.g. 127.0.0.1:7400") }
        guard let portText else {
            let example = host.contains(":") ? "[\(host)]:7400" : "\(host):7400"
            throw Failure(description: "no port: write HOST:PORT, e.g. \(example) (gamerelay serve listens on 7400 by default)")
        }
        guard let port = Int(portText), (1...65_535).contains(port) else {
            throw Failure(description: "the port must be a number in 1...65535, not '\(portText)'")
        }
        return HostPort(host: String(host), port: port)
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
