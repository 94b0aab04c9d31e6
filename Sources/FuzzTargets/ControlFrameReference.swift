import RelayWire

/// PROTOCOL.md §1.1's framing applied to a whole stream at once, without the decoder's
/// incremental state: what ``ControlFrameDecoder`` must yield however the stream is split.
enum ControlFrameReference {
    /// The events the stream `bytes` gives, in order.
    ///
    /// A stream that starts with the policy request is answered with the policy; one that is
    /// still a prefix of it waits. Otherwise the first `\0` or `\n` ends each message; an empty or
    /// whitespace-only one is skipped; a message over `maxMessageSize` bytes, or more than that
    /// with no terminator yet, ends the stream with `tooLarge` naming the last message's
    /// terminator (`\0` before any).
    static func events(_ bytes: [UInt8], maxMessageSize: Int) -> [ControlFrameEvent] {
        let policy = ControlFrameDecoder.policyFileRequest
        if bytes.starts(with: policy) { return [.policyFileRequest] }
        if policy.starts(with: bytes) { return [] }
        var events: [ControlFrameEvent] = []
        var lastTerminator: UInt8 = 0
        var start = 0
        while start < bytes.count {
            guard let end = bytes[start...].firstIndex(where: { $0 == 0 || $0 == 10 }) else {
                if bytes.count - start > maxMessageSize { events.append(.tooLarge(lastTerminator: lastTerminator)) }
                break
            }
            let message = Array(bytes[start..<end])
            if message.count > maxMessageSize {
                events.append(.tooLarge(lastTerminator: lastTerminator))
                break
            }
            if !message.allSatisfy({ [0x20, 0x09, 0x0D].contains($0) }) {
                events.append(.message(message, terminator: bytes[end]))
                lastTerminator = bytes[end]
            }
            start = end + 1
        }
        return events
    }
}
