@_spi(Testing) import UVNet

/// The PKI and contexts every input meets, made once: root → intermediate → leaf for
/// 127.0.0.1, and a revocation list of the intermediate that revokes the leaf.
private struct ClientFuzzSetup: @unchecked Sendable {
    let root = TestPKI.root()
    let intermediate: TestPKI
    let leaf: TestPKI
    /// Server contexts: [TLS 1.3 allowed, TLS 1.2 only] × [whole chain, leaf only].
    let servers: [TLSContext]
    /// Client contexts, indexed by the option bits ``ClientFuzzOptions`` reads.
    let clients: [TLSContext]

    init() {
        intermediate = root.issue("Fuzz intermediate CA", isCA: true, alternativeNames: nil, serial: 2)
        leaf = intermediate.issue("Fuzz relay", serial: 3)
        let crl = intermediate.revocationList(revoking: 3).der
        do {
            var servers: [TLSContext] = []
            for tls12 in [false, true] {
                for chain in [leaf.pem + intermediate.pem, leaf.pem] {
                    let context = try TLSContext.server(certificateChain: chain, privateKey: leaf.keyPEM)
                    if tls12 { context.restrictToTLS12() }
                    servers.append(context)
                }
            }
            self.servers = servers
            var clients: [TLSContext] = []
            for bits in 0..<8 {
                let options = ClientFuzzOptions(bits: UInt8(bits))
                clients.append(try TLSContext.client(trustedCertificates: options.trustsRoot ? [root.der] : [],
                                                     chainCertificates: options.addsIntermediate ? [intermediate.der] : [],
                                                     revocationLists: options.revokesLeaf ? [crl] : []))
            }
            self.clients = clients
        } catch {
            preconditionFailure("the fuzz PKI makes no context: \(error)")
        }
    }
}

private let clientFuzzSetup = ClientFuzzSetup()

/// The first input byte: which server and which client validation settings meet.
private struct ClientFuzzOptions {
    let bits: UInt8
    /// The client trusts the PKI's root (else only the system's store, which does not know it).
    var trustsRoot: Bool { bits & 1 != 0 }
    /// The client has the intermediate as a chain-building certificate.
    var addsIntermediate: Bool { bits & 2 != 0 }
    /// The client has a revocation list that revokes the leaf.
    var revokesLeaf: Bool { bits & 4 != 0 }
    /// The server speaks TLS 1.2 only, so its Certificate message is plaintext the edits reach.
    var tls12: Bool { bits & 8 != 0 }
    /// The server sends the leaf without the intermediate.
    var leafOnly: Bool { bits & 16 != 0 }

    /// What validating the untouched chain must give.
    var expectedStatus: CertificateStatus {
        guard trustsRoot, !leafOnly || addsIntermediate else { return .untrustedSigners }
        return revokesLeaf ? .revoked : .trusted
    }
}

