using System;

namespace GameRelay
{
    /// <summary>
    /// One update from another member, lent to <see cref="RelayClient.DataReceived"/> for the
    /// duration of the call: a DATA datagram, or one entry of an AGGREGATE in a tick session
    /// (PROTOCOL.md §8), so a game's receive code is the same for both kinds of session.
    /// </summary>
    public struct ReceivedData
    {
        /// <summary>The sender's member id.</summary>
        public readonly ushort Sender;
        /// <summary>The sender's sequence number for this update.</summary>
        public readonly uint Sequence;
        /// <summary>The DATA's target: <see cref="RelayPacket.Broadcast"/> (always for AGGREGATE entries) or this member's id.</summary>
        public readonly ushort Target;
        /// <summary>Whether the sender set LATEST (always for AGGREGATE entries).</summary>
        public readonly bool Latest;
        /// <summary>Whether the update came in an AGGREGATE; <see cref="Tick"/> is then the session's tick number.</summary>
        public readonly bool FromAggregate;
        /// <summary>The session's tick number for an AGGREGATE entry, else 0.</summary>
        public readonly uint Tick;
        /// <summary>The application bytes; the array is reused, so copy what you keep past the callback.</summary>
        public readonly ArraySegment<byte> Payload;

        /// <summary>Creates an update.</summary>
        public ReceivedData(ushort sender, uint sequence, ushort target, bool latest, bool fromAggregate, uint tick, ArraySegment<byte> payload)
        {
            Sender = sender;
            Sequence = sequence;
            Target = target;
            Latest = latest;
            FromAggregate = fromAggregate;
            Tick = tick;
            Payload = payload;
        }

        /// <summary>A copy of the payload, for keeping it past the callback.</summary>
        public byte[] ToArray()
        {
            var copy = new byte[Payload.Count];
            Buffer.BlockCopy(Payload.Array, Payload.Offset, copy, 0, Payload.Count);
            return copy;
        }
    }
}
