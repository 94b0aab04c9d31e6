/// Long-term credentials for a TURN server (RFC 8489 §9.2): a username and password, and
/// optionally the realm the server must announce.
///
/// Strings are used as given: prepare them first (SASLprep, RFC 4013, or OpaqueString, RFC 8265)
/// if they contain anything beyond printable ASCII — RFC 5769 §2.4's password
/// `The<U+00AD>M<U+00AA>tr<U+2168>` must be passed as its prepared form `TheMatrIX`.
public struct TurnCredentials: Hashable, Sendable {
    /// The username, sent in USERNAME.
    public var username: String
    /// The password, never sent; it keys MESSAGE-INTEGRITY.
    public var password: String
    /// The realm to insist on; `nil` accepts the realm the server's 401 names.
    public var realm: String?

    /// Creates credentials.
    public init(username: String, password: String, realm: String? = nil) {
        self.username = username
        self.password = password
        self.realm = realm
    }

    /// The long-term key: `MD5(username ":" realm ":" password)` over the UTF-8 bytes (RFC 8489 §9.2.2).
    public static func longTermKey(username: String, realm: String, password: String) -> [UInt8] {
        HMACSHA1.md5(Array("\(username):\(realm):\(password)".utf8))
    }

    /// This username and password's key for `realm`.
    public func key(realm: String) -> [UInt8] {
        Self.longTermKey(username: username, realm: realm, password: password)
    }
}
