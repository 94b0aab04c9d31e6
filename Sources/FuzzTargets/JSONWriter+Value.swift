import RelayWire

extension JSONWriter {
    /// Writes a parsed value back as compact JSON (numbers as their source text), so a parse can
    /// be checked to survive the relay's own writer unchanged.
    mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let bool): self.bool(bool)
        case .number(let number): raw(number.text)
        case .string(let string): self.string(string)
        case .array(let elements):
            beginArray()
            for element in elements { self.value(element) }
            endArray()
        case .object(let object):
            beginObject()
            for (key, member) in zip(object.keys, object.values) {
                self.key(key)
                self.value(member)
            }
            endObject()
        }
    }
}
