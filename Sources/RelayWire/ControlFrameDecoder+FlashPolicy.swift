extension ControlFrameDecoder {
    /// The Flash Player socket policy request, terminator included.
    public static let policyFileRequest: [UInt8] = Array("<policy-file-request/>".utf8) + [0]

    /// The cross-domain policy document of PROTOCOL.md §1.1, followed by `\0`.
    ///
    /// - Parameter controlPort: The TCP port the relay's control socket listens on.
    /// - Returns: The exact bytes to send before closing the connection.
    public static func policyDocument(controlPort: Int) -> [UInt8] {
        let xml = #"<?xml version="1.0"?><cross-domain-policy>"#
            + #"<site-control permitted-cross-domain-policies="master-only"/>"#
            + #"<allow-access-from domain="*" to-ports="\#(controlPort)"/>"#
            + "</cross-domain-policy>"
        return Array(xml.utf8) + [0]
    }
}
