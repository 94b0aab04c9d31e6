import Foundation
import FuzzTargets
import Testing
@_spi(Testing) import UVNet

/// Every input the fuzzers keep (Fuzz/Corpus) and every crash they found (Fuzz/Crashes) runs
/// through the same checks as under libFuzzer, so a fixed bug stays fixed in an ordinary test run.
@Suite struct FuzzReplayTests {
    /// The repository's `Fuzz` folder, found from this file's path.
    static let fuzzRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    /// The files under `Fuzz/<folder>/<target>`, sorted; none when the folder does not exist.
    static func inputs(_ folder: String, _ target: FuzzTarget) -> [URL] {
        let directory = fuzzRoot.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyCorpusAndCrashInputKeepsTheInvariants(target: FuzzTarget) throws {
        let corpus = Self.inputs("Corpus", target)
        #expect(corpus.count >= 3, "\(target.rawValue) has no seed corpus under \(Self.fuzzRoot.path)/Corpus")
        for file in corpus + Self.inputs("Crashes", target) {
            let bytes = try [UInt8](Data(contentsOf: file))
            do {
                try target.run(bytes)
            } catch {
                Issue.record("\(target.rawValue) \(file.lastPathComponent): \(error)")
            }
        }
    }

    @Test func theBindCorpusReachesCookiesBindsPongsAndForwards() throws {
        var total = BindFuzzSummary()
        for file in Self.inputs("Corpus", .bind) {
            total.add(try fuzzBind([UInt8](Data(contentsOf: file))))
        }
        #expect(total.cookies > 0)
        #expect(total.binds > 0)
        #expect(total.acknowledgements > 0)
        #expect(total.pongs > 0)
        #expect(total.forwards > 0)
    }

    /// The TLS seeds are real ClientHellos: a server answers each whole one with its handshake
    /// (a ServerHello record first), so the fuzzer starts from handshakes that get somewhere.
    @Test func theTLSSeedsGetAServerHello() throws {
        let pki = TestCertificates()
        let context = try TLSContext.server(certificateChain: pki.chainPEM, privateKey: pki.leafKeyPEM)
        let seeds = Self.inputs("Corpus", .tlsHandshake).filter { $0.lastPathComponent.hasPrefix("seed-") }
        #expect(seeds.count >= 5)
        for file in seeds {
            let bytes = try [UInt8](Data(contentsOf: file)).dropFirst()
            let engine = TLSEngine(context: context)
            Array(bytes).withUnsafeBytes { engine.receive($0) }
            let step = engine.handshake()
            var answer: [UInt8] = []
            engine.takeOutput { answer.append(contentsOf: $0) }
            let name = file.lastPathComponent
            if name.contains("truncated") {
                #expect(step == .needsInput && answer.isEmpty, "\(name): \(step), \(answer.count) bytes")
            } else {
                // Type 22 (handshake), then after the 5-byte header, message type 2 (ServerHello).
                #expect(answer.count > 100 && answer[0] == 22 && answer[5] == 2, "\(name): answered \(answer.prefix(6))")
            }
        }
    }
}
