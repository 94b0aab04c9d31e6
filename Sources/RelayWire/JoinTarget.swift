/// Which session a `join` names: by id or by join code, exactly as the client sent it.
///
/// The text is not validated here: a malformed id or empty code is `not_found`
/// (PROTOCOL.md §1.3), which ``SessionID/init(hex:)`` and
/// ``JoinCode/init(normalizing:)`` returning `nil` tell the caller.
public enum JoinTarget: Hashable, Sendable {
    /// The 16-hex-character session id.
    case session(String)
    /// The 6-character join code, any case.
    case code(String)
}
