import ArgumentParser
import UVNet

/// `--tls`, `--ca` and `--tls-server-name` of the client commands (`ping`, `bench`): the
/// control channel inside TLS (PROTOCOL.md §6).
struct ClientTLSOptions: ParsableArguments {
    @Flag(help: "Open the control channel inside TLS, verifying the relay's certificate (against the system's trust store unless --ca is given).")
    var tls = false

    @Option(name: .customLong("ca"), help: ArgumentHelp("PEM trust roots the relay's certificate must lead to, instead of the system's store (implies --tls).", valueName: "file"))
    var caFile: String?

    @Option(help: ArgumentHelp("The name the relay's certificate must carry, and the SNI sent (default: the relay's host; implies --tls).", valueName: "name"))
    var tlsServerName: String?

    /// Whether the control channel goes inside TLS.
    var enabled: Bool { tls || caFile != nil || tlsServerName != nil }

    /// The one client context a run shares among all its connections, or nil without TLS.
    ///
    /// - Parameter trustRoots: PEM roots to trust when `--ca` is not given (an in-process
    ///   relay's throwaway root); nil for the system's store.
    /// - Throws: ``ClientTLSOptions/Failure`` with one line saying why (an unreadable `--ca`, a
    ///   file without certificates, a system store that would not load).
    func makeContext(trustRoots: [UInt8]? = nil) throws(Failure) -> TLSContext? {
        guard enabled else { return nil }
        do throws(TLSError) {
            if let caFile { return try TLSContext.client(trustRootsFile: caFile) }
            return try TLSContext.client(trustRoots: trustRoots)
        } catch {
            throw Failure(message: error.message)
        }
    }

    /// Why no client context could be made: one line for the user.
    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
