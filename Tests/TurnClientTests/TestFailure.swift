/// A test precondition that did not hold, with a message saying what to do.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
