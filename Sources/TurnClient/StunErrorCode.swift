/// The value of an ERROR-CODE attribute (RFC 8489 §14.8): a code in 300…699 and a reason phrase.
public struct StunErrorCode: Hashable, Sendable, CustomStringConvertible {
    /// The numeric code, such as 401.
    public var code: Int
    /// The server's reason phrase (UTF-8, at most 128 characters).
    public var reason: String

    /// Creates an error code value.
    public init(code: Int, reason: String = "") {
        self.code = code
        self.reason = reason
    }

    /// 401 Unauthorized: retry with credentials (long-term mechanism).
    public static let unauthorized = 401
    /// 437 Allocation Mismatch: the 5-tuple already has (or lacks) an allocation.
    public static let allocationMismatch = 437
    /// 438 Stale Nonce: retry with the NONCE of this response.
    public static let staleNonce = 438
    /// 441 Wrong Credentials.
    public static let wrongCredentials = 441
    /// 486 Allocation Quota Reached.
    public static let allocationQuotaReached = 486
    /// 508 Insufficient Capacity.
    public static let insufficientCapacity = 508

    /// `401 Unauthorized`.
    public var description: String { reason.isEmpty ? "\(code)" : "\(code) \(reason)" }
}
