extension String {
    /// The UTF-8 bytes, for readable inputs.
    var bytes: [UInt8] { Array(utf8) }
}
