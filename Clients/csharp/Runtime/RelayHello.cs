using System.Collections.Generic;

namespace GameRelay
{
    /// <summary>The relay's answer to <c>hello</c> (PROTOCOL.md §1.3).</summary>
    public sealed class RelayHello
    {
        /// <summary>The relay's <c>server</c> text, such as <c>gamerelay/0.1.0</c>.</summary>
        public string Server;
        /// <summary>The UDP port datagrams go to.</summary>
        public int UdpPort;
        /// <summary>The largest datagram the relay accepts, header included.</summary>
        public int MaxDatagram;
        /// <summary>How long a UDP binding lives without traffic, in milliseconds.</summary>
        public long IdleTimeoutMs;
        /// <summary>The extensions the relay offers: <c>tls</c>, <c>websocket</c>, <c>tick</c>.</summary>
        public List<string> Features = new List<string>();
        /// <summary>Whether this control connection runs inside TLS.</summary>
        public bool Tls;

        /// <summary>Whether <see cref="Features"/> lists <paramref name="feature"/>.</summary>
        public bool Offers(string feature) { return Features.Contains(feature); }
    }

    /// <summary>A session the relay created (<c>create</c>); creating does not join it.</summary>
    public sealed class CreatedSession
    {
        /// <summary>The 16-hex-digit session id.</summary>
        public string Session;
        /// <summary>The 6-character join code.</summary>
        public string Code;
        /// <summary>The session's capacity.</summary>
        public int Capacity;
        /// <summary>The tick rate in Hz for a tick session (PROTOCOL.md §8), else 0.</summary>
        public int Tick;
    }

    /// <summary>Another member as the <c>join</c> reply lists it.</summary>
    public struct MemberInfo
    {
        /// <summary>The member's id.</summary>
        public ushort Member;
        /// <summary>The member's name.</summary>
        public string Name;
    }

    /// <summary>This client's membership, from the <c>join</c> reply.</summary>
    public sealed class Membership
    {
        /// <summary>The 16-hex-digit session id.</summary>
        public string Session;
        /// <summary>The low 32 bits of the session id, as datagram headers carry it.</summary>
        public uint SessionLow;
        /// <summary>This member's id.</summary>
        public ushort Member;
        /// <summary>The 16-byte token that authorises BINDs.</summary>
        public byte[] Token;
        /// <summary>The relay's UDP port.</summary>
        public int UdpPort;
        /// <summary>The other members at join time, in join order.</summary>
        public List<MemberInfo> Members = new List<MemberInfo>();
        /// <summary>The owner's member id at join time.</summary>
        public ushort Owner;
    }
}
