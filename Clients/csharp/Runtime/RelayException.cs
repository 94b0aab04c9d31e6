using System;

namespace GameRelay
{
    /// <summary>What kind of failure a <see cref="RelayException"/> reports.</summary>
    public enum RelayErrorKind
    {
        /// <summary>The relay answered <c>ok: false</c>; <see cref="RelayException.Code"/> says why.</summary>
        Refused,
        /// <summary>No answer within the client's timeout (a request, the connect, or 10 BINDs).</summary>
        TimedOut,
        /// <summary>The operation needs a joined session.</summary>
        NotJoined,
        /// <summary>A payload that would make a datagram larger than <see cref="RelayClient.MaxDatagram"/>; nothing was sent.</summary>
        DatagramTooLarge,
        /// <summary>The relay sent something the client could not read.</summary>
        ProtocolViolation,
        /// <summary>The control connection is closed or closed while the operation waited.</summary>
        Closed,
        /// <summary>The TLS handshake failed or the relay's certificate was refused.</summary>
        Tls,
        /// <summary>A socket error; <see cref="Exception.InnerException"/> holds it.</summary>
        Io,
        /// <summary>
        /// A request the relay would refuse, caught before sending (a <c>name</c> over 64 bytes of
        /// UTF-8, a message over 16384 bytes); nothing was sent.
        /// </summary>
        InvalidRequest,
    }

    /// <summary>The relay's error codes (PROTOCOL.md §1.2), as a value.</summary>
    public enum RelayErrorCode
    {
        /// <summary>Not a refusal by the relay (see <see cref="RelayException.Kind"/>), or a code this client does not know.</summary>
        None,
        /// <summary><c>bad_request</c>: unparsable message, missing or mistyped field, value out of range.</summary>
        BadRequest,
        /// <summary><c>unknown_op</c>.</summary>
        UnknownOp,
        /// <summary><c>unsupported_version</c>.</summary>
        UnsupportedVersion,
        /// <summary><c>message_too_large</c>.</summary>
        MessageTooLarge,
        /// <summary><c>not_found</c>: no such session, join code, or member.</summary>
        NotFound,
        /// <summary><c>full</c>: session at capacity, or out of member ids.</summary>
        Full,
        /// <summary><c>already_joined</c>.</summary>
        AlreadyJoined,
        /// <summary><c>not_joined</c>.</summary>
        NotJoined,
        /// <summary><c>forbidden</c>: kick by a member who is not the owner.</summary>
        Forbidden,
        /// <summary><c>rate_limited</c>.</summary>
        RateLimited,
        /// <summary><c>shutting_down</c>: the relay is draining.</summary>
        ShuttingDown,
        /// <summary><c>tls_required</c>: the relay only talks inside TLS.</summary>
        TlsRequired,
        /// <summary>A code the relay sent that this client does not know; <see cref="RelayException.RelayCode"/> holds its text.</summary>
        Unknown,
    }

    /// <summary>
    /// The one exception type of <see cref="RelayClient"/>: a kind, the relay's error code when it
    /// refused a request, and the relay's own message as <see cref="Exception.Message"/>.
    /// </summary>
    public sealed class RelayException : Exception
    {
        /// <summary>What kind of failure this is.</summary>
        public RelayErrorKind Kind { get; private set; }
        /// <summary>The relay's error code when <see cref="Kind"/> is <see cref="RelayErrorKind.Refused"/>.</summary>
        public RelayErrorCode Code { get; private set; }
        /// <summary>The relay's error code as it sent it (<c>not_found</c>, …), or null.</summary>
        public string RelayCode { get; private set; }

        /// <summary>Creates an exception of <paramref name="kind"/>.</summary>
        public RelayException(RelayErrorKind kind, string message, Exception inner = null)
            : base(message, inner)
        {
            Kind = kind;
            Code = RelayErrorCode.None;
        }

        /// <summary>Creates the exception for a refusal by the relay: its <c>code</c> and <c>message</c>.</summary>
        public static RelayException Refused(string relayCode, string message)
        {
            var e = new RelayException(RelayErrorKind.Refused, message ?? "refused");
            e.RelayCode = relayCode;
            e.Code = ParseCode(relayCode);
            return e;
        }

        /// <summary>The enum value of a relay error code's text.</summary>
        public static RelayErrorCode ParseCode(string relayCode)
        {
            switch (relayCode)
            {
                case "bad_request": return RelayErrorCode.BadRequest;
                case "unknown_op": return RelayErrorCode.UnknownOp;
                case "unsupported_version": return RelayErrorCode.UnsupportedVersion;
                case "message_too_large": return RelayErrorCode.MessageTooLarge;
                case "not_found": return RelayErrorCode.NotFound;
                case "full": return RelayErrorCode.Full;
                case "already_joined": return RelayErrorCode.AlreadyJoined;
                case "not_joined": return RelayErrorCode.NotJoined;
                case "forbidden": return RelayErrorCode.Forbidden;
                case "rate_limited": return RelayErrorCode.RateLimited;
                case "shutting_down": return RelayErrorCode.ShuttingDown;
                case "tls_required": return RelayErrorCode.TlsRequired;
                default: return RelayErrorCode.Unknown;
            }
        }

        /// <summary>The kind, the relay's code when it has one, and the message.</summary>
        public override string ToString()
        {
            return RelayCode != null ? Kind + " (" + RelayCode + "): " + Message : Kind + ": " + Message;
        }
    }
}
