import Foundation
import Logging
import RelayServer
import TestSupport
@_spi(Testing) import UVNet

/// Starts a relay on `loop` for the client tests: loopback port 0, quiet logs, and with `pki`
/// its certificate chain and key written into `directory` and served over TLS.
///
/// - Returns: The relay and its control port.
func startClientTestRelay(on loop: EventLoop, host: String, pki: TestCertificates?, directory: URL, label: String,
                          configure: @escaping @Sendable (inout RelayConfig) -> Void = { _ in }) async throws -> (LoopBound<RelayServer>, Int) {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let certificate = directory.appendingPathComponent("chain.pem").path
    let key = directory.appendingPathComponent("key.pem").path
    if let pki {
        try Data(pki.chainPEM).write(to: URL(fileURLWithPath: certificate))
        try Data(pki.leafKeyPEM).write(to: URL(fileURLWithPath: key))
    }
    let withTLS = pki != nil
    return try await loop.submit {
        var config = RelayConfig()
        config.host = host
        config.port = 0
        if withTLS {
            config.tlsCertificateFile = certificate
            config.tlsKeyFile = key
        }
        configure(&config)
        var logger = Logger(label: label)
        logger.logLevel = .warning
        let server = RelayServer(loop: loop, config: config, logger: logger)
        try server.start()
        return (LoopBound(server, loop: loop), server.controlAddress!.port)
    }
}
