extension JSONError {
    /// The kinds of ``JSONError``; a struct so that kinds can be added later.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// A short human-readable name.
        public let name: String

        private init(_ name: String) { self.name = name }

        /// Not well-formed UTF-8: a bad byte, an overlong form, an encoded
        /// surrogate, a code point above U+10FFFF, or a truncated sequence.
        public static let invalidUTF8 = Kind("invalid UTF-8")
        /// The input ended inside a value, or held no value at all.
        public static let unexpectedEnd = Kind("unexpected end of input")
        /// A byte that cannot start or continue a value here (including single
        /// quotes, `NaN`, trailing commas and misspelled literals).
        public static let unexpectedByte = Kind("unexpected character")
        /// A number outside the RFC 8259 grammar, such as `01`, `1.` or `+1`.
        public static let invalidNumber = Kind("invalid number")
        /// A raw control character (below U+0020) inside a string.
        public static let controlCharacter = Kind("unescaped control character in string")
        /// A backslash escape other than `\" \\ \/ \b \f \n \r \t \uXXXX`.
        public static let invalidEscape = Kind("invalid escape")
        /// A `\u` escape of an unpaired UTF-16 surrogate, which no Swift `String` can hold.
        public static let loneSurrogate = Kind("unpaired surrogate escape")
        /// Containers nested deeper than ``StrictJSONReader/maxDepth``.
        public static let tooDeep = Kind("nesting too deep")
        /// An object with the same key twice (I-JSON, RFC 7493).
        public static let duplicateKey = Kind("duplicate key")
        /// Something other than whitespace after the top-level value.
        public static let trailingData = Kind("unexpected data after the value")

        /// The ``name``.
        public var description: String { name }
    }
}
