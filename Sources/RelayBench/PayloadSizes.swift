/// The payload size of every datagram a bench member sends: one size, or a range that each
/// datagram picks from, deterministically, the way a variable-bitrate codec such as Opus
/// varies its frames.
///
/// A size is a pure function of the seed, the sender's number and the datagram's number
/// (SplitMix64 of the three, reduced to the range), so two runs with the same flags send the
/// same sizes and no sender keeps random-number state.
public struct PayloadSizes: Sendable, Equatable, CustomStringConvertible {
    /// The smallest and the largest size, in bytes.
    public let range: ClosedRange<Int>
    /// Mixed into every pick; the same seed gives the same sizes.
    public let seed: UInt64

    /// Creates sizes spread uniformly over `range`.
    ///
    /// - Parameters:
    ///   - range: The smallest and the largest size, in bytes.
    ///   - seed: Mixed into every pick.
    public init(_ range: ClosedRange<Int>, seed: UInt64 = 0x6761_6D65_7265_6C61) {
        self.range = range
        self.seed = seed
    }

    /// Every datagram of `bytes` bytes.
    public static func fixed(_ bytes: Int) -> PayloadSizes {
        PayloadSizes(bytes ... bytes)
    }

    /// Reads `N` (one size) or `MIN-MAX` (a range), as the `--payload` flag takes them.
    ///
    /// - Parameter text: The flag's value.
    /// - Returns: nil when `text` is neither, or `MIN` exceeds `MAX`.
    public init?(parsing text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard let bytes = Int(parts[0]) else { return nil }
            self.init(bytes ... bytes)
        case 2:
            guard let low = Int(parts[0]), let high = Int(parts[1]), low <= high else { return nil }
            self.init(low ... high)
        default:
            return nil
        }
    }

    /// Whether every datagram has the same size.
    public var isFixed: Bool {
        range.lowerBound == range.upperBound
    }

    /// `100` for one size, `60-160` for a range: the form ``init(parsing:)`` reads.
    public var description: String {
        isFixed ? "\(range.lowerBound)" : "\(range.lowerBound)-\(range.upperBound)"
    }

    /// The size of one datagram.
    ///
    /// - Parameters:
    ///   - sender: The sender's number, e.g. its index in the run.
    ///   - packet: The datagram's number among the sender's.
    /// - Returns: A size in ``range``.
    @inline(__always)
    public func size(sender: Int, packet: UInt64) -> Int {
        guard !isFixed else { return range.lowerBound }
        let width = UInt64(range.upperBound - range.lowerBound) + 1
        let mixed = Self.splitMix64(seed ^ Self.splitMix64(UInt64(truncatingIfNeeded: sender) &+ Self.splitMix64(packet)))
        // Lemire's multiply-shift reduction: uniform enough for widths far below 2^32.
        return range.lowerBound + Int(mixed.multipliedFullWidth(by: width).high)
    }

    /// SplitMix64's finaliser (Steele, Lea, Flood 2014): a cheap bijective mix of all 64 bits.
    @inline(__always)
    static func splitMix64(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
