/// A JSON object that keeps its members in source order and has no duplicate keys.
///
/// Keys are compared as Swift strings, that is by canonical equivalence, which is
/// stricter than the code-point comparison of RFC 8259 §8.3: two keys that any
/// normalising reader would merge count as duplicates too.
public struct JSONObject: Hashable, Sendable {
    /// The keys in source order.
    public private(set) var keys: [String] = []
    /// The values, aligned with ``keys``.
    public private(set) var values: [JSONValue] = []
    private var positions: [String: Int] = [:]

    /// Creates an empty object.
    public init() {}

    /// The number of members.
    public var count: Int { keys.count }

    /// The members in source order.
    public var members: [(key: String, value: JSONValue)] {
        Array(zip(keys, values)).map { (key: $0.0, value: $0.1) }
    }

    /// The value for `key`, or `nil` if the object has no such member.
    public subscript(key: String) -> JSONValue? {
        positions[key].map { values[$0] }
    }

    /// The position of `key` in ``keys``, if present.
    public func index(forKey key: String) -> Int? {
        positions[key]
    }

    /// Appends a member unless the key is already present.
    ///
    /// - Returns: `false`, leaving the object unchanged, when `key` is a duplicate.
    @discardableResult
    public mutating func append(_ value: JSONValue, forKey key: String) -> Bool {
        guard positions[key] == nil else { return false }
        positions[key] = keys.count
        keys.append(key)
        values.append(value)
        return true
    }

    /// Objects are equal when they have the same members in the same order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.keys == rhs.keys && lhs.values == rhs.values
    }

    /// Hashes the members in order, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(keys)
        hasher.combine(values)
    }
}
