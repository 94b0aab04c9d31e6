/// The class of a STUN message (RFC 8489 §5): the two bits that say whether it asks, answers or informs.
///
/// An enum because the two bits admit exactly these four values.
public enum StunClass: UInt8, Hashable, Sendable {
    /// A request, which expects a response.
    case request = 0
    /// An indication, which expects none.
    case indication = 1
    /// A success response.
    case successResponse = 2
    /// An error response, carrying ERROR-CODE.
    case errorResponse = 3
}
