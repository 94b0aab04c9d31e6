/// A control-channel request that passed the syntax checks (PROTOCOL.md §1.2 check 1):
/// well-formed UTF-8 and strict JSON, a top-level object, and an `id` that is a
/// string or a number if present.
public struct ControlMessage: Hashable, Sendable {
    /// The supported protocol versions, as named in `unsupported_version` replies.
    public static let supportedProtocolVersions: [Int64] = [1]
    /// The longest `name` accepted in `join`, in UTF-8 bytes after unescaping.
    public static let maxNameBytes = 64
    /// The `capacity` of a `create` without one is `min(defaultCapacity, maxSessionCapacity)`.
    public static let defaultCapacity = 16
    /// The aggregation rates a `create` may ask for with `tick`, in Hz (PROTOCOL.md §1.3).
    public static let tickRates = 1...120

    /// The request's members.
    public let object: JSONObject
    /// The `id` exactly as received (`7.0`, `"a\/b"`), for echoing; `nil` without one.
    public let idText: String?

    /// Runs check 1 on a frame's bytes (terminator excluded).
    ///
    /// - Returns: The message, or a `bad_request` that must be answered without an
    ///   `id`: the message is not trusted, not even its id.
    public static func parse(_ frame: [UInt8]) -> Result<ControlMessage, ControlError> {
        let document: JSONDocument
        do {
            document = try StrictJSONReader.parseDocument(frame)
        } catch {
            let prefix = error.kind == .invalidUTF8 ? "" : "invalid JSON: "
            return .failure(.badRequest(prefix + error.description))
        }
        guard case .object(let object) = document.value else {
            return .failure(.badRequest("a request must be a JSON object, not \(document.value.typeName)"))
        }
        var idText: String?
        if let id = object["id"] {
            switch id {
            case .string, .number:
                idText = document.rawText(forKey: "id")
            default:
                return .failure(.badRequest("'id' must be a string or a number, not \(id.typeName)"))
            }
        }
        return .success(ControlMessage(object: object, idText: idText))
    }

    /// The `op` field if it is a string.
    public var op: String? {
        object["op"]?.stringValue
    }

    /// Runs check 3 and the stateless part of check 4 of PROTOCOL.md §1.2.
    ///
    /// Unknown fields are ignored; `null` is not accepted as an absent optional field.
    ///
    /// - Parameter maxSessionCapacity: The largest `capacity` a `create` may ask for.
    /// - Returns: The operation, or `bad_request`, `unknown_op` or
    ///   `unsupported_version`, to be answered with ``idText``.
    public func operation(maxSessionCapacity: Int) -> Result<ControlOperation, ControlError> {
        guard let opValue = object["op"] else { return .failure(.badRequest("missing 'op'")) }
        guard let op = opValue.stringValue else {
            return .failure(.badRequest("'op' must be a string, not \(opValue.typeName)"))
        }
        // Byte comparison: Swift's `==` would accept canonically equivalent spellings.
        switch Array(op.utf8) {
        case Array("hello".utf8): return hello()
        case Array("create".utf8): return create(maxSessionCapacity: maxSessionCapacity)
        case Array("join".utf8): return join()
        case Array("leave".utf8): return .success(.leave)
        case Array("kick".utf8): return kick()
        case Array("ping".utf8): return .success(.ping)
        default: return .failure(ControlError(.unknownOp, "unknown op"))
        }
    }

    private func hello() -> Result<ControlOperation, ControlError> {
        let version: Int64
        switch integer("protocol", in: Int64.min...Int64.max, meaning: "an integer") {
        case .success(nil): return .failure(.badRequest("missing 'protocol'"))
        case .success(let value?): version = value
        case .failure(let error): return .failure(error)
        }
        let client: String?
        switch string("client") {
        case .success(let value): client = value
        case .failure(let error): return .failure(error)
        }
        guard Self.supportedProtocolVersions.contains(version) else {
            let versions = Self.supportedProtocolVersions.map(String.init).joined(separator: ", ")
            return .failure(ControlError(.unsupportedVersion, "supported protocol versions: \(versions)"))
        }
        return .success(.hello(client: client))
    }

    private func create(maxSessionCapacity: Int) -> Result<ControlOperation, ControlError> {
        let capacity: Int
        let range = Int64(2)...Int64(max(2, maxSessionCapacity))
        switch integer("capacity", in: range, meaning: "an integer from 2 to \(maxSessionCapacity)") {
        case .success(nil):
            capacity = min(Self.defaultCapacity, maxSessionCapacity)
        case .success(let value?) where value <= maxSessionCapacity:
            capacity = Int(value)
        case .success:
            return .failure(.badRequest("'capacity' must be an integer from 2 to \(maxSessionCapacity)"))
        case .failure(let error):
            return .failure(error)
        }
        // Checked after `capacity`: PROTOCOL.md §1.2 names them in that order.
        switch integer("tick", in: Int64(Self.tickRates.lowerBound)...Int64(Self.tickRates.upperBound),
                       meaning: "a whole number of ticks per second from \(Self.tickRates.lowerBound) to \(Self.tickRates.upperBound)") {
        case .success(let tick): return .success(.create(capacity: capacity, tick: tick.map { Int($0) }))
        case .failure(let error): return .failure(error)
        }
    }

    private func join() -> Result<ControlOperation, ControlError> {
        let session: String?
        let code: String?
        let name: String?
        switch string("session") {
        case .success(let value): session = value
        case .failure(let error): return .failure(error)
        }
        switch string("code") {
        case .success(let value): code = value
        case .failure(let error): return .failure(error)
        }
        switch string("name") {
        case .success(let value): name = value
        case .failure(let error): return .failure(error)
        }
        let target: JoinTarget
        switch (session, code) {
        case (let session?, nil): target = .session(session)
        case (nil, let code?): target = .code(code)
        default: return .failure(.badRequest("give exactly one of 'session' and 'code'"))
        }
        if let name, name.utf8.count > Self.maxNameBytes {
            return .failure(.badRequest("'name' must be at most \(Self.maxNameBytes) bytes of UTF-8"))
        }
        return .success(.join(target, name: name ?? ""))
    }

    private func kick() -> Result<ControlOperation, ControlError> {
        switch integer("member", in: 0...Int64(UInt16.max), meaning: "an integer from 0 to 65535") {
        case .success(nil): return .failure(.badRequest("missing 'member'"))
        case .success(let member?): return .success(.kick(member: UInt16(member)))
        case .failure(let error): return .failure(error)
        }
    }

    /// The optional string field `name`; `nil` when absent.
    private func string(_ name: String) -> Result<String?, ControlError> {
        guard let value = object[name] else { return .success(nil) }
        guard let string = value.stringValue else {
            return .failure(.badRequest("'\(name)' must be a string, not \(value.typeName)"))
        }
        return .success(string)
    }

    /// The optional integer field `name`, any whole-valued number within ±2^53 and
    /// `range`; `nil` when absent.
    private func integer(
        _ name: String,
        in range: ClosedRange<Int64>,
        meaning: String
    ) -> Result<Int64?, ControlError> {
        guard let value = object[name] else { return .success(nil) }
        guard let whole = value.numberValue?.wholeValue, range.contains(whole) else {
            return .failure(.badRequest("'\(name)' must be \(meaning)"))
        }
        return .success(whole)
    }
}
