/// What one ``fuzzBind(_:)`` input made the data plane do, so a test can tell that the seed
/// corpus reaches the deep states (a cookie, a bind, a forward) and not only the drops.
public struct BindFuzzSummary: Hashable, Sendable {
    /// Datagrams handed in.
    public var datagrams = 0
    /// Cookie-carrying BIND_ACKs sent.
    public var cookies = 0
    /// Empty BIND_ACKs sent.
    public var acknowledgements = 0
    /// Bindings made or moved.
    public var binds = 0
    /// PONGs sent.
    public var pongs = 0
    /// DATA copies forwarded.
    public var forwards = 0

    /// Creates an all-zero summary.
    public init() {}

    /// Adds another input's counts, to summarise a corpus.
    public mutating func add(_ other: BindFuzzSummary) {
        datagrams += other.datagrams
        cookies += other.cookies
        acknowledgements += other.acknowledgements
        binds += other.binds
        pongs += other.pongs
        forwards += other.forwards
    }
}
