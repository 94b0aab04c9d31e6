import RelayWire

/// What the relay needs from the Agones SDK's `GET /gameserver` answer: the GameServer's state,
/// its node address and its allocated ports (`status.ports`, each `{"name":…,"port":…}`).
public struct AgonesGameServer: Hashable, Sendable {
    /// One allocated port.
    public struct Port: Hashable, Sendable {
        /// The port's name in the GameServer spec.
        public var name: String
        /// The host port Agones allocated.
        public var port: Int

        /// Creates a port.
        public init(name: String, port: Int) {
            self.name = name
            self.port = port
        }
    }

    /// `status.state`, such as `Scheduled`, `RequestReady`, `Ready` or `Allocated`.
    public var state: String
    /// `status.address`, the node's address clients connect to.
    public var address: String
    /// `status.ports`, in the order Agones lists them.
    public var ports: [Port]

    /// Creates a GameServer view.
    public init(state: String, address: String, ports: [Port]) {
        self.state = state
        self.address = address
        self.ports = ports
    }

    /// Reads the gateway's JSON (protobuf's JSON mapping: numbers may arrive as strings, unknown
    /// fields are ignored).
    ///
    /// - Returns: nil when the body is not JSON of that shape.
    public static func parse(_ body: [UInt8]) -> AgonesGameServer? {
        guard case .object(let root)? = try? JSONValue.parse(body) else { return nil }
        guard let statusValue = root["status"] else { return AgonesGameServer(state: "", address: "", ports: []) }
        guard case .object(let status) = statusValue else { return nil }
        var ports: [Port] = []
        if case .array(let list)? = status["ports"] {
            for item in list {
                guard case .object(let entry) = item, let port = entry["port"].flatMap(portNumber) else { continue }
                ports.append(Port(name: entry["name"]?.stringValue ?? "", port: port))
            }
        }
        return AgonesGameServer(state: status["state"]?.stringValue ?? "", address: status["address"]?.stringValue ?? "", ports: ports)
    }

    /// The port to advertise: the one named `name`, else (without a name) the one named `relay`,
    /// else the first.
    public func port(named name: String?) -> Int? {
        if let name { return ports.first { $0.name == name }?.port }
        return (ports.first { $0.name == "relay" } ?? ports.first)?.port
    }

    private static func portNumber(_ value: JSONValue) -> Int? {
        let number: Int?
        switch value {
        case .number(let json): number = json.wholeValue.map { Int($0) }
        case .string(let text): number = Int(text)
        default: number = nil
        }
        guard let number, (1...65_535).contains(number) else { return nil }
        return number
    }
}
