import Testing
@_spi(Testing) import UVNet

#if canImport(Glibc)
import Glibc
#endif

@Suite struct TLSContextTests {
    @Test func aServerContextFromTheTestPKI() throws {
        let pki = TLSFixtures.pki
        let context = try TLSContext.server(certificateChain: pki.chainPEM, privateKey: pki.leafKeyPEM)
        #expect(context.role == .server)
        #expect(!context.verifiesPeer)
        let now = Int64(time(nil))
        // The fixture's leaf runs for ten years from an hour ago.
        #expect(context.certificateNotAfter > now + 9 * 365 * 86_400)
        #expect(context.certificateNotAfter < now + 11 * 365 * 86_400)
    }

    @Test func anExpiredLeafIsTakenAsItIsAndItsExpiryIsInThePast() throws {
        let pki = TestCertificates(leafValidity: (-2 * 86_400, -86_400))
        let context = try TLSContext.server(certificateChain: pki.chainPEM, privateKey: pki.leafKeyPEM)
        let now = Int64(time(nil))
        #expect(context.certificateNotAfter < now - 86_000)
        #expect(context.certificateNotAfter > now - 87_000)
    }

    /// PEM text that must not make a server context, named for the test's output.
    struct BadPEM: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        var testDescription: String { name }
    }

    @Test(arguments: [
        BadPEM(name: "not PEM at all", bytes: bytes("hello, this is not a certificate\n")),
        BadPEM(name: "empty", bytes: []),
        BadPEM(name: "a key where the certificate belongs", bytes: TLSFixtures.pki.leafKeyPEM),
        BadPEM(name: "a certificate with a damaged body", bytes: TLSFixtures.damaged(TLSFixtures.pki.leafPEM)),
        BadPEM(name: "a chain whose intermediate is damaged",
               bytes: TLSFixtures.pki.leafPEM + TLSFixtures.damaged(TLSFixtures.pki.intermediatePEM)),
    ])
    func garbageForTheCertificateIsAnInvalidCertificate(garbage: BadPEM) {
        let error = tlsError { try TLSContext.server(certificateChain: garbage.bytes, privateKey: TLSFixtures.pki.leafKeyPEM) }
        #expect(error?.code == .invalidCertificate, "\(String(describing: error))")
        #expect(error?.message.contains("the certificate") == true)
    }

    @Test func garbageForTheKeyIsAnInvalidKey() {
        let pki = TLSFixtures.pki
        let error = tlsError { try TLSContext.server(certificateChain: pki.chainPEM, privateKey: bytes("no key here")) }
        #expect(error?.code == .invalidKey)
        let certificateAsKey = tlsError { try TLSContext.server(certificateChain: pki.chainPEM, privateKey: pki.leafPEM) }
        #expect(certificateAsKey?.code == .invalidKey)
    }

    @Test func aKeyOfAnotherCertificateIsAKeyMismatch() {
        let pki = TLSFixtures.pki
        let error = tlsError {
            try TLSContext.server(certificateChain: pki.chainPEM, privateKey: pki.otherKeyPEM, names: ("relay.crt", "relay.key"))
        }
        #expect(error?.code == .keyMismatch)
        #expect(error?.message.contains("relay.crt") == true && error?.message.contains("relay.key") == true,
                "\(String(describing: error))")
    }

    @Test func anEncryptedKeyIsRefusedWithoutAskingForAPassphrase() {
        let pki = TLSFixtures.pki
        let error = tlsError {
            try TLSContext.server(certificateChain: pki.chainPEM, privateKey: pki.encryptedLeafKeyPEM, names: ("relay.crt", "relay.key"))
        }
        #expect(error?.code == .invalidKey)
        #expect(error?.message.contains("encrypted") == true, "\(String(describing: error))")
    }

    @Test func serverContextFromFiles() throws {
        let pki = TLSFixtures.pki
        let directory = try TemporaryDirectory()
        let certificate = try directory.write("relay.crt", pki.chainPEM)
        let key = try directory.write("relay.key", pki.leafKeyPEM)
        let context = try TLSContext.server(certificateFile: certificate, keyFile: key)
        #expect(context.role == .server)
        #expect(context.certificateNotAfter > Int64(time(nil)))

        let wrongKey = try directory.write("other.key", pki.otherKeyPEM)
        let mismatch = tlsError { try TLSContext.server(certificateFile: certificate, keyFile: wrongKey) }
        #expect(mismatch?.code == .keyMismatch)
        #expect(mismatch?.message.contains(wrongKey) == true, "\(String(describing: mismatch))")
    }

    @Test func aMissingFileIsUnreadableAndNamed() throws {
        let directory = try TemporaryDirectory()
        let key = try directory.write("relay.key", TLSFixtures.pki.leafKeyPEM)
        let missing = directory.path + "/no-such.crt"
        let error = tlsError { try TLSContext.server(certificateFile: missing, keyFile: key) }
        #expect(error?.code == .unreadableFile)
        #expect(error?.message.contains(missing) == true, "\(String(describing: error))")
        #expect(error?.message.contains("No such file") == true, "\(String(describing: error))")

        let missingRoots = directory.path + "/no-such-roots.pem"
        let clientError = tlsError { try TLSContext.client(trustRootsFile: missingRoots) }
        #expect(clientError?.code == .unreadableFile)
        #expect(clientError?.message.contains(missingRoots) == true)
    }

    @Test func aClientContextTrustingTheTestRoot() throws {
        let context = try TLSContext.client(trustRoots: TLSFixtures.pki.rootPEM)
        #expect(context.role == .client)
        #expect(context.verifiesPeer)
        #expect(context.certificateNotAfter == 0)
        let unverified = try TLSContext.client(verify: false)
        #expect(!unverified.verifiesPeer)
    }

    @Test(arguments: [
        BadPEM(name: "not PEM", bytes: bytes("no certificates in here")),
        BadPEM(name: "empty", bytes: []),
        BadPEM(name: "only a key", bytes: TLSFixtures.pki.leafKeyPEM),
    ])
    func trustRootsWithoutACertificateAreInvalid(roots: BadPEM) throws {
        let error = tlsError { try TLSContext.client(trustRoots: roots.bytes) }
        #expect(error?.code == .invalidTrustRoots)

        let directory = try TemporaryDirectory()
        let file = try directory.write("roots.pem", roots.bytes)
        let fromFile = tlsError { try TLSContext.client(trustRootsFile: file) }
        #expect(fromFile?.code == .invalidTrustRoots)
        #expect(fromFile?.message.contains(file) == true)
    }
}

/// The ``TLSError`` that `body` throws, or nil when it returns; another error comes back as a
/// `.configuration` error naming it, so a comparison with the expected code fails clearly.
func tlsError<T>(_ body: () throws -> T) -> TLSError? {
    do {
        _ = try body()
        return nil
    } catch let error as TLSError {
        return error
    } catch {
        return TLSError(.configuration, "unexpected error \(error)")
    }
}

/// A fresh directory under `/tmp`, removed with its files when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/uvnet-tls-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw LoopSideFailure(description: "mkdtemp: errno \(errno)")
        }
        path = String(cString: made)
    }

    /// Writes `contents` to `name` in the directory and returns the file's path.
    func write(_ name: String, _ contents: [UInt8]) throws -> String {
        let file = path + "/" + name
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LoopSideFailure(description: "open \(file): errno \(errno)") }
        defer { close(fd) }
        let written = contents.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == contents.count else { throw LoopSideFailure(description: "write \(file): errno \(errno)") }
        return file
    }

    deinit {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}
