import ArgumentParser
import Foundation
import RelayServer

#if canImport(Glibc)
import Glibc
#endif

/// The `gamerelay` command: `serve` runs the relay.
@main
struct GameRelayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gamerelay",
        abstract: "A UDP relay for real-time game state.",
        version: RelayConfig.version,
        subcommands: [ServeCommand.self, BenchCommand.self, PingCommand.self],
        defaultSubcommand: nil
    )

    /// Parses and runs, printing a bad flag as one line on stderr (the command-line contract)
    /// rather than argument-parser's multi-line usage block.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help and --version are a clean exit with text for stdout.
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            let text = message(for: error)
                .split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
                .joined(separator: " ")
            // An ExitCode thrown by a command that already explained itself carries no text.
            if !text.isEmpty { Console.error("gamerelay: error: \(text)\n") }
            Glibc.exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}
