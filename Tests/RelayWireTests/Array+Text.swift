extension Array where Element == UInt8 {
    /// The bytes as text, for readable expectations.
    var text: String { String(decoding: self, as: UTF8.self) }
}