/// Checks the client side of ``TLSEngine`` with the validation ``SecureSocket`` does (added
/// roots, chain-building certificates, revocation lists, the name check) against a real
/// server's handshake altered on the way: the bytes a hostile server or path could send.
///
/// Input: an options byte (see `ClientFuzzOptions`: trust, chain building, revocation, TLS 1.2
/// only, leaf-only chain), a seed byte for the read sizes, then edits of three bytes each: an
/// offset (u16, big-endian) into everything the server sends, and a byte XORed into it there.
///
/// Invariants: no crash or sanitizer report; without effective edits, the outcome is exactly
/// what the options say (a finished handshake and `trusted`, or a refusal with the expected
/// status); with edits, a handshake that finishes has verified the certificate (never finished
/// on a chain that did not verify); a refusal for a certificate maps to a status other than
/// `trusted` and `unknown`; the client holds at most one incomplete record of input; its
/// output is whole, bounded records; a failure stays the same failure.
///
/// - Throws: ``FuzzFailure`` when an invariant does not hold.
public func fuzzTLSClientHandshake(_ data: [UInt8]) throws(FuzzFailure) {
    var input = FuzzInput(data)
    let options = ClientFuzzOptions(bits: input.byte() ?? 0)
    var sizes = ChunkSizes(seed: input.byte() ?? 0)
    var edits: [Int: UInt8] = [:]
    while let high = input.byte(), let low = input.byte(), let mask = input.byte() {
        if mask != 0 { edits[Int(high) << 8 | Int(low), default: 0] ^= mask }
    }
    edits = edits.filter { $0.value != 0 }
    let setup = clientFuzzSetup
    let server = TLSEngine(context: setup.servers[(options.tls12 ? 2 : 0) + (options.leafOnly ? 1 : 0)])
    let client = TLSEngine(context: setup.clients[Int(options.bits & 7)], serverName: "127.0.0.1")

    var serverOffset = 0
    var failure: TLSFailure?
    var clientState = client.handshake()
    for _ in 0..<12 {
        var toServer: [UInt8] = []
        client.takeOutput { toServer.append(contentsOf: $0) }
        try checkClientRecords(toServer)
        toServer.withUnsafeBytes { server.receive($0) }
        _ = server.handshake()
        var toClient: [UInt8] = []
        server.takeOutput { toClient.append(contentsOf: $0) }
        if toClient.isEmpty, toServer.isEmpty { break }
        for index in toClient.indices {
            if let mask = edits[serverOffset + index] { toClient[index] ^= mask }
        }
        serverOffset += toClient.count
        // The client reads the flight in pieces, as a socket delivers it.
        var offset = 0
        while offset < toClient.count {
            let size = min(max(sizes.next(), 1), toClient.count - offset)
            toClient.withUnsafeBytes { client.receive(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + size)])) }
            offset += size
            let step = client.handshake()
            if case .failed(let now) = step {
                if let failure { try check(now == failure, "a failed handshake failed again differently: \(failure), then \(now)") }
                failure = now
            } else {
                try check(failure == nil, "the handshake went on after failing with \(failure!)")
            }
            if step == .needsInput {
                try check(client.bufferedInputCount <= maxTLSBufferedInput,
                          "\(client.bufferedInputCount) bytes of input wait unread after a read of \(size)")
            }
            clientState = step
        }
        if case .failed = clientState { break }
    }
    // What the handshake ended in.
    if let certificate = client.peerCertificate {
        try check(X509Certificate(der: certificate) != nil, "OpenSSL kept a peer certificate that does not parse")
    }
    let status = CertificateStatus(verifyResult: client.verifyResult)
    let edited = edits.keys.contains { $0 < serverOffset }
    switch clientState {
    case .done:
        try check(client.verifyResult == 0, "the handshake finished on a certificate that failed to verify (\(status))")
        if !edited {
            try check(options.expectedStatus == .trusted, "the handshake finished where \(options.expectedStatus) was due")
        }
    case .failed(let failure):
        if failure.reason == .certificate {
            try check(status != .trusted && status != .unknown, "a certificate refusal (\(failure)) maps to \(status)")
        }
        if !edited {
            try check(failure.reason == .certificate && status == options.expectedStatus,
                      "an untouched handshake failed with \(failure) (\(status)) where \(options.expectedStatus) was due")
        }
    case .needsInput:
        try check(edited, "an untouched handshake neither finished nor failed")
    }
}

/// Checks that the client's output is whole records within the size limit.
private func checkClientRecords(_ bytes: [UInt8]) throws(FuzzFailure) {
    try check(bytes.count <= maxTLSOutputPerCall, "\(bytes.count) bytes of client output in one flight")
    var offset = 0
    while offset < bytes.count {
        try check(bytes.count - offset >= 5, "client output ends in a partial record header")
        let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
        try check((20...23).contains(bytes[offset]), "a client record of content type \(bytes[offset])")
        try check(length <= maxTLSRecordLength && bytes.count - offset - 5 >= length, "a client record of \(length) bytes")
        offset += 5 + length
    }
}
