namespace GameRelay
{
    /// <summary>Which event the relay pushed (PROTOCOL.md §1.4), or the end of the connection.</summary>
    public enum RelayEventKind
    {
        /// <summary>Another member joined: <see cref="RelayEvent.Member"/>, <see cref="RelayEvent.Name"/>.</summary>
        Joined,
        /// <summary>A member left: <see cref="RelayEvent.Member"/>, <see cref="RelayEvent.Reason"/> (<c>leave</c>, <c>disconnect</c>, <c>kick</c>, <c>timeout</c>).</summary>
        Left,
        /// <summary>Ownership moved to <see cref="RelayEvent.Member"/>.</summary>
        Owner,
        /// <summary>This member's UDP address is bound; <see cref="RelayEvent.Address"/> is the relay's text of it.</summary>
        Bound,
        /// <summary>This member's UDP binding idled out (<see cref="RelayEvent.Reason"/> <c>idle</c>); the client binds again when <see cref="RelayClient.AutoRebind"/> is set.</summary>
        Unbound,
        /// <summary>The owner kicked this member; the relay closes the connection next.</summary>
        Kicked,
        /// <summary>The relay is draining and closes within <see cref="RelayEvent.DrainMs"/> milliseconds.</summary>
        Shutdown,
        /// <summary>The relay is about to close the connection (<see cref="RelayEvent.Reason"/> <c>idle</c> or <c>drain</c>).</summary>
        Closing,
        /// <summary>The control connection closed.</summary>
        Closed,
    }

    /// <summary>An event from the relay, raised by <see cref="RelayClient.Poll"/> on the caller's thread.</summary>
    public sealed class RelayEvent
    {
        /// <summary>Which event this is.</summary>
        public RelayEventKind Kind { get; private set; }
        /// <summary>The member the event is about (<c>joined</c>, <c>left</c>, <c>owner</c>), else 0.</summary>
        public ushort Member { get; private set; }
        /// <summary>The member's name for <c>joined</c>, else empty.</summary>
        public string Name { get; private set; }
        /// <summary>The reason for <c>left</c>, <c>unbound</c> and <c>closing</c>, else empty.</summary>
        public string Reason { get; private set; }
        /// <summary>The bound address for <c>bound</c> (PROTOCOL.md §3), else empty.</summary>
        public string Address { get; private set; }
        /// <summary>The drain time for <c>shutdown</c>, else 0.</summary>
        public long DrainMs { get; private set; }

        /// <summary>Creates an event.</summary>
        public RelayEvent(RelayEventKind kind, ushort member = 0, string name = "", string reason = "", string address = "", long drainMs = 0)
        {
            Kind = kind;
            Member = member;
            Name = name ?? "";
            Reason = reason ?? "";
            Address = address ?? "";
            DrainMs = drainMs;
        }

        /// <summary>The kind and its fields, for logs.</summary>
        public override string ToString()
        {
            switch (Kind)
            {
                case RelayEventKind.Joined: return "joined member=" + Member + " name=" + Name;
                case RelayEventKind.Left: return "left member=" + Member + " reason=" + Reason;
                case RelayEventKind.Owner: return "owner member=" + Member;
                case RelayEventKind.Bound: return "bound address=" + Address;
                case RelayEventKind.Unbound: return "unbound reason=" + Reason;
                case RelayEventKind.Shutdown: return "shutdown drainMs=" + DrainMs;
                case RelayEventKind.Closing: return "closing reason=" + Reason;
                default: return Kind.ToString().ToLowerInvariant();
            }
        }
    }
}
