/// Why ``StrictJSONReader`` rejected its input, and where.
public struct JSONError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong.
    public let kind: Kind
    /// The byte offset in the input where the problem was found.
    public let offset: Int

    /// Creates an error of `kind` found at `offset`.
    public init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    /// A one-line explanation, e.g. `duplicate key at byte 12`.
    public var description: String { "\(kind.name) at byte \(offset)" }
}
