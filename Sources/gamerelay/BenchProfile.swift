import ArgumentParser
import RelayBench

/// What every simulated member of `gamerelay bench` sends: how often and how large, as one
/// named preset that the command's flags may override.
///
/// `positions` (the default) is a game's state stream: fixed 100-byte payloads at 30/s.
/// `voice` is a speaker: a 20 ms frame 50 times a second, each 60 to 160 bytes, varying per
/// frame like an Opus stream at a variable bitrate. Neither sets the LATEST flag: every
/// datagram counts. A new workload adds a case and a preset here, and the runner reads its
/// fields rather than the name.
struct BenchProfile: Sendable, Equatable {
    /// The names `--profile` takes.
    enum Name: String, CaseIterable, Sendable, ExpressibleByArgument {
        case positions
        case voice
    }

    /// The profile's name, as reports show it.
    var name: Name
    /// Datagrams per second per member.
    var rate: Double
    /// The payload size of each datagram.
    var payload: PayloadSizes

    /// A game's position updates: 100 bytes at 30/s per member.
    static let positions = BenchProfile(name: .positions, rate: 30, payload: .fixed(100))

    /// A voice speaker: one 20 ms frame at 50/s, 60–160 bytes each, seeded per frame.
    static let voice = BenchProfile(name: .voice, rate: 50, payload: PayloadSizes(60 ... 160))

    /// The preset of a name.
    static func named(_ name: Name) -> BenchProfile {
        switch name {
        case .positions: positions
        case .voice: voice
        }
    }

    /// This profile with the flags the user gave in place of its own values.
    ///
    /// - Parameters:
    ///   - rate: `--rate`, or nil to keep the profile's.
    ///   - payload: `--payload`, or nil to keep the profile's.
    func overriding(rate: Double?, payload: PayloadSizes?) -> BenchProfile {
        var profile = self
        if let rate { profile.rate = rate }
        if let payload { profile.payload = payload }
        return profile
    }
}
