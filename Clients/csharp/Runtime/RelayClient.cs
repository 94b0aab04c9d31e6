using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace GameRelay
{
    /// <summary>Whether the control channel runs inside TLS (PROTOCOL.md §6).</summary>
    public enum RelayTlsMode
    {
        /// <summary>Plain TCP.</summary>
        Off,
        /// <summary>
        /// Plain first; when <c>hello</c> lists the <c>tls</c> feature (or the relay answers
        /// <c>tls_required</c>), reconnect inside TLS before anything else is sent. An attacker on
        /// the path can strip the offer, so use <see cref="Required"/> when the relay is known.
        /// </summary>
        WhenOffered,
        /// <summary>TLS from the first byte; a relay without it fails the connect.</summary>
        Required,
    }

    /// <summary>
    /// A game's connection to a GameRelay relay: the control channel (hello, create, join, leave,
    /// kick, events) over TCP or TLS, and the data channel (BIND, DATA, PING, AGGREGATE) over UDP.
    /// </summary>
    /// <remarks>
    /// Single-threaded by design: <see cref="Poll"/>, called once per frame (a MonoBehaviour's
    /// <c>Update</c>), does all the I/O and raises every event and completion on the caller's
    /// thread, without waiting on the network (non-blocking sockets; DNS and TLS run as
    /// asynchronous operations that Poll collects). Call every method from that one thread. The
    /// client starts no thread of its own unless <see cref="StartReceiveThread"/> is called.
    /// </remarks>
    public sealed class RelayClient : IDisposable
    {
        enum Phase { Idle, Resolving, Connecting, Handshaking, Hello, Open, Closed }

        sealed class PendingRequest
        {
            public string Op;
            public long DeadlineMs;
            public Action<Dictionary<string, object>, RelayException> Handler;
        }

        sealed class BindAttempt
        {
            public int Tries;
            public long NextAtMs;
            /// <summary>The sequence of this attempt's first BIND: acks to older BINDs carry earlier ones.</summary>
            public uint FirstSequence;
            public byte[] Cookie = new byte[0];
            public RelayOperation<bool> Operation;
        }

        struct QueuedDatagram
        {
            /// <summary>The socket it arrived on: one a rebind replaced no longer speaks for the member.</summary>
            public Socket Socket;
            public byte[] Bytes;
            public int Count;
            public long ArrivalTicks;
        }

        /// <summary>One packet at Ethernet's MTU less the IPv4 and UDP headers: no datagram is larger.</summary>
        public const int LargestDatagramIPv4 = 1472;
        /// <summary>The same for IPv6, whose header is 20 bytes longer.</summary>
        public const int LargestDatagramIPv6 = 1452;
        /// <summary>How many BINDs the client sends in all before giving up (PROTOCOL.md §2.2).</summary>
        public const int BindMaxTries = 10;
        /// <summary>The longest <c>name</c> in bytes of UTF-8 a join may carry (PROTOCOL.md §1.3).</summary>
        public const int MaxNameBytes = 64;
        /// <summary>The largest control message the client sends: the relay's default <c>maxControlMessage</c> (PROTOCOL.md §1.1).</summary>
        public const int MaxRequestBytes = 16384;
        /// <summary>The largest control message the client accepts from the relay.</summary>
        public const int MaxControlMessage = 1 << 20;
        /// <summary>The most control bytes the client queues unsent before it gives up on the connection.</summary>
        public const int MaxControlBacklog = 8 << 20;
        /// <summary>The most control bytes one <see cref="Poll"/> reads; the rest wait for the next, so a burst can't stall a frame.</summary>
        public const int MaxControlBytesPerPoll = 256 * 1024;
        /// <summary>The most control messages one <see cref="Poll"/> handles; the rest wait for the next.</summary>
        public const int MaxControlMessagesPerPoll = 1024;
        /// <summary>How many datagrams the background receive thread holds for <see cref="Poll"/> before it drops.</summary>
        public const int MaxQueuedDatagrams = 4096;

        static readonly Stopwatch Clock = Stopwatch.StartNew();
        static readonly byte[] KeepAlivePing = Encoding.UTF8.GetBytes("{\"op\":\"ping\"}\0");

        Phase phase = Phase.Idle;
        string host;
        int port;
        IPAddress relayAddress;
        /// <summary>The host name's addresses, tried in turn until one accepts the TCP connection.</summary>
        IPAddress[] addresses;
        int addressIndex;
        Task<IPAddress[]> lookup;
        /// <summary>How the client resolves a host name; tests stand in other answers here.</summary>
        internal Func<string, Task<IPAddress[]>> Resolve = Dns.GetHostAddressesAsync;
        Socket tcp;
        SslStream tls;
        bool useTls;
        IAsyncResult handshake;
        Task<int> tlsRead;
        long phaseDeadlineMs;
        RelayOperation<RelayHello> connectOperation;
        readonly byte[] readBuffer = new byte[16384];
        /// <summary>The bytes of <see cref="readBuffer"/> read but not parsed yet: from readStart to readEnd.</summary>
        int readStart, readEnd;
        byte[] frame = new byte[1024];
        int frameCount;
        byte[] output = new byte[4096];
        int outputCount;
        /// <summary>Inside TLS: the one write in flight, the buffer it sends from, and its length.</summary>
        Task tlsWrite;
        byte[] writing;
        int writingCount;
        /// <summary>The bound on unsent control bytes; tests lower it.</summary>
        internal int ControlBacklogLimit = MaxControlBacklog;
        /// <summary>The per-Poll bounds on control input; tests lower them.</summary>
        internal int ControlBytesPerPoll = MaxControlBytesPerPoll, ControlMessagesPerPoll = MaxControlMessagesPerPoll;
        /// <summary>What the current Poll has read and handled of the control channel so far.</summary>
        int bytesThisPoll, messagesThisPoll;
        long nextRequestId = 1;
        readonly Dictionary<long, PendingRequest> pending = new Dictionary<long, PendingRequest>();
        long nextKeepAliveMs;
        /// <summary>Counts control connections, so bytes read on one are never handled after a handler replaced it.</summary>
        int connectionGeneration;
        /// <summary>Whether <see cref="Poll"/> is running, so a callback's own Poll is refused.</summary>
        bool polling;
        /// <summary>The first exception a game callback threw since it was last rethrown.</summary>
        Exception callbackError;

        volatile Socket udp;
        readonly byte[] sendBuffer = new byte[LargestDatagramIPv4];
        readonly byte[] receiveBuffer = new byte[65536];
        uint dataSequence;
        uint pingSequence;
        /// <summary>Counts BINDs; each carries its own in the sequence field, which the BIND_ACK copies back.</summary>
        uint bindSequence;
        /// <summary>The round-trip time of the last PONG, in milliseconds; 0 before any.</summary>
        double lastRttMs;
        BindAttempt bindAttempt;
        long lastDatagramSentMs;
        long nextAddressCheckMs;
        /// <summary>The local address the routing table picked for the relay when the UDP socket was opened.</summary>
        IPAddress routeLocalAddress;
        /// <summary>How the address check asks the routing table; tests stand in a network change here.</summary>
        internal Func<IPEndPoint, IPAddress> LocalAddressProbe = ProbeLocalAddress;
        int relayMaxDatagram = 1200;

        Thread receiveThread;
        volatile bool receiveThreadStop;
        readonly Queue<QueuedDatagram> received = new Queue<QueuedDatagram>();
        readonly Queue<byte[]> spareBuffers = new Queue<byte[]>();
        int queueDrops;
        /// <summary>The bound on the receive thread's queue; tests lower it.</summary>
        internal int QueueLimit = MaxQueuedDatagrams;
        /// <summary>Drops the receive thread counted that <see cref="Poll"/> has not added to <see cref="DatagramsDropped"/> yet.</summary>
        internal int PendingQueueDrops { get { lock (received) return queueDrops; } }

        /// <summary>How long a request waits for its reply, and the connect for each of its steps, in milliseconds.</summary>
        public int RequestTimeoutMs = 10000;
        /// <summary>
        /// How often the client sends <c>ping</c> on the control channel, so the relay's control
        /// idle timeout never closes a member that only streams UDP (PROTOCOL.md §1.1: at least
        /// every 10 s, so the default leaves room for a late frame); 0 sends none.
        /// </summary>
        public int KeepAliveIntervalMs = 8000;
        /// <summary>
        /// How long the data channel may stay silent before the client sends a PING to keep its
        /// binding (PROTOCOL.md §2.4: PING or DATA at least every 2 s); 0 sends none. Never longer
        /// than a third of the relay's <c>idleTimeoutMs</c> from <c>hello</c>.
        /// </summary>
        public int DataKeepAliveIntervalMs = 1500;
        /// <summary>The pause between BINDs (PROTOCOL.md §2.2).</summary>
        public int BindRetryIntervalMs = 250;
        /// <summary>
        /// How long the client waits after its 10th BIND for a late BIND_ACK or <c>bound</c> event
        /// before it fails the bind; twice the last PING round trip when that is longer.
        /// </summary>
        public int BindFinalWaitMs = 1000;
        /// <summary>
        /// How often <see cref="Poll"/> asks the routing table which local address reaches the
        /// relay, and rebinds from a new socket when it changed (a Wi-Fi to mobile handover); 0 never.
        /// </summary>
        public int AddressCheckIntervalMs = 1000;
        /// <summary>Whether the client binds again on its own when the relay reports the binding idled out (<c>unbound</c>).</summary>
        public bool AutoRebind = true;
        /// <summary>
        /// A UDP port to send datagrams to instead of the one the relay announces; 0 uses the
        /// relay's. For a relay behind a port forward that maps its UDP port to another.
        /// </summary>
        public int DataPortOverride;
        /// <summary>The <c>client</c> text sent in <c>hello</c>.</summary>
        public string ClientName = "gamerelay-csharp/1.0";
        /// <summary>Whether the control channel runs inside TLS; set before <see cref="Connect"/>.</summary>
        public RelayTlsMode Tls = RelayTlsMode.Off;
        /// <summary>The name the relay's certificate must carry (and SNI); the host given to <see cref="Connect"/> when null.</summary>
        public string TlsServerName;
        /// <summary>TLS versions to offer; the relay speaks 1.2 and 1.3.</summary>
        public SslProtocols TlsProtocols = SslProtocols.Tls12;
        /// <summary>
        /// A certificate the relay's must equal byte for byte (a self-signed relay); when set,
        /// chain and name errors are ignored for that certificate only.
        /// </summary>
        public X509Certificate PinnedCertificate;
        /// <summary>A validation callback that replaces the default (a chain the system trusts, with the right name).</summary>
        /// <remarks>
        /// SslStream calls it during the handshake on a thread-pool thread, not the thread that
        /// calls <see cref="Poll"/>: it must not touch the client or the game's objects.
        /// </remarks>
        public RemoteCertificateValidationCallback CertificateValidation;

        /// <summary>Relay events, and <see cref="RelayEventKind.Closed"/> when the control connection ends.</summary>
        public event Action<RelayEvent> EventReceived;
        /// <summary>Updates from other members: each DATA datagram, and each entry of an AGGREGATE as an update of its own.</summary>
        public event Action<ReceivedData> DataReceived;
        /// <summary>PONG answers to <see cref="Ping"/>: the PING's sequence and the round-trip time in milliseconds.</summary>
        public event Action<uint, double> PongReceived;

        /// <summary>The relay's <c>hello</c> answer, once connected.</summary>
        public RelayHello Hello { get; private set; }
        /// <summary>The membership, once joined; null otherwise.</summary>
        public Membership Membership { get; private set; }
        /// <summary>Whether the UDP address is bound, so the member can send and receive datagrams.</summary>
        public bool IsBound { get; private set; }
        /// <summary>Whether the control channel is open (connected and <c>hello</c> answered).</summary>
        public bool IsConnected { get { return phase == Phase.Open; } }
        /// <summary>Whether the control channel runs inside TLS.</summary>
        public bool IsTls { get { return tls != null && phase == Phase.Open; } }
        /// <summary>Datagrams not sent because the socket's buffer was full, or dropped by the receive thread's full queue: a late game update is worth nothing, so none is queued.</summary>
        public int DatagramsDropped { get; private set; }
        /// <summary>Received AGGREGATEs whose entries did not fill them exactly; such a datagram delivers none of its entries.</summary>
        public int MalformedDatagramsDropped { get; private set; }
        /// <summary>Well-formed AGGREGATE datagrams received.</summary>
        public int AggregatesReceived { get; private set; }
        /// <summary>The sequence number of the last DATA sent.</summary>
        public uint LastSequence { get { return dataSequence; } }
        /// <summary>How many times the client opened a new UDP socket and bound it again (see <see cref="Rebind"/>).</summary>
        public int Rebinds { get; private set; }

        /// <summary>
        /// The largest datagram the client sends, header included: the relay's <c>maxDatagram</c>
        /// (1200 until <c>hello</c>), but never more than one Ethernet packet carries.
        /// </summary>
        public int MaxDatagram
        {
            get
            {
                int packet = relayAddress != null && relayAddress.AddressFamily == AddressFamily.InterNetworkV6 && !relayAddress.IsIPv4MappedToIPv6
                    ? LargestDatagramIPv6 : LargestDatagramIPv4;
                return Math.Min(relayMaxDatagram, packet);
            }
        }

        /// <summary>The largest DATA payload <see cref="Send(byte[], int, int, int, bool)"/> accepts.</summary>
        public int MaxPayload { get { return MaxDatagram - RelayPacket.HeaderSize; } }

        /// <summary>The local UDP endpoint, after <c>join</c>.</summary>
        public EndPoint LocalUdpEndPoint { get { return udp != null ? udp.LocalEndPoint : null; } }

        static long NowMs { get { return Clock.ElapsedMilliseconds; } }

        // MARK: Control channel

        /// <summary>
        /// Connects the control channel (inside TLS when <see cref="Tls"/> asks) and sends
        /// <c>hello</c>; completes with the relay's answer. Adopts the relay's <c>maxDatagram</c>.
        /// </summary>
        /// <remarks>
        /// Never blocks: a host name is resolved in the background and <see cref="Poll"/> picks up
        /// the answer, then tries each of its addresses in turn until one accepts the TCP
        /// connection. The lookup, each TCP attempt, the TLS handshake and <c>hello</c> each have
        /// <see cref="RequestTimeoutMs"/>.
        /// </remarks>
        public RelayOperation<RelayHello> Connect(string host, int port)
        {
            var operation = new RelayOperation<RelayHello>();
            if (phase != Phase.Idle)
            {
                operation.Fail(new RelayException(RelayErrorKind.Closed, "a client connects once; make a new one"));
                return operation;
            }
            this.host = host ?? "";
            this.port = port;
            connectOperation = operation;
            IPAddress address;
            if (IPAddress.TryParse(this.host.Trim('[', ']'), out address))
            {
                addresses = new[] { address };
                StartAddress(0);
                return operation;
            }
            phase = Phase.Resolving;
            phaseDeadlineMs = NowMs + RequestTimeoutMs;
            try
            {
                lookup = Resolve(this.host);
            }
            catch (Exception e)
            {
                FailConnect(new RelayException(RelayErrorKind.Io, "cannot resolve " + this.host + ": " + e.Message, e));
            }
            return operation;
        }

        void PollResolve(long now)
        {
            if (lookup.IsCompleted)
            {
                var done = lookup;
                lookup = null;
                IPAddress[] found;
                try
                {
                    found = done.Result;
                }
                catch (Exception e)
                {
                    var cause = e.GetBaseException();
                    FailConnect(new RelayException(RelayErrorKind.Io, "cannot resolve " + host + ": " + cause.Message, cause));
                    return;
                }
                if (found == null || found.Length == 0)
                {
                    FailConnect(new RelayException(RelayErrorKind.Io, "cannot resolve " + host + ": no address"));
                    return;
                }
                addresses = found;
                StartAddress(0);
                return;
            }
            if (now >= phaseDeadlineMs)
            {
                Observe(lookup);
                lookup = null;
                FailConnect(new RelayException(RelayErrorKind.TimedOut, "no address for " + host + " within " + RequestTimeoutMs + " ms"));
            }
        }

        void StartAddress(int index)
        {
            addressIndex = index;
            relayAddress = addresses[index];
            StartTcp(Tls == RelayTlsMode.Required);
        }

        /// <summary>A TCP connect failed: the next address of the host name, or the connect fails.</summary>
        void TcpFailed(RelayException error)
        {
            if (addresses != null && addressIndex + 1 < addresses.Length)
            {
                DropTcp();
                StartAddress(addressIndex + 1);
                return;
            }
            FailConnect(error);
        }

        string Target { get { return host + ":" + port + (relayAddress != null && relayAddress.ToString() != host.Trim('[', ']') ? " (" + relayAddress + ")" : ""); } }

        void StartTcp(bool withTls)
        {
            useTls = withTls;
            phase = Phase.Connecting;
            phaseDeadlineMs = NowMs + RequestTimeoutMs;
            try
            {
                tcp = new Socket(relayAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                tcp.NoDelay = true;
                tcp.Blocking = false;
                tcp.Connect(new IPEndPoint(relayAddress, port));
            }
            catch (SocketException e)
            {
                if (e.SocketErrorCode != SocketError.WouldBlock && e.SocketErrorCode != SocketError.InProgress)
                    TcpFailed(new RelayException(RelayErrorKind.Io, "cannot connect to " + Target + ": " + e.Message, e));
                return;
            }
            catch (Exception e)
            {
                TcpFailed(new RelayException(RelayErrorKind.Io, "cannot connect to " + Target + ": " + e.Message, e));
                return;
            }
            TcpConnected();
        }

        void TcpConnected()
        {
            if (!useTls)
            {
                SendHello();
                return;
            }
            // SslStream needs a blocking socket; the handshake, reads and writes run as the stream's
            // own asynchronous operations, and Poll collects their results on the caller's thread.
            phase = Phase.Handshaking;
            phaseDeadlineMs = NowMs + RequestTimeoutMs;
            try
            {
                tcp.Blocking = true;
                var stream = new NetworkStream(tcp, false);
                tls = new SslStream(stream, false, ValidateCertificate);
                handshake = tls.BeginAuthenticateAsClient(TlsServerName ?? host.Trim('[', ']'), null, TlsProtocols, false, null, null);
            }
            catch (Exception e)
            {
                FailConnect(new RelayException(RelayErrorKind.Tls, "TLS handshake with " + host + " failed: " + e.Message, e));
            }
        }

        bool ValidateCertificate(object sender, X509Certificate certificate, X509Chain chain, SslPolicyErrors errors)
        {
            if (CertificateValidation != null) return CertificateValidation(sender, certificate, chain, errors);
            if (PinnedCertificate != null && certificate != null)
            {
                byte[] expected = PinnedCertificate.GetRawCertData();
                byte[] actual = certificate.GetRawCertData();
                if (expected.Length != actual.Length) return false;
                for (int i = 0; i < expected.Length; i++) if (expected[i] != actual[i]) return false;
                return true;
            }
            return errors == SslPolicyErrors.None;
        }

        void SendHello()
        {
            phase = Phase.Hello;
            var fields = new StringBuilder();
            fields.Append(",\"protocol\":1,\"client\":");
            RelayJson.WriteString(fields, ClientName ?? "");
            Request("hello", fields.ToString(), true, (reply, error) =>
            {
                if (error != null)
                {
                    if (error.Code == RelayErrorCode.TlsRequired && !useTls && Tls == RelayTlsMode.WhenOffered)
                    {
                        RestartWithTls();
                        return;
                    }
                    FailConnect(error);
                    return;
                }
                RelayHello hello;
                string problem = ParseHello(reply, out hello);
                if (problem != null)
                {
                    FailConnect(new RelayException(RelayErrorKind.ProtocolViolation, problem));
                    return;
                }
                if (!useTls && Tls == RelayTlsMode.WhenOffered && hello.Offers("tls"))
                {
                    RestartWithTls();
                    return;
                }
                relayMaxDatagram = hello.MaxDatagram;
                Hello = hello;
                phase = Phase.Open;
                nextKeepAliveMs = NowMs + KeepAliveIntervalMs;
                var operation = connectOperation;
                connectOperation = null;
                operation.Succeed(hello);
            });
        }

        void RestartWithTls()
        {
            DropTcp();
            StartTcp(true);
        }

        static string ParseHello(Dictionary<string, object> reply, out RelayHello hello)
        {
            hello = new RelayHello();
            hello.Server = RelayJson.GetString(reply, "server");
            long? udpPort = RelayJson.GetInteger(RelayJson.GetObject(reply, "udp"), "port");
            long? maxDatagram = RelayJson.GetInteger(reply, "maxDatagram");
            long? idle = RelayJson.GetInteger(reply, "idleTimeoutMs");
            if (hello.Server == null || udpPort == null || maxDatagram == null || idle == null) return "hello reply lacks a field";
            if (maxDatagram.Value < RelayPacket.HeaderSize)
                return "hello advertises a maxDatagram of " + maxDatagram.Value + ", smaller than a packet header";
            if (udpPort.Value < 1 || udpPort.Value > 65535) return "hello advertises UDP port " + udpPort.Value;
            hello.UdpPort = (int)udpPort.Value;
            hello.MaxDatagram = (int)Math.Min(maxDatagram.Value, int.MaxValue);
            hello.IdleTimeoutMs = idle.Value;
            var features = RelayJson.GetArray(reply, "features");
            if (features != null)
                foreach (object feature in features)
                    if (feature is string) hello.Features.Add((string)feature);
            hello.Tls = RelayJson.IsTrue(reply, "tls");
            return null;
        }

        /// <summary>
        /// Creates a session (<c>create</c>); the client does not join it.
        /// </summary>
        /// <param name="capacity">The most members at once (2…the relay's maximum); 0 for the relay's default.</param>
        /// <param name="tick">
        /// Ticks per second (1…120) for a tick session (PROTOCOL.md §8): LATEST broadcasts reach the
        /// others once per tick, batched into AGGREGATEs; 0 forwards every datagram at once.
        /// </param>
        public RelayOperation<CreatedSession> Create(int capacity = 0, int tick = 0)
        {
            var operation = new RelayOperation<CreatedSession>();
            var fields = new StringBuilder();
            if (capacity != 0) fields.Append(",\"capacity\":").Append(capacity.ToString(CultureInfo.InvariantCulture));
            if (tick != 0) fields.Append(",\"tick\":").Append(tick.ToString(CultureInfo.InvariantCulture));
            Request("create", fields.ToString(), false, (reply, error) =>
            {
                if (error != null) { operation.Fail(error); return; }
                var created = new CreatedSession();
                created.Session = RelayJson.GetString(reply, "session");
                created.Code = RelayJson.GetString(reply, "code");
                long? cap = RelayJson.GetInteger(reply, "capacity");
                if (created.Session == null || created.Code == null || cap == null)
                {
                    operation.Fail(new RelayException(RelayErrorKind.ProtocolViolation, "create reply lacks a field"));
                    return;
                }
                created.Capacity = (int)cap.Value;
                long? echoedTick = RelayJson.GetInteger(reply, "tick");
                created.Tick = echoedTick.HasValue ? (int)echoedTick.Value : 0;
                operation.Succeed(created);
            });
            return operation;
        }

        /// <summary>
        /// Joins a session by its 6-character join code (<c>join</c>) and opens the UDP socket; then
        /// call <see cref="Bind"/>. A <paramref name="name"/> over 64 bytes of UTF-8 fails with
        /// <see cref="RelayErrorKind.InvalidRequest"/>.
        /// </summary>
        public RelayOperation<Membership> JoinByCode(string code, string name = "")
        {
            return Join("code", code, name);
        }

        /// <summary>
        /// Joins a session by its 16-hex-digit id (<c>join</c>) and opens the UDP socket; then call
        /// <see cref="Bind"/>. A <paramref name="name"/> over 64 bytes of UTF-8 fails with
        /// <see cref="RelayErrorKind.InvalidRequest"/>.
        /// </summary>
        public RelayOperation<Membership> JoinById(string session, string name = "")
        {
            return Join("session", session, name);
        }

        RelayOperation<Membership> Join(string key, string value, string name)
        {
            var operation = new RelayOperation<Membership>();
            if (name != null && Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
            {
                operation.Fail(new RelayException(RelayErrorKind.InvalidRequest, "a name is at most " + MaxNameBytes + " bytes of UTF-8; this one has " +
                                                  Encoding.UTF8.GetByteCount(name)));
                return operation;
            }
            var fields = new StringBuilder();
            fields.Append(",\"").Append(key).Append("\":");
            RelayJson.WriteString(fields, value ?? "");
            fields.Append(",\"name\":");
            RelayJson.WriteString(fields, name ?? "");
            Request("join", fields.ToString(), false, (reply, error) =>
            {
                if (error != null) { operation.Fail(error); return; }
                Membership membership;
                string problem = ParseMembership(reply, out membership);
                if (problem != null)
                {
                    operation.Fail(new RelayException(RelayErrorKind.ProtocolViolation, problem));
                    return;
                }
                try
                {
                    OpenDataChannel(membership);
                }
                catch (SocketException e)
                {
                    operation.Fail(new RelayException(RelayErrorKind.Io, "cannot open the UDP socket: " + e.Message, e));
                    return;
                }
                Membership = membership;
                operation.Succeed(membership);
            });
            return operation;
        }

        static string ParseMembership(Dictionary<string, object> reply, out Membership membership)
        {
            membership = new Membership();
            membership.Session = RelayJson.GetString(reply, "session");
            long? member = RelayJson.GetInteger(reply, "member");
            string token = RelayJson.GetString(reply, "token");
            long? udpPort = RelayJson.GetInteger(RelayJson.GetObject(reply, "udp"), "port");
            long? owner = RelayJson.GetInteger(reply, "owner");
            var members = RelayJson.GetArray(reply, "members");
            if (membership.Session == null || member == null || token == null || udpPort == null || owner == null || members == null)
                return "join reply lacks a field";
            uint low;
            if (membership.Session.Length < 8 ||
                !uint.TryParse(membership.Session.Substring(membership.Session.Length - 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out low))
                return "join reply has a malformed session id";
            membership.Token = ParseHex(token);
            if (membership.Token == null || membership.Token.Length != RelayPacket.TokenSize) return "join reply has a malformed token";
            if (udpPort.Value < 1 || udpPort.Value > 65535) return "join reply names UDP port " + udpPort.Value;
            if (!IsMemberId(member.Value)) return "join reply names member " + member.Value;
            if (!IsMemberId(owner.Value)) return "join reply names owner " + owner.Value;
            membership.SessionLow = low;
            membership.Member = (ushort)member.Value;
            membership.UdpPort = (int)udpPort.Value;
            membership.Owner = (ushort)owner.Value;
            foreach (object entry in members)
            {
                var obj = entry as Dictionary<string, object>;
                long? id = RelayJson.GetInteger(obj, "member");
                if (id == null || !IsMemberId(id.Value)) continue;
                var info = new MemberInfo();
                info.Member = (ushort)id.Value;
                info.Name = RelayJson.GetString(obj, "name") ?? "";
                membership.Members.Add(info);
            }
            return null;
        }

        /// <summary>Member ids run 1…0xFFFE: 0 is the relay's own and 0xFFFF means broadcast (PROTOCOL.md §2.1).</summary>
        static bool IsMemberId(long id)
        {
            return id >= 1 && id < RelayPacket.Broadcast;
        }

        static byte[] ParseHex(string hex)
        {
            if (hex.Length % 2 != 0) return null;
            var bytes = new byte[hex.Length / 2];
            for (int i = 0; i < bytes.Length; i++)
            {
                int high = HexDigit(hex[2 * i]), low = HexDigit(hex[2 * i + 1]);
                if (high < 0 || low < 0) return null;
                bytes[i] = (byte)(high * 16 + low);
            }
            return bytes;
        }

        static int HexDigit(char c)
        {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        }

        /// <summary>Leaves the session (<c>leave</c>); the relay revokes the binding. The control connection stays open for another join.</summary>
        public RelayOperation<bool> Leave()
        {
            var operation = new RelayOperation<bool>();
            Request("leave", "", false, (reply, error) =>
            {
                if (error != null) { operation.Fail(error); return; }
                Membership = null;
                CloseDataChannel("left the session");
                operation.Succeed(true);
            });
            return operation;
        }

        /// <summary>Kicks <paramref name="member"/> from the session (<c>kick</c>); owner only.</summary>
        public RelayOperation<bool> Kick(ushort member)
        {
            var operation = new RelayOperation<bool>();
            Request("kick", ",\"member\":" + member.ToString(CultureInfo.InvariantCulture), false, (reply, error) =>
            {
                if (error != null) operation.Fail(error);
                else operation.Succeed(true);
            });
            return operation;
        }

        /// <summary>Sends a control-channel <c>ping</c> and completes with its round-trip time in milliseconds.</summary>
        public RelayOperation<double> ControlPing()
        {
            var operation = new RelayOperation<double>();
            long start = Stopwatch.GetTimestamp();
            Request("ping", "", false, (reply, error) =>
            {
                if (error != null) operation.Fail(error);
                else operation.Succeed((Stopwatch.GetTimestamp() - start) * 1000.0 / Stopwatch.Frequency);
            });
            return operation;
        }

        void Request(string op, string fields, bool duringConnect, Action<Dictionary<string, object>, RelayException> handler)
        {
            if (!(phase == Phase.Open || (duringConnect && phase == Phase.Hello)))
            {
                handler(null, new RelayException(RelayErrorKind.Closed, "the control connection is not open"));
                return;
            }
            long id = nextRequestId++;
            var text = new StringBuilder();
            text.Append("{\"op\":\"").Append(op).Append("\",\"id\":").Append(id.ToString(CultureInfo.InvariantCulture));
            text.Append(fields).Append('}');
            byte[] json = Encoding.UTF8.GetBytes(text.ToString());
            if (json.Length > MaxRequestBytes)
            {
                // The relay would answer message_too_large and close the connection.
                handler(null, new RelayException(RelayErrorKind.InvalidRequest, "a " + op + " request of " + json.Length +
                                                 " bytes exceeds the relay's " + MaxRequestBytes + "-byte message limit"));
                return;
            }
            var request = new PendingRequest();
            request.Op = op;
            request.DeadlineMs = NowMs + RequestTimeoutMs;
            request.Handler = handler;
            pending[id] = request;
            WriteControl(json, json.Length, true);
        }

        void WriteControl(byte[] bytes, int count, bool terminate)
        {
            int needed = count + (terminate ? 1 : 0);
            if ((long)outputCount + writingCount + needed > ControlBacklogLimit)
            {
                ConnectionEnded(new RelayException(RelayErrorKind.Io, "the relay stopped reading the control channel: more than " +
                                                   ControlBacklogLimit + " bytes unsent"));
                return;
            }
            if (output.Length < outputCount + needed)
                Array.Resize(ref output, Math.Max(output.Length * 2, outputCount + needed));
            Buffer.BlockCopy(bytes, 0, output, outputCount, count);
            outputCount += count;
            if (terminate) output[outputCount++] = 0;
            // Inside TLS a write starts here only when none is in flight; Poll completes it.
            if (tls != null && tlsWrite != null) return;
            FlushControl();
        }

        void FlushControl()
        {
            if (tcp == null) return;
            if (tls != null)
            {
                FlushTls();
                return;
            }
            if (outputCount == 0) return;
            try
            {
                int sent = tcp.Send(output, 0, outputCount, SocketFlags.None);
                Buffer.BlockCopy(output, sent, output, 0, outputCount - sent);
                outputCount -= sent;
            }
            catch (SocketException e)
            {
                if (e.SocketErrorCode == SocketError.WouldBlock) return;
                ConnectionEnded(new RelayException(RelayErrorKind.Io, "writing to the relay failed: " + e.Message, e));
            }
        }

        /// <summary>
        /// Keeps one TLS write in flight: the socket under SslStream blocks, so a synchronous write
        /// could stall the game's frame for as long as the relay does not read.
        /// </summary>
        void FlushTls()
        {
            if (tlsWrite != null)
            {
                if (!tlsWrite.IsCompleted) return;
                try
                {
                    tlsWrite.Wait();
                }
                catch (Exception e)
                {
                    tlsWrite = null;
                    var cause = e.GetBaseException();
                    ConnectionEnded(new RelayException(RelayErrorKind.Io, "writing to the relay failed: " + cause.Message, cause));
                    return;
                }
                tlsWrite = null;
                writingCount = 0;
            }
            if (outputCount == 0) return;
            // The stream sends from its buffer on another thread; later messages queue in the other.
            var spare = writing ?? new byte[4096];
            writing = output;
            writingCount = outputCount;
            output = spare;
            outputCount = 0;
            try
            {
                tlsWrite = tls.WriteAsync(writing, 0, writingCount, CancellationToken.None);
            }
            catch (Exception e)
            {
                ConnectionEnded(new RelayException(RelayErrorKind.Io, "writing to the relay failed: " + e.Message, e));
            }
        }

        /// <summary>
        /// Does all pending I/O: connects, reads replies and events, receives datagrams, resends
        /// BINDs, sends keep-alives and times out requests. Raises every event and completion on
        /// the calling thread. Call it once per frame; it never blocks.
        /// </summary>
        /// <remarks>
        /// An exception thrown by the game's own handler (an event or a <c>Completed</c>) does not
        /// stop the client: the rest of the work runs first, and then Poll rethrows the first such
        /// exception. Later exceptions of the same call are dropped.
        /// </remarks>
        /// <exception cref="InvalidOperationException">Called from inside one of the client's own events or completions.</exception>
        public void Poll()
        {
            if (polling) throw new InvalidOperationException("RelayClient.Poll was called from inside one of its own events or completions");
            polling = true;
            try
            {
                PollOnce();
            }
            finally
            {
                polling = false;
            }
            RethrowCallbackError();
        }

        /// <summary>Runs a game handler; what it throws is kept for the end of <see cref="Poll"/> so the client's own work goes on.</summary>
        void Call<T>(Action<T> handler, T value)
        {
            if (handler == null) return;
            try
            {
                handler(value);
            }
            catch (Exception e)
            {
                Report(e);
            }
        }

        void Answer(PendingRequest request, Dictionary<string, object> reply, RelayException error)
        {
            try
            {
                request.Handler(reply, error);
            }
            catch (Exception e)
            {
                Report(e);
            }
        }

        void Report(Exception e)
        {
            if (callbackError == null) callbackError = e;
        }

        void RethrowCallbackError()
        {
            var error = callbackError;
            if (error == null) return;
            callbackError = null;
            ExceptionDispatchInfo.Capture(error).Throw();
        }

        void PollOnce()
        {
            long now = NowMs;
            if (phase == Phase.Resolving) PollResolve(now);
            if (phase == Phase.Connecting) PollConnect(now);
            if (phase == Phase.Handshaking) PollHandshake(now);
            if (phase == Phase.Hello || phase == Phase.Open)
            {
                ReadControl();
                FlushControl();
                ExpireRequests(now);
            }
            if (phase == Phase.Open && KeepAliveIntervalMs > 0 && now >= nextKeepAliveMs)
            {
                nextKeepAliveMs = now + KeepAliveIntervalMs;
                WriteControl(KeepAlivePing, KeepAlivePing.Length - 1, true);
            }
            if (udp != null) PollData(now);
        }

        void PollConnect(long now)
        {
            try
            {
                if (tcp.Poll(0, SelectMode.SelectWrite) || tcp.Poll(0, SelectMode.SelectError))
                {
                    int error = (int)tcp.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error);
                    if (error != 0) throw new SocketException(error);
                    TcpConnected();
                    return;
                }
            }
            catch (SocketException e)
            {
                TcpFailed(new RelayException(RelayErrorKind.Io, "cannot connect to " + Target + ": " + e.Message, e));
                return;
            }
            if (now >= phaseDeadlineMs)
                TcpFailed(new RelayException(RelayErrorKind.TimedOut, "no connection to " + Target + " within " + RequestTimeoutMs + " ms"));
        }

        void PollHandshake(long now)
        {
            if (handshake.IsCompleted)
            {
                try
                {
                    tls.EndAuthenticateAsClient(handshake);
                }
                catch (Exception e)
                {
                    var inner = e is AuthenticationException && e.InnerException != null ? e.InnerException.Message : null;
                    FailConnect(new RelayException(RelayErrorKind.Tls, "TLS handshake with " + host + " failed: " + e.Message +
                                                   (inner != null ? " (" + inner + ")" : ""), e));
                    return;
                }
                handshake = null;
                SendHello();
                return;
            }
            if (now >= phaseDeadlineMs)
                FailConnect(new RelayException(RelayErrorKind.TimedOut, "no TLS handshake with " + host + " within " + RequestTimeoutMs + " ms"));
        }

        void StartTlsRead()
        {
            try
            {
                // ReadAsync and WriteAsync, not BeginRead and BeginWrite: Mono's SslStream inherits
                // those from Stream, which lets one of them run at a time until its End call.
                tlsRead = tls.ReadAsync(readBuffer, 0, readBuffer.Length, CancellationToken.None);
            }
            catch (Exception e)
            {
                tlsRead = null;
                ConnectionEnded(new RelayException(RelayErrorKind.Io, "reading from the relay failed: " + e.Message, e));
            }
        }

        void ReadControl()
        {
            int generation = connectionGeneration;
            bytesThisPoll = 0;
            messagesThisPoll = 0;
            while (tcp != null && generation == connectionGeneration && (phase == Phase.Hello || phase == Phase.Open))
            {
                if (readStart < readEnd)
                {
                    if (messagesThisPoll >= ControlMessagesPerPoll) return;
                    SplitFrames(generation);
                    continue;
                }
                if (bytesThisPoll >= ControlBytesPerPoll) return;
                int count;
                if (tls != null)
                {
                    // The next read starts only once every byte of the last one is parsed: it
                    // fills readBuffer from another thread.
                    if (tlsRead == null) StartTlsRead();
                    if (tlsRead == null || !tlsRead.IsCompleted) return;
                    try
                    {
                        count = tlsRead.Result;
                    }
                    catch (Exception e)
                    {
                        tlsRead = null;
                        var cause = e.GetBaseException();
                        ConnectionEnded(new RelayException(RelayErrorKind.Io, "reading from the relay failed: " + cause.Message, cause));
                        return;
                    }
                    tlsRead = null;
                }
                else
                {
                    try
                    {
                        count = tcp.Receive(readBuffer, 0, readBuffer.Length, SocketFlags.None);
                    }
                    catch (SocketException e)
                    {
                        if (e.SocketErrorCode == SocketError.WouldBlock) return;
                        ConnectionEnded(new RelayException(RelayErrorKind.Io, "reading from the relay failed: " + e.Message, e));
                        return;
                    }
                }
                if (count == 0)
                {
                    ConnectionEnded(new RelayException(RelayErrorKind.Closed, "the relay closed the control connection"));
                    return;
                }
                readStart = 0;
                readEnd = count;
                bytesThisPoll += count;
            }
        }

        /// <summary>
        /// Splits the unparsed bytes of <see cref="readBuffer"/> into messages at each <c>\0</c> or
        /// <c>\n</c> (PROTOCOL.md §1.1). The cursor moves past each message before it is handled, so
        /// what a handler does (even replacing the connection) never loses or repeats bytes.
        /// </summary>
        void SplitFrames(int generation)
        {
            while (readStart < readEnd)
            {
                byte b = readBuffer[readStart++];
                if (b == 0 || b == (byte)'\n')
                {
                    int length = frameCount;
                    frameCount = 0;
                    if (length == 0) continue;
                    HandleControlMessage(frame, length);
                    if (tcp == null || generation != connectionGeneration) return;
                    if (++messagesThisPoll >= ControlMessagesPerPoll) return;
                    continue;
                }
                if (frameCount == MaxControlMessage)
                {
                    ConnectionEnded(new RelayException(RelayErrorKind.ProtocolViolation, "a control message from the relay exceeds " + MaxControlMessage + " bytes"));
                    return;
                }
                if (frameCount == frame.Length) Array.Resize(ref frame, Math.Min(frame.Length * 2, MaxControlMessage));
                frame[frameCount++] = b;
            }
        }

        void HandleControlMessage(byte[] bytes, int count)
        {
            Dictionary<string, object> message;
            try
            {
                message = RelayJson.ParseObject(bytes, 0, count);
            }
            catch (FormatException)
            {
                // Whitespace-only frames and garbage carry nothing to act on.
                return;
            }
            string eventName = RelayJson.GetString(message, "event");
            if (eventName != null)
            {
                DispatchEvent(eventName, message);
                return;
            }
            long? id = RelayJson.GetInteger(message, "id");
            PendingRequest request;
            if (id == null || !pending.TryGetValue(id.Value, out request)) return;
            pending.Remove(id.Value);
            if (RelayJson.IsTrue(message, "ok"))
            {
                Answer(request, message, null);
            }
            else
            {
                var error = RelayJson.GetObject(message, "error");
                Answer(request, null, RelayException.Refused(RelayJson.GetString(error, "code") ?? "unknown",
                                                             RelayJson.GetString(error, "message") ?? request.Op + " refused"));
            }
        }

        void DispatchEvent(string name, Dictionary<string, object> message)
        {
            long? memberValue = RelayJson.GetInteger(message, "member");
            ushort member = memberValue.HasValue ? (ushort)memberValue.Value : (ushort)0;
            RelayEvent relayEvent;
            switch (name)
            {
                case "joined":
                    relayEvent = new RelayEvent(RelayEventKind.Joined, member, name: RelayJson.GetString(message, "name"));
                    break;
                case "left":
                    relayEvent = new RelayEvent(RelayEventKind.Left, member, reason: RelayJson.GetString(message, "reason"));
                    break;
                case "owner":
                    relayEvent = new RelayEvent(RelayEventKind.Owner, member);
                    break;
                case "bound":
                    relayEvent = new RelayEvent(RelayEventKind.Bound, address: RelayJson.GetString(message, "address"));
                    // The relay bound the member to the address that proved its cookie: the attempt
                    // succeeded even if every empty BIND_ACK was lost.
                    if (bindAttempt != null) BindSucceeded();
                    break;
                case "unbound":
                    IsBound = false;
                    relayEvent = new RelayEvent(RelayEventKind.Unbound, reason: RelayJson.GetString(message, "reason"));
                    if (AutoRebind && udp != null && bindAttempt == null) StartBind(new RelayOperation<bool>());
                    break;
                case "kicked":
                    Membership = null;
                    CloseDataChannel("kicked from the session");
                    relayEvent = new RelayEvent(RelayEventKind.Kicked);
                    break;
                case "shutdown":
                    long? drain = RelayJson.GetInteger(message, "drainMs");
                    relayEvent = new RelayEvent(RelayEventKind.Shutdown, drainMs: drain.HasValue ? drain.Value : 0);
                    break;
                case "closing":
                    relayEvent = new RelayEvent(RelayEventKind.Closing, reason: RelayJson.GetString(message, "reason"));
                    break;
                default:
                    return;
            }
            Call(EventReceived, relayEvent);
        }

        void ExpireRequests(long now)
        {
            if (pending.Count == 0) return;
            List<long> expired = null;
            foreach (var entry in pending)
            {
                if (now < entry.Value.DeadlineMs) continue;
                if (expired == null) expired = new List<long>();
                expired.Add(entry.Key);
            }
            if (expired == null) return;
            foreach (long id in expired)
            {
                PendingRequest request;
                if (!pending.TryGetValue(id, out request)) continue;
                pending.Remove(id);
                Answer(request, null, new RelayException(RelayErrorKind.TimedOut, "no reply to " + request.Op + " within " + RequestTimeoutMs + " ms"));
            }
        }

        void FailConnect(RelayException error)
        {
            var operation = connectOperation;
            connectOperation = null;
            Observe(lookup);
            lookup = null;
            DropTcp();
            phase = Phase.Closed;
            FailPending(error);
            if (operation != null) Call(operation.Fail, error);
        }

        void DropTcp()
        {
            connectionGeneration++;
            if (tls != null)
            {
                try { tls.Dispose(); } catch (Exception) { }
                tls = null;
            }
            // A read or write cut off by the close fails later; observe it so nothing reports it as unhandled.
            Observe(tlsRead);
            Observe(tlsWrite);
            if (tcp != null)
            {
                try { tcp.Close(); } catch (Exception) { }
                tcp = null;
            }
            handshake = null;
            tlsRead = null;
            outputCount = 0;
            // A write still in flight may read its buffer until the stream is gone: never reuse it.
            tlsWrite = null;
            writing = null;
            writingCount = 0;
            frameCount = 0;
            readStart = 0;
            readEnd = 0;
        }

        static void Observe(Task task)
        {
            if (task != null) task.ContinueWith(done => { var ignored = done.Exception; }, TaskContinuationOptions.OnlyOnFaulted);
        }

        void FailPending(RelayException error)
        {
            if (pending.Count == 0) return;
            var waiting = new List<PendingRequest>(pending.Values);
            pending.Clear();
            var closed = new RelayException(RelayErrorKind.Closed, "the control connection closed: " + error.Message, error);
            foreach (var request in waiting) Answer(request, null, closed);
        }

        void ConnectionEnded(RelayException reason)
        {
            if (phase == Phase.Closed) return;
            if (connectOperation != null)
            {
                FailConnect(reason);
                return;
            }
            phase = Phase.Closed;
            DropTcp();
            Membership = null;
            CloseDataChannel("the control connection closed");
            FailPending(reason);
            Call(EventReceived, new RelayEvent(RelayEventKind.Closed, reason: reason.Message));
        }

        /// <summary>
        /// Closes both channels (closing the control connection is a leave); pending operations
        /// fail with <see cref="RelayErrorKind.Closed"/> and a <see cref="RelayEventKind.Closed"/> event follows.
        /// </summary>
        /// <remarks>
        /// Outside <see cref="Poll"/>, rethrows the first exception a handler threw once the client
        /// is closed; from inside a handler, Poll rethrows it.
        /// </remarks>
        public void Close()
        {
            StopReceiveThread();
            if (phase == Phase.Idle) phase = Phase.Closed;
            var reason = new RelayException(RelayErrorKind.Closed, "closed by the client");
            bool connecting = connectOperation != null && phase != Phase.Closed;
            ConnectionEnded(reason);
            // A connect cut short fails its operation; the Closed event follows as for an open connection.
            if (connecting) Call(EventReceived, new RelayEvent(RelayEventKind.Closed, reason: reason.Message));
            if (!polling) RethrowCallbackError();
        }

        /// <summary>Same as <see cref="Close"/>.</summary>
        public void Dispose()
        {
            Close();
        }

        // MARK: Data channel

        void OpenDataChannel(Membership membership)
        {
            CloseDataChannel("joined again");
            udp = OpenUdpSocket(membership.UdpPort);
            lastDatagramSentMs = NowMs;
            nextAddressCheckMs = NowMs + AddressCheckIntervalMs;
        }

        Socket OpenUdpSocket(int udpPort)
        {
            if (DataPortOverride > 0) udpPort = DataPortOverride;
            var socket = new Socket(relayAddress.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                // Connected, so datagrams from anyone but the relay never reach the game.
                socket.Connect(new IPEndPoint(relayAddress, udpPort));
                socket.Blocking = false;
                routeLocalAddress = LocalAddressProbe((IPEndPoint)socket.RemoteEndPoint);
            }
            catch (SocketException)
            {
                socket.Close();
                throw;
            }
            return socket;
        }

        void CloseDataChannel(string why)
        {
            var attempt = bindAttempt;
            bindAttempt = null;
            var socket = udp;
            udp = null;
            IsBound = false;
            if (socket != null) socket.Close();
            lock (received) received.Clear();
            if (attempt != null) Call(attempt.Operation.Fail, new RelayException(RelayErrorKind.Closed, "the bind ended: " + why));
        }

        /// <summary>
        /// Proves this client's UDP address to the relay (PROTOCOL.md §2.2): BIND every
        /// <see cref="BindRetryIntervalMs"/>, with the relay's cookie once it arrives, until an
        /// empty BIND_ACK or the <c>bound</c> event; fails with <see cref="RelayErrorKind.TimedOut"/>
        /// when neither arrives within <see cref="BindFinalWaitMs"/> of the 10th BIND.
        /// </summary>
        public RelayOperation<bool> Bind()
        {
            var operation = new RelayOperation<bool>();
            if (Membership == null || udp == null)
            {
                operation.Fail(new RelayException(RelayErrorKind.NotJoined, "join a session before binding"));
                return operation;
            }
            StartBind(operation);
            return operation;
        }

        /// <summary>
        /// Moves the member to a fresh UDP socket (a new local address or port) and binds it
        /// there: the relay then sends to the new address only, after it has proved it with the
        /// cookie. <see cref="Poll"/> does this on its own when the local address that reaches
        /// the relay changes (see <see cref="AddressCheckIntervalMs"/>).
        /// </summary>
        public RelayOperation<bool> Rebind()
        {
            var operation = new RelayOperation<bool>();
            if (Membership == null || udp == null)
            {
                operation.Fail(new RelayException(RelayErrorKind.NotJoined, "join a session before binding"));
                return operation;
            }
            Socket fresh;
            try
            {
                fresh = OpenUdpSocket(Membership.UdpPort);
            }
            catch (SocketException e)
            {
                operation.Fail(new RelayException(RelayErrorKind.Io, "cannot open a new UDP socket: " + e.Message, e));
                return operation;
            }
            var old = udp;
            udp = fresh;
            old.Close();
            IsBound = false;
            Rebinds++;
            StartBind(operation);
            return operation;
        }

        void BindSucceeded()
        {
            var attempt = bindAttempt;
            bindAttempt = null;
            IsBound = true;
            Call(attempt.Operation.Succeed, true);
        }

        void StartBind(RelayOperation<bool> operation)
        {
            if (bindAttempt != null)
            {
                // One attempt at a time; the newer caller's operation finishes with it.
                var previous = bindAttempt.Operation;
                bindAttempt.Operation = operation;
                operation.Completed += done =>
                {
                    if (done.Error != null) previous.Fail(done.Error);
                    else previous.Succeed(true);
                };
                bindAttempt.Tries = 0;
                bindAttempt.FirstSequence = unchecked(bindSequence + 1);
                bindAttempt.Cookie = new byte[0];
                bindAttempt.NextAtMs = NowMs;
                SendBind();
                return;
            }
            bindAttempt = new BindAttempt();
            bindAttempt.Operation = operation;
            bindAttempt.FirstSequence = unchecked(bindSequence + 1);
            SendBind();
        }

        void SendBind()
        {
            var attempt = bindAttempt;
            if (attempt == null || Membership == null || udp == null) return;
            if (attempt.Tries >= BindMaxTries)
            {
                // The final wait after the 10th BIND is over.
                bindAttempt = null;
                Call(attempt.Operation.Fail, new RelayException(RelayErrorKind.TimedOut, "no BIND_ACK after " + BindMaxTries + " BINDs"));
                return;
            }
            attempt.Tries++;
            // After the last BIND, its answer gets a round trip's grace rather than one retry interval.
            long wait = attempt.Tries < BindMaxTries ? BindRetryIntervalMs : Math.Max(BindRetryIntervalMs, Math.Max(BindFinalWaitMs, (long)(2 * lastRttMs)));
            attempt.NextAtMs = NowMs + wait;
            var payload = new byte[RelayPacket.TokenSize + attempt.Cookie.Length];
            Buffer.BlockCopy(Membership.Token, 0, payload, 0, RelayPacket.TokenSize);
            Buffer.BlockCopy(attempt.Cookie, 0, payload, RelayPacket.TokenSize, attempt.Cookie.Length);
            bindSequence = unchecked(bindSequence + 1);
            SendDatagram(RelayPacket.TypeBind, 0, 0, bindSequence, payload, 0, payload.Length);
        }

        /// <summary>Sends <paramref name="payload"/> as one DATA datagram to every other member.</summary>
        /// <param name="payload">The application bytes.</param>
        /// <param name="latest">Sets LATEST (see the other overload).</param>
        /// <exception cref="RelayException"><see cref="RelayErrorKind.NotJoined"/>, or <see cref="RelayErrorKind.DatagramTooLarge"/> (nothing sent).</exception>
        public void Send(byte[] payload, bool latest = false)
        {
            if (payload == null) throw new ArgumentNullException("payload");
            Send(payload, 0, payload.Length, -1, latest);
        }

        /// <summary>
        /// Sends <paramref name="count"/> bytes of <paramref name="payload"/> as one DATA datagram
        /// to every other member (<paramref name="target"/> -1) or to one member.
        /// </summary>
        /// <param name="payload">The array holding the application bytes; copied before the call returns.</param>
        /// <param name="offset">Where the bytes start in <paramref name="payload"/>.</param>
        /// <param name="count">How many bytes to send, at most <see cref="MaxPayload"/>.</param>
        /// <param name="target">A member id for unicast, or -1 for every other bound member.</param>
        /// <param name="latest">Sets LATEST: the relay drops it if a newer LATEST datagram from this client was already forwarded (for state, not voice); in a tick session LATEST broadcasts are batched into AGGREGATEs.</param>
        /// <exception cref="RelayException"><see cref="RelayErrorKind.NotJoined"/>, or <see cref="RelayErrorKind.DatagramTooLarge"/> when the datagram would exceed <see cref="MaxDatagram"/>; nothing is sent then.</exception>
        public void Send(byte[] payload, int offset, int count, int target = -1, bool latest = false)
        {
            if (payload == null) throw new ArgumentNullException("payload");
            if (offset < 0 || offset > payload.Length) throw new ArgumentOutOfRangeException("offset");
            if (count < 0 || count > payload.Length - offset) throw new ArgumentOutOfRangeException("count");
            if (target < -1 || target >= RelayPacket.Broadcast) throw new ArgumentOutOfRangeException("target");
            if (Membership == null || udp == null) throw new RelayException(RelayErrorKind.NotJoined, "join a session before sending");
            int size = RelayPacket.HeaderSize + count;
            if (size > MaxDatagram)
                throw new RelayException(RelayErrorKind.DatagramTooLarge, "a " + size + "-byte datagram exceeds the relay's " + MaxDatagram + "-byte limit");
            dataSequence = unchecked(dataSequence + 1);
            SendDatagram(RelayPacket.TypeData, latest ? RelayPacket.FlagLatest : (byte)0,
                         target < 0 ? RelayPacket.Broadcast : (ushort)target, dataSequence, payload, offset, count);
        }

        /// <summary>Sends a PING carrying the send time; the PONG raises <see cref="PongReceived"/> with the round-trip time.</summary>
        /// <returns>The PING's sequence number.</returns>
        /// <exception cref="RelayException"><see cref="RelayErrorKind.NotJoined"/>.</exception>
        public uint Ping()
        {
            if (Membership == null || udp == null) throw new RelayException(RelayErrorKind.NotJoined, "join a session before pinging");
            pingSequence = unchecked(pingSequence + 1);
            var payload = new byte[8];
            RelayPacket.WriteUInt64(payload, 0, (ulong)Stopwatch.GetTimestamp());
            SendDatagram(RelayPacket.TypePing, 0, 0, pingSequence, payload, 0, payload.Length);
            return pingSequence;
        }

        void SendDatagram(byte type, byte flags, ushort target, uint sequence, byte[] payload, int offset, int count)
        {
            var membership = Membership;
            if (udp == null || membership == null) return;
            RelayPacket.WriteHeader(sendBuffer, 0, type, flags, membership.SessionLow, membership.Member, target, sequence);
            Buffer.BlockCopy(payload, offset, sendBuffer, RelayPacket.HeaderSize, count);
            lastDatagramSentMs = NowMs;
            try
            {
                udp.Send(sendBuffer, 0, RelayPacket.HeaderSize + count, SocketFlags.None);
            }
            catch (SocketException e)
            {
                DatagramsDropped++;
                // A vanished route or address is what a network change looks like from here.
                if (e.SocketErrorCode == SocketError.NetworkUnreachable || e.SocketErrorCode == SocketError.HostUnreachable ||
                    e.SocketErrorCode == SocketError.AddressNotAvailable || e.SocketErrorCode == SocketError.NetworkDown)
                    nextAddressCheckMs = 0;
            }
        }

        /// <summary>The configured data keep-alive, shortened to a third of the relay's idle timeout so a lost PING or two can't unbind.</summary>
        long DataKeepAliveMs
        {
            get
            {
                long interval = DataKeepAliveIntervalMs;
                if (Hello != null && Hello.IdleTimeoutMs > 0) interval = Math.Min(interval, Math.Max(1, Hello.IdleTimeoutMs / 3));
                return interval;
            }
        }

        void PollData(long now)
        {
            if (receiveThread != null) DrainQueue();
            else ReceiveDatagrams();
            if (bindAttempt != null && now >= bindAttempt.NextAtMs) SendBind();
            if (IsBound && DataKeepAliveIntervalMs > 0 && now - lastDatagramSentMs >= DataKeepAliveMs)
            {
                // An empty PING keeps the binding alive; its PONG carries no send time and raises nothing.
                SendDatagram(RelayPacket.TypePing, 0, 0, 0, sendBuffer, 0, 0);
            }
            if (AddressCheckIntervalMs > 0 && udp != null && now >= nextAddressCheckMs)
            {
                nextAddressCheckMs = now + AddressCheckIntervalMs;
                if (LocalAddressChanged()) Rebind();
            }
        }

        /// <summary>
        /// Whether the routing table now picks another local address to reach the relay than it
        /// did when the UDP socket was opened; the next socket is opened from that address.
        /// </summary>
        bool LocalAddressChanged()
        {
            var fresh = LocalAddressProbe((IPEndPoint)udp.RemoteEndPoint);
            // No route at all: nothing to rebind to yet; the next check tries again.
            return fresh != null && !fresh.Equals(routeLocalAddress);
        }

        /// <summary>
        /// The local address the routing table picks to reach <paramref name="remote"/>, or null
        /// without a route: a connect on a throwaway UDP socket sends nothing.
        /// </summary>
        static IPAddress ProbeLocalAddress(IPEndPoint remote)
        {
            try
            {
                using (var probe = new Socket(remote.AddressFamily, SocketType.Dgram, ProtocolType.Udp))
                {
                    probe.Connect(remote);
                    var local = probe.LocalEndPoint as IPEndPoint;
                    return local != null ? local.Address : null;
                }
            }
            catch (SocketException)
            {
                return null;
            }
        }

        void ReceiveDatagrams()
        {
            // Bounded per call so one flood can't stall a frame.
            for (int i = 0; i < 1024 && udp != null; i++)
            {
                int count;
                try
                {
                    if (udp.Available == 0 && !udp.Poll(0, SelectMode.SelectRead)) return;
                    count = udp.Receive(receiveBuffer, 0, receiveBuffer.Length, SocketFlags.None);
                }
                catch (SocketException e)
                {
                    if (e.SocketErrorCode == SocketError.WouldBlock) return;
                    // ICMP port unreachable on a connected socket: the relay is gone or restarting;
                    // the control channel reports that, and the next datagram may get through.
                    continue;
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                HandleDatagram(receiveBuffer, count, Stopwatch.GetTimestamp());
            }
        }

        void HandleDatagram(byte[] bytes, int count, long arrivalTicks)
        {
            if (!RelayPacket.HasHeader(bytes, 0, count)) return;
            byte type = bytes[2];
            switch (type)
            {
                case RelayPacket.TypeData:
                {
                    var handler = DataReceived;
                    if (handler == null) return;
                    Call(handler, new ReceivedData(RelayPacket.ReadUInt16(bytes, 8), RelayPacket.ReadUInt32(bytes, 12),
                                                   RelayPacket.ReadUInt16(bytes, 10), (bytes[3] & RelayPacket.FlagLatest) != 0, false, 0,
                                                   new ArraySegment<byte>(bytes, RelayPacket.HeaderSize, count - RelayPacket.HeaderSize)));
                    return;
                }
                case RelayPacket.TypeAggregate:
                    DeliverAggregate(bytes, count);
                    return;
                case RelayPacket.TypePong:
                {
                    if (count != RelayPacket.HeaderSize + 8) return;
                    var handler = PongReceived;
                    if (handler == null) return;
                    long sentAt = (long)RelayPacket.ReadUInt64(bytes, RelayPacket.HeaderSize);
                    double rtt = Math.Max(0, arrivalTicks - sentAt) * 1000.0 / Stopwatch.Frequency;
                    lastRttMs = rtt;
                    try
                    {
                        handler(RelayPacket.ReadUInt32(bytes, 12), rtt);
                    }
                    catch (Exception e)
                    {
                        Report(e);
                    }
                    return;
                }
                case RelayPacket.TypeBindAck:
                {
                    var attempt = bindAttempt;
                    var membership = Membership;
                    if (attempt == null || membership == null) return;
                    // Only an answer to one of this attempt's BINDs: the relay copies their header back.
                    uint sequence = RelayPacket.ReadUInt32(bytes, 12);
                    if (RelayPacket.ReadUInt32(bytes, 4) != membership.SessionLow || RelayPacket.ReadUInt16(bytes, 8) != membership.Member ||
                        unchecked(sequence - attempt.FirstSequence) >= (uint)attempt.Tries)
                        return;
                    int payload = count - RelayPacket.HeaderSize;
                    if (payload == RelayPacket.CookieSize)
                    {
                        attempt.Cookie = new byte[RelayPacket.CookieSize];
                        Buffer.BlockCopy(bytes, RelayPacket.HeaderSize, attempt.Cookie, 0, RelayPacket.CookieSize);
                        // After the 10th BIND no other goes out; only an empty BIND_ACK or `bound` can still succeed.
                        if (attempt.Tries < BindMaxTries) SendBind();
                    }
                    else if (payload == 0)
                    {
                        BindSucceeded();
                    }
                    return;
                }
                default:
                    return;
            }
        }

        void DeliverAggregate(byte[] bytes, int count)
        {
            if (RelayPacket.CountAggregateEntries(bytes, 0, count) < 0)
            {
                MalformedDatagramsDropped++;
                return;
            }
            AggregatesReceived++;
            var handler = DataReceived;
            if (handler == null) return;
            uint tick = RelayPacket.ReadUInt32(bytes, 12);
            int position = RelayPacket.HeaderSize;
            while (position < count)
            {
                ushort member = RelayPacket.ReadUInt16(bytes, position);
                uint sequence = RelayPacket.ReadUInt32(bytes, position + 2);
                int length = RelayPacket.ReadUInt16(bytes, position + 6);
                position += RelayPacket.EntryHeaderSize;
                // Only LATEST broadcasts are aggregated (PROTOCOL.md §8): the entry's DATA had that target.
                Call(handler, new ReceivedData(member, sequence, RelayPacket.Broadcast, true, true, tick, new ArraySegment<byte>(bytes, position, length)));
                position += length;
            }
        }

        // MARK: Background receive

        /// <summary>
        /// Starts a background thread that waits on the UDP socket and queues each datagram with
        /// its arrival time, so a long frame neither overflows the socket's buffer nor inflates
        /// PING round-trip times. <see cref="Poll"/> still raises every event on the caller's thread.
        /// </summary>
        public void StartReceiveThread()
        {
            if (receiveThread != null) return;
            receiveThreadStop = false;
            receiveThread = new Thread(ReceiveLoop);
            receiveThread.IsBackground = true;
            receiveThread.Name = "GameRelay receive";
            receiveThread.Start();
        }

        /// <summary>Stops the thread <see cref="StartReceiveThread"/> started and waits for it.</summary>
        public void StopReceiveThread()
        {
            var thread = receiveThread;
            if (thread == null) return;
            receiveThreadStop = true;
            thread.Join();
            receiveThread = null;
        }

        void ReceiveLoop()
        {
            // One byte more than any valid datagram, so a larger one shows up as too large (or as
            // an error on systems that report truncation) and is dropped here.
            var buffer = new byte[LargestDatagramIPv4 + 1];
            while (!receiveThreadStop)
            {
                // The socket may be replaced by a rebind or closed by a leave at any time.
                var socket = udp;
                if (socket == null)
                {
                    Thread.Sleep(20);
                    continue;
                }
                int count;
                try
                {
                    if (!socket.Poll(50000, SelectMode.SelectRead)) continue;
                    count = socket.Receive(buffer, 0, buffer.Length, SocketFlags.None);
                }
                catch (SocketException)
                {
                    continue;
                }
                catch (ObjectDisposedException)
                {
                    continue;
                }
                long arrival = Stopwatch.GetTimestamp();
                lock (received)
                {
                    if (count > LargestDatagramIPv4)
                    {
                        queueDrops++;
                        continue;
                    }
                    byte[] copy = null;
                    if (received.Count >= QueueLimit)
                    {
                        // The oldest goes: a late game update is worth less than a fresh one.
                        copy = received.Dequeue().Bytes;
                        queueDrops++;
                    }
                    if (copy == null) copy = spareBuffers.Count > 0 ? spareBuffers.Dequeue() : new byte[LargestDatagramIPv4];
                    Buffer.BlockCopy(buffer, 0, copy, 0, count);
                    var entry = new QueuedDatagram();
                    entry.Socket = socket;
                    entry.Bytes = copy;
                    entry.Count = count;
                    entry.ArrivalTicks = arrival;
                    received.Enqueue(entry);
                }
            }
        }

        void DrainQueue()
        {
            int left;
            lock (received) left = received.Count;
            // Only what was queued when Poll began: a flood arriving meanwhile waits for the next frame.
            for (; left > 0; left--)
            {
                QueuedDatagram entry;
                lock (received)
                {
                    if (queueDrops > 0)
                    {
                        DatagramsDropped += queueDrops;
                        queueDrops = 0;
                    }
                    if (received.Count == 0) return;
                    entry = received.Dequeue();
                }
                if (entry.Socket == udp) HandleDatagram(entry.Bytes, entry.Count, entry.ArrivalTicks);
                lock (received)
                {
                    if (spareBuffers.Count < 64) spareBuffers.Enqueue(entry.Bytes);
                }
                if (udp == null) return;
            }
            lock (received)
            {
                DatagramsDropped += queueDrops;
                queueDrops = 0;
            }
        }
    }
}
