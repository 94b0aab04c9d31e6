/// Encodes replies to control requests (PROTOCOL.md §1.2), without the terminator.
///
/// The `id` goes first, exactly as received, then `ok`, so a client can match a
/// reply by reading its first member.
public enum ControlReply {
    /// `{"id":<id>,"ok":true,…}`, with `fields` writing the extra members.
    ///
    /// - Parameters:
    ///   - id: ``ControlMessage/idText``; omitted from the reply when `nil`.
    ///   - fields: Writes key/value pairs into the open object.
    public static func success(id: String?, fields: (inout JSONWriter) -> Void = { _ in }) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        if let id {
            writer.key("id")
            writer.raw(id)
        }
        writer.field("ok", bool: true)
        fields(&writer)
        writer.endObject()
        return writer.bytes
    }

    /// `{"id":<id>,"ok":false,"error":{"code":…,"message":…}}`.
    ///
    /// - Parameters:
    ///   - id: ``ControlMessage/idText``; omitted from the reply when `nil`.
    ///   - error: The code and message to send.
    public static func failure(id: String?, error: ControlError) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        if let id {
            writer.key("id")
            writer.raw(id)
        }
        writer.field("ok", bool: false)
        writer.key("error")
        writer.beginObject()
        writer.field("code", string: error.code.name)
        writer.field("message", string: error.message)
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }
}
