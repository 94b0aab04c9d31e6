/// A failed expectation inside test support code, with a message saying what was expected.
public struct TestFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String

    /// Creates a failure with `description`.
    public init(_ description: String) { self.description = description }
}
