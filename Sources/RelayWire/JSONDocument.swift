/// A parsed JSON text together with the exact source text of each member of a
/// top-level object, so a value such as a request `id` can be echoed byte for byte.
public struct JSONDocument: Hashable, Sendable {
    /// The parsed value.
    public let value: JSONValue
    /// For a top-level object, each member value's source text without surrounding
    /// whitespace, aligned with the object's keys; empty otherwise.
    public let rawMemberTexts: [String]

    /// The source text of the top-level member `key`, e.g. `7.0` or `"a\/b"`.
    ///
    /// - Returns: `nil` if the document is not an object or has no such member.
    public func rawText(forKey key: String) -> String? {
        guard case .object(let object) = value, let index = object.index(forKey: key) else { return nil }
        return rawMemberTexts[index]
    }
}
