import Testing

@testable import RelayWire

@Suite struct ControlReplyTests {
    @Test func successWithoutFields() {
        #expect(ControlReply.success(id: "7").text == #"{"id":7,"ok":true}"#)
        #expect(ControlReply.success(id: nil).text == #"{"ok":true}"#)
    }

    @Test(arguments: ["7.0", "1e2", #""a\/b""#, #""\u00e9\n""#, "-0", "18446744073709551616"])
    func idIsEchoedVerbatim(id: String) {
        #expect(ControlReply.success(id: id).text == #"{"id":"# + id + #","ok":true}"#)
    }

    @Test func successWithFieldsKeepsOrder() {
        let reply = ControlReply.success(id: #""x""#) { writer in
            writer.field("session", string: "0123456789abcdef")
            writer.field("code", string: "ABCDEF")
            writer.field("capacity", integer: 8)
            writer.key("udp")
            writer.beginObject()
            writer.field("port", integer: 7400)
            writer.endObject()
            writer.key("members")
            writer.beginArray()
            writer.beginObject()
            writer.field("member", integer: 1)
            writer.field("name", string: "bob")
            writer.endObject()
            writer.endArray()
        }
        #expect(reply.text == #"{"id":"x","ok":true,"session":"0123456789abcdef","code":"ABCDEF","capacity":8,"udp":{"port":7400},"members":[{"member":1,"name":"bob"}]}"#)
    }

    @Test func failure() {
        let error = ControlError(.notFound, "no such session")
        #expect(ControlReply.failure(id: "7", error: error).text == #"{"id":7,"ok":false,"error":{"code":"not_found","message":"no such session"}}"#)
        #expect(ControlReply.failure(id: nil, error: .badRequest("bad \"x\"\n")).text == #"{"ok":false,"error":{"code":"bad_request","message":"bad \"x\"\n"}}"#)
    }

    @Test func repliesNeverContainFrameTerminators() {
        let evil = "a\0b\nc"
        let success = ControlReply.success(id: #""\n""#) { $0.field(evil, string: evil) }
        let failure = ControlReply.failure(id: "1", error: .badRequest(evil))
        for bytes in [success, failure] {
            #expect(!bytes.contains(0) && !bytes.contains(10))
        }
    }

    @Test func repliesParseBack() throws {
        let reply = ControlReply.failure(id: "\"é\"", error: ControlError(.full, "session is full"))
        let object = try StrictJSONReader.parse(reply).objectValue
        #expect(object?.keys == ["id", "ok", "error"])
        #expect(object?["id"] == .string("é"))
    }
}
