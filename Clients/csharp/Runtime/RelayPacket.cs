using System;

namespace GameRelay
{
    /// <summary>
    /// The data channel's 16-byte datagram header (PROTOCOL.md §2.1), big-endian, and the layout
    /// of AGGREGATE entries (§8). Pure byte handling, no sockets.
    /// </summary>
    public static class RelayPacket
    {
        /// <summary>The header size in bytes.</summary>
        public const int HeaderSize = 16;
        /// <summary>The first byte of every datagram, ASCII 'G'.</summary>
        public const byte Magic = 0x47;
        /// <summary>The protocol version in the second byte.</summary>
        public const byte Version = 1;
        /// <summary>The <c>target</c> that means every other bound member.</summary>
        public const ushort Broadcast = 0xFFFF;
        /// <summary>The LATEST flag (bit 0).</summary>
        public const byte FlagLatest = 0x01;
        /// <summary>BIND: client to relay, token (and cookie).</summary>
        public const byte TypeBind = 1;
        /// <summary>BIND_ACK: relay to client, empty or an 8-byte cookie.</summary>
        public const byte TypeBindAck = 2;
        /// <summary>DATA: application bytes.</summary>
        public const byte TypeData = 3;
        /// <summary>PING: at most 64 bytes, echoed in a PONG.</summary>
        public const byte TypePing = 4;
        /// <summary>PONG: the PING's payload, unchanged.</summary>
        public const byte TypePong = 5;
        /// <summary>AGGREGATE: other members' latest states in a tick session.</summary>
        public const byte TypeAggregate = 6;
        /// <summary>The token's size in a BIND.</summary>
        public const int TokenSize = 16;
        /// <summary>The cookie's size in a BIND_ACK and the BIND that answers it.</summary>
        public const int CookieSize = 8;
        /// <summary>The size of one AGGREGATE entry's own header: member, sequence, length.</summary>
        public const int EntryHeaderSize = 8;
        /// <summary>The largest PING payload the relay accepts.</summary>
        public const int MaxPingPayload = 64;

        /// <summary>Writes a header at <paramref name="offset"/> of <paramref name="buffer"/>.</summary>
        public static void WriteHeader(byte[] buffer, int offset, byte type, byte flags, uint session, ushort member,
                                       ushort target, uint sequence)
        {
            buffer[offset] = Magic;
            buffer[offset + 1] = Version;
            buffer[offset + 2] = type;
            buffer[offset + 3] = flags;
            WriteUInt32(buffer, offset + 4, session);
            WriteUInt16(buffer, offset + 8, member);
            WriteUInt16(buffer, offset + 10, target);
            WriteUInt32(buffer, offset + 12, sequence);
        }

        /// <summary>Whether <paramref name="count"/> bytes at <paramref name="offset"/> start with a version-1 header.</summary>
        public static bool HasHeader(byte[] buffer, int offset, int count)
        {
            return count >= HeaderSize && buffer[offset] == Magic && buffer[offset + 1] == Version;
        }

        /// <summary>Reads a big-endian u16.</summary>
        public static ushort ReadUInt16(byte[] buffer, int offset)
        {
            return (ushort)((buffer[offset] << 8) | buffer[offset + 1]);
        }

        /// <summary>Reads a big-endian u32.</summary>
        public static uint ReadUInt32(byte[] buffer, int offset)
        {
            return ((uint)buffer[offset] << 24) | ((uint)buffer[offset + 1] << 16) | ((uint)buffer[offset + 2] << 8) | buffer[offset + 3];
        }

        /// <summary>Writes a big-endian u16.</summary>
        public static void WriteUInt16(byte[] buffer, int offset, ushort value)
        {
            buffer[offset] = (byte)(value >> 8);
            buffer[offset + 1] = (byte)value;
        }

        /// <summary>Writes a big-endian u32.</summary>
        public static void WriteUInt32(byte[] buffer, int offset, uint value)
        {
            buffer[offset] = (byte)(value >> 24);
            buffer[offset + 1] = (byte)(value >> 16);
            buffer[offset + 2] = (byte)(value >> 8);
            buffer[offset + 3] = (byte)value;
        }

        /// <summary>Writes a big-endian u64.</summary>
        public static void WriteUInt64(byte[] buffer, int offset, ulong value)
        {
            WriteUInt32(buffer, offset, (uint)(value >> 32));
            WriteUInt32(buffer, offset + 4, (uint)value);
        }

        /// <summary>Reads a big-endian u64.</summary>
        public static ulong ReadUInt64(byte[] buffer, int offset)
        {
            return ((ulong)ReadUInt32(buffer, offset) << 32) | ReadUInt32(buffer, offset + 4);
        }

        /// <summary>
        /// Checks that the entries of an AGGREGATE datagram fill it exactly (PROTOCOL.md §8), so a
        /// malformed one delivers none of its entries rather than some.
        /// </summary>
        /// <returns>The number of entries, or -1 when the datagram is malformed.</returns>
        public static int CountAggregateEntries(byte[] buffer, int offset, int count)
        {
            if (!HasHeader(buffer, offset, count) || buffer[offset + 2] != TypeAggregate) return -1;
            int position = offset + HeaderSize;
            int end = offset + count;
            int entries = 0;
            while (position < end)
            {
                if (end - position < EntryHeaderSize) return -1;
                int length = ReadUInt16(buffer, position + 6);
                position += EntryHeaderSize;
                if (end - position < length) return -1;
                position += length;
                entries++;
            }
            return entries;
        }
    }
}
