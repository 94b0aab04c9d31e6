@_spi(Testing) import UVNet

/// The server context every input meets: one test PKI, made once (key generation would
/// otherwise dominate each run).
private let serverContext: TLSContext = {
    let pki = TestCertificates()
    do {
        return try TLSContext.server(certificateChain: pki.chainPEM, privateKey: pki.leafKeyPEM)
    } catch {
        preconditionFailure("the test PKI makes no server context: \(error)")
    }
}()

/// The most ciphertext one call may hand back: the server's whole first flight (ServerHello to
/// Finished with a two-certificate chain) is a few KiB, a HelloRetryRequest and an alert less.
let maxTLSOutputPerCall = 64 * 1024
/// The most a record may carry on the wire: 2^14 bytes of plaintext plus TLS 1.3's expansion.
let maxTLSRecordLength = 16_384 + 256
/// The most received ciphertext the engine may hold unread while it waits: one record header
/// and an incomplete TLS 1.2-sized encrypted record (2^14 + 2048).
let maxTLSBufferedInput = 5 + 16_384 + 2_048

/// Checks the server side of ``TLSEngine`` (OpenSSL over memory BIOs) against bytes a client
/// might send: ClientHellos, records and alerts, in reads of any size.
///
/// Input: a seed byte for the read sizes (see `ChunkSizes`), then the bytes from the client.
/// After each read the engine is driven as ``TLSStream`` drives it: ``TLSEngine/handshake()``,
/// then ``TLSEngine/readPlaintext(into:)``, then ``TLSEngine/takeOutput(_:)``.
///
/// Invariants: no crash or sanitizer report; the handshake never completes and no plaintext
/// comes out (finishing needs the client's Finished over a fresh key exchange, which no input
/// can hold); while the handshake runs, the engine holds at most one incomplete record of input;
/// what one call hands back is at most 64 KiB, and all of it whole TLS records of the four
/// content types, each within the record size limit; once the handshake fails it stays failed
/// with the same failure, from every call, and the engine sends nothing more after the alert
/// that came with the failure.
///
/// - Throws: ``FuzzFailure`` when an invariant does not hold.
public func fuzzTLSHandshake(_ data: [UInt8]) throws(FuzzFailure) {
    var input = FuzzInput(data)
    var sizes = ChunkSizes(seed: input.byte() ?? 0)
    let stream = Array(input.rest())
    let engine = TLSEngine(context: serverContext)

    var failure: TLSFailure?
    var sent = 0
    var offset = 0
    var reads = 0
    while offset < stream.count || reads == 0 {
        let size = min(sizes.next(), stream.count - offset)
        stream.withUnsafeBytes { engine.receive(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + size)])) }
        offset += size
        reads += 1
        let failedBefore = failure

        switch engine.handshake() {
        case .done:
            throw FuzzFailure("the handshake completed after \(offset) bytes no client could have sent")
        case .needsInput:
            try check(failure == nil, "the handshake went on after failing with \(failure!)")
            try check(engine.bufferedInputCount <= maxTLSBufferedInput,
                      "\(engine.bufferedInputCount) bytes of input wait unread after a read of \(size)")
        case .failed(let now):
            if let failure {
                try check(now == failure, "a failed handshake failed again differently: \(failure), then \(now)")
            }
            failure = now
        }

        var plaintext: [UInt8] = []
        let outcome = engine.readPlaintext(into: &plaintext)
        try check(plaintext.isEmpty, "\(plaintext.count) bytes of plaintext before a handshake")
        switch outcome {
        case .needsInput:
            try check(failure == nil, "reading goes on after the handshake failed with \(failure!)")
        case .closed:
            throw FuzzFailure("close_notify read before the handshake finished")
        case .failed(let now):
            if let failure {
                try check(now == failure, "reading failed otherwise than the handshake: \(failure), then \(now)")
            } else {
                // A record that reading rejects fails the handshake with it.
                try check(engine.handshake() == .failed(now), "a failed read left the handshake going")
            }
            failure = now
        }
        try check(!engine.isHandshakeComplete, "the handshake completed through a read")

        var output: [UInt8] = []
        var calls = 0
        engine.takeOutput { bytes in
            calls += 1
            output.append(contentsOf: bytes)
        }
        try check(calls <= 1, "takeOutput lent \(calls) buffers")
        try check(!engine.hasOutput, "output is left after takeOutput")
        try check(output.count <= maxTLSOutputPerCall, "\(output.count) bytes of output from one read of \(size)")
        if failedBefore != nil {
            try check(output.isEmpty, "\(output.count) bytes sent after the handshake had failed")
        }
        try checkRecords(output)
        sent += output.count
    }
    try check(sent <= maxTLSOutputPerCall, "\(sent) bytes sent in all")
}

/// Checks that `bytes` are whole TLS records (change_cipher_spec, alert, handshake,
/// application_data), each within the size limit.
private func checkRecords(_ bytes: [UInt8]) throws(FuzzFailure) {
    var offset = 0
    while offset < bytes.count {
        try check(bytes.count - offset >= 5, "output ends in a partial record header")
        let type = bytes[offset]
        let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
        try check((20...23).contains(type), "a record of content type \(type)")
        // The record version is not checked: before a version is agreed OpenSSL answers with an
        // alert in a record carrying whatever version the client's hello claimed (0x0003 and
        // 0x03fc as readily as 0x0301–0x0303), so it says nothing about the engine's health.
        try check(length <= maxTLSRecordLength, "a record of \(length) bytes")
        try check(bytes.count - offset - 5 >= length, "output ends in a partial record")
        offset += 5 + length
    }
}
