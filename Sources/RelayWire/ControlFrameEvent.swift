/// What ``ControlFrameDecoder`` found next in a control connection's byte stream.
public enum ControlFrameEvent: Hashable, Sendable {
    /// A non-empty message: the bytes before its terminator, and the terminator
    /// (`0` or `10`) that ended it.
    case message([UInt8], terminator: UInt8)
    /// The connection opened with `<policy-file-request/>\0`: answer with
    /// ``ControlFrameDecoder/policyDocument(controlPort:)`` and close.
    case policyFileRequest
    /// A message grew past `maxControlMessage` bytes: answer `message_too_large`
    /// ending with `lastTerminator`, then close. The decoder yields nothing more.
    case tooLarge(lastTerminator: UInt8)
}
