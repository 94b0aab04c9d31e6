using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace GameRelay.Tests
{
    /// <summary>End-to-end tests of <see cref="RelayClient"/> against a real <c>gamerelay serve</c>.</summary>
    public static class RelayClientTests
    {
        /// <summary>Two connected, joined and bound clients in one session, and what they received.</summary>
        sealed class Pair : IDisposable
        {
            public RelayTestProcess Relay;
            public RelayClient A = new RelayClient();
            public RelayClient B = new RelayClient();
            public List<ReceivedData> AData = new List<ReceivedData>();
            public List<byte[]> APayloads = new List<byte[]>();
            public List<ReceivedData> BData = new List<ReceivedData>();
            public List<byte[]> BPayloads = new List<byte[]>();
            public List<RelayEvent> AEvents = new List<RelayEvent>();
            public List<RelayEvent> BEvents = new List<RelayEvent>();
            public CreatedSession Session;

            public Pair(string relayArguments = "", int tick = 0, bool bind = true, string host = "127.0.0.1")
            {
                Relay = new RelayTestProcess(relayArguments, host);
                try
                {
                    Start(tick, bind);
                }
                catch (Exception)
                {
                    // A failed set-up never reaches the caller's using: clean up here.
                    Dispose();
                    throw;
                }
            }

            void Start(int tick, bool bind)
            {
                A.DataReceived += d => { AData.Add(d); APayloads.Add(d.ToArray()); };
                B.DataReceived += d => { BData.Add(d); BPayloads.Add(d.ToArray()); };
                A.EventReceived += e => AEvents.Add(e);
                B.EventReceived += e => BEvents.Add(e);
                TestSupport.Await(A.Connect(Relay.Host, Relay.ControlPort), Pump, "A connect");
                TestSupport.Await(B.Connect(Relay.Host, Relay.ControlPort), Pump, "B connect");
                Session = TestSupport.Await(A.Create(4, tick), Pump, "create");
                TestSupport.Await(A.JoinByCode(Session.Code.ToLowerInvariant(), "alice"), Pump, "A join by code");
                TestSupport.Await(B.JoinById(Session.Session, "bob"), Pump, "B join by id");
                if (!bind) return;
                TestSupport.Await(A.Bind(), Pump, "A bind");
                TestSupport.Await(B.Bind(), Pump, "B bind");
            }

            public void Pump()
            {
                A.Poll();
                B.Poll();
            }

            public void Dispose()
            {
                A.Dispose();
                B.Dispose();
                Relay.Dispose();
            }
        }

        static byte[] Bytes(string text) { return Encoding.UTF8.GetBytes(text); }
        static string Text(byte[] bytes) { return Encoding.UTF8.GetString(bytes); }

        /// <summary>Two members exchange DATA both ways, broadcast and unicast, with sender ids and sequences.</summary>
        public static void TwoClientsExchangeData()
        {
            using (var pair = new Pair())
            {
                TestSupport.Check(pair.A.IsBound && pair.B.IsBound, "both bound");
                TestSupport.WaitUntil(() => pair.AEvents.Exists(e => e.Kind == RelayEventKind.Joined && e.Member == pair.B.Membership.Member && e.Name == "bob"),
                                      pair.Pump, "A's joined event for bob");
                TestSupport.Equal(1, pair.B.Membership.Members.Count, "B's join reply lists A");
                TestSupport.Equal("alice", pair.B.Membership.Members[0].Name, "A's name in B's join reply");

                pair.A.Send(Bytes("from-a-1"));
                pair.A.Send(Bytes("from-a-2"), latest: true);
                TestSupport.WaitUntil(() => pair.BData.Count >= 2, pair.Pump, "B receives A's two datagrams");
                TestSupport.Equal(pair.A.Membership.Member, pair.BData[0].Sender, "sender id");
                TestSupport.Equal("from-a-1", Text(pair.BPayloads[0]), "first payload");
                TestSupport.Equal(1u, pair.BData[0].Sequence, "first sequence");
                TestSupport.Check(!pair.BData[0].Latest, "first without LATEST");
                TestSupport.Equal("from-a-2", Text(pair.BPayloads[1]), "second payload");
                TestSupport.Equal(2u, pair.BData[1].Sequence, "second sequence");
                TestSupport.Check(pair.BData[1].Latest && !pair.BData[1].FromAggregate, "second with LATEST, not aggregated");
                TestSupport.Equal(RelayPacket.Broadcast, pair.BData[1].Target, "broadcast target");

                byte[] reply = Bytes("xxback-to-axx");
                pair.B.Send(reply, 2, reply.Length - 4, pair.A.Membership.Member);
                TestSupport.WaitUntil(() => pair.AData.Count >= 1, pair.Pump, "A receives B's unicast");
                TestSupport.Equal(pair.B.Membership.Member, pair.AData[0].Sender, "unicast sender");
                TestSupport.Equal(pair.A.Membership.Member, pair.AData[0].Target, "unicast target");
                TestSupport.Equal("back-to-a", Text(pair.APayloads[0]), "unicast payload");
            }
        }

        /// <summary>Over IPv6 (::1): bound addresses in §3's bracketed form, and the IPv6 packet limit.</summary>
        public static void IPv6Loopback()
        {
            using (var pair = new Pair("--max-datagram 1472", host: "::1"))
            {
                TestSupport.Equal(RelayClient.LargestDatagramIPv6, pair.A.MaxDatagram, "one IPv6 packet at most, whatever the relay allows");
                TestSupport.WaitUntil(() => pair.AEvents.Exists(e => e.Kind == RelayEventKind.Bound && e.Address.StartsWith("[::1]:")),
                                      pair.Pump, "bound event with [::1]");
                pair.A.Send(new byte[RelayClient.LargestDatagramIPv6 - RelayPacket.HeaderSize]);
                TestSupport.WaitUntil(() => pair.BData.Count >= 1, pair.Pump, "a full-size datagram over ::1");
                TestSupport.Check(Catch(() => pair.A.Send(new byte[RelayClient.LargestDatagramIPv6 - RelayPacket.HeaderSize + 1])) != null,
                                  "one byte more is refused");
            }
        }

        /// <summary>A tick session's LATEST broadcasts arrive as AGGREGATE entries, each with its sender and sequence.</summary>
        public static void TickSessionDecodesAggregateEntries()
        {
            using (var pair = new Pair(tick: 30))
            {
                TestSupport.Equal(30, pair.Session.Tick, "create echoes tick");
                TestSupport.Check(pair.A.Hello.Offers("tick"), "hello lists the tick feature");
                pair.A.Send(Bytes("state-1"), latest: true);
                pair.A.Send(Bytes("state-2"), latest: true);
                uint sent = pair.A.LastSequence;
                pair.B.Send(Bytes("b-state"), latest: true);
                TestSupport.WaitUntil(() => pair.BData.Exists(d => d.Sequence == sent), pair.Pump, "B's aggregate entry of A's latest state");
                var entry = pair.BData.Find(d => d.Sequence == sent);
                int index = pair.BData.IndexOf(entry);
                TestSupport.Check(entry.FromAggregate, "arrived in an AGGREGATE");
                TestSupport.Equal(pair.A.Membership.Member, entry.Sender, "entry's member");
                TestSupport.Equal("state-2", Text(pair.BPayloads[index]), "entry's payload");
                TestSupport.Check(entry.Latest, "entries are LATEST");
                TestSupport.Equal(RelayPacket.Broadcast, entry.Target, "entries were broadcasts");
                TestSupport.Check(pair.B.AggregatesReceived >= 1, "AggregatesReceived counts it");
                TestSupport.WaitUntil(() => pair.AData.Exists(d => d.FromAggregate && d.Sender == pair.B.Membership.Member),
                                      pair.Pump, "A's aggregate entry of B's state");
                TestSupport.Equal(0, pair.B.MalformedDatagramsDropped, "no malformed aggregates");
            }
        }

        /// <summary>A wrong join code fails with the relay's <c>not_found</c> as a value and its message as text.</summary>
        public static void WrongJoinCodeRaisesNotFound()
        {
            using (var relay = new RelayTestProcess())
            using (var client = new RelayClient())
            {
                Action pump = client.Poll;
                TestSupport.Await(client.Connect(relay.Host, relay.ControlPort), pump, "connect");
                var error = TestSupport.AwaitFailure(client.JoinByCode("ZZZZZZ", "eve"), pump, "join with a wrong code");
                TestSupport.Equal(RelayErrorKind.Refused, error.Kind, "kind");
                TestSupport.Equal(RelayErrorCode.NotFound, error.Code, "code");
                TestSupport.Equal("not_found", error.RelayCode, "relay code text");
                TestSupport.Check(!string.IsNullOrEmpty(error.Message) && error.Message != "refused", "the relay's message: " + error.Message);
                TestSupport.Check(client.Membership == null, "no membership");
                var sendError = Catch(() => client.Send(Bytes("x")));
                TestSupport.Check(sendError != null && sendError.Kind == RelayErrorKind.NotJoined, "send before join is NotJoined");
                // The connection stays usable after a refusal.
                TestSupport.Await(client.ControlPing(), pump, "control ping after the refusal");
            }
        }

        /// <summary>Refusals keep their codes: bad tick, kick by a non-owner, leave without membership.</summary>
        public static void RefusalsCarryTheirCodes()
        {
            using (var pair = new Pair(bind: false))
            {
                var badTick = TestSupport.AwaitFailure(pair.A.Create(4, 500), pair.Pump, "create with tick 500");
                TestSupport.Equal(RelayErrorCode.BadRequest, badTick.Code, "tick out of range");
                var forbidden = TestSupport.AwaitFailure(pair.B.Kick(pair.A.Membership.Member), pair.Pump, "kick by a non-owner");
                TestSupport.Equal(RelayErrorCode.Forbidden, forbidden.Code, "non-owner kick");
                var again = TestSupport.AwaitFailure(pair.B.JoinByCode(pair.Session.Code), pair.Pump, "second join");
                TestSupport.Equal(RelayErrorCode.AlreadyJoined, again.Code, "second join");
                TestSupport.Await(pair.B.Leave(), pair.Pump, "leave");
                TestSupport.Check(pair.B.Membership == null, "membership cleared after leave");
                var notJoined = TestSupport.AwaitFailure(pair.B.Leave(), pair.Pump, "second leave");
                TestSupport.Equal(RelayErrorCode.NotJoined, notJoined.Code, "leave without membership");
                TestSupport.WaitUntil(() => pair.AEvents.Exists(e => e.Kind == RelayEventKind.Left && e.Reason == "leave"),
                                      pair.Pump, "A's left event");
            }
        }

        /// <summary>The owner kicks a member: the member gets <c>kicked</c>, the owner <c>left</c> with reason <c>kick</c>.</summary>
        public static void OwnerKicksMember()
        {
            using (var pair = new Pair())
            {
                TestSupport.Equal(pair.A.Membership.Member, pair.B.Membership.Owner, "A owns the session");
                TestSupport.Await(pair.A.Kick(pair.B.Membership.Member), pair.Pump, "kick");
                TestSupport.WaitUntil(() => pair.BEvents.Exists(e => e.Kind == RelayEventKind.Kicked), pair.Pump, "B's kicked event");
                TestSupport.Check(pair.B.Membership == null && !pair.B.IsBound, "B's membership ended");
                TestSupport.WaitUntil(() => pair.AEvents.Exists(e => e.Kind == RelayEventKind.Left && e.Reason == "kick"), pair.Pump, "A's left event");
                TestSupport.WaitUntil(() => pair.BEvents.Exists(e => e.Kind == RelayEventKind.Closed), pair.Pump, "B's connection closes");
            }
        }

        /// <summary>BIND completes although the relay's first two BIND_ACKs are lost (PROTOCOL.md §2.2's retry rule).</summary>
        public static void BindSurvivesLostBindAck()
        {
            using (var pair = new Pair(bind: false))
            using (var proxy = new BindAckDropProxy(pair.Relay.UdpPort, 2))
            {
                var lossy = new RelayClient();
                var got = new List<byte[]>();
                lossy.DataReceived += d => got.Add(d.ToArray());
                lossy.DataPortOverride = proxy.Port;
                Action pump = () => { pair.Pump(); lossy.Poll(); proxy.Pump(); };
                try
                {
                    TestSupport.Await(lossy.Connect(pair.Relay.Host, pair.Relay.ControlPort), pump, "connect");
                    TestSupport.Await(pair.A.Bind(), pump, "A bind");
                    TestSupport.Await(lossy.JoinByCode(pair.Session.Code, "lossy"), pump, "join");
                    TestSupport.Await(lossy.Bind(), pump, "bind through the lossy proxy");
                    TestSupport.Equal(2, proxy.Dropped, "BIND_ACKs dropped");
                    TestSupport.Check(proxy.Binds >= 3 && proxy.Binds <= RelayClient.BindMaxTries, "BINDs sent: " + proxy.Binds);
                    TestSupport.Check(lossy.IsBound, "bound");
                    pair.A.Send(Bytes("through"));
                    TestSupport.WaitUntil(() => got.Count >= 1, pump, "DATA reaches the member behind the proxy");
                    TestSupport.Equal("through", Text(got[0]), "payload");
                }
                finally
                {
                    lossy.Dispose();
                }
            }
        }

        /// <summary>With every BIND_ACK lost the client gives up after exactly 10 BINDs.</summary>
        public static void BindGivesUpAfterTenTries()
        {
            using (var relay = new RelayTestProcess())
            using (var proxy = new BindAckDropProxy(relay.UdpPort, int.MaxValue))
            using (var client = new RelayClient())
            {
                client.DataPortOverride = proxy.Port;
                Action pump = () => { client.Poll(); proxy.Pump(); };
                TestSupport.Await(client.Connect(relay.Host, relay.ControlPort), pump, "connect");
                var session = TestSupport.Await(client.Create(), pump, "create");
                TestSupport.Await(client.JoinById(session.Session), pump, "join");
                var clock = Stopwatch.StartNew();
                var error = TestSupport.AwaitFailure(client.Bind(), pump, "bind with every BIND_ACK lost");
                TestSupport.Equal(RelayErrorKind.TimedOut, error.Kind, "kind");
                TestSupport.Equal(RelayClient.BindMaxTries, proxy.Binds, "BINDs sent");
                // The client's own clock ticks in whole milliseconds (and the runtime's timers
                // coarser still), so allow 50 ms below the exact 3250.
                TestSupport.Check(clock.ElapsedMilliseconds >= 9 * 250 + 1000 - 50, "the tries are spread 250 ms apart, then a final 1 s wait: " + clock.ElapsedMilliseconds + " ms");
            }
        }

        /// <summary>With every empty BIND_ACK lost, the <c>bound</c> event completes the bind.</summary>
        public static void BindCompletesOnBoundEvent()
        {
            using (var relay = new RelayTestProcess())
            using (var proxy = new BindAckDropProxy(relay.UdpPort, int.MaxValue))
            using (var client = new RelayClient())
            {
                proxy.EmptyOnly = true;
                client.DataPortOverride = proxy.Port;
                Action pump = () => { client.Poll(); proxy.Pump(); };
                TestSupport.Await(client.Connect(relay.Host, relay.ControlPort), pump, "connect");
                var session = TestSupport.Await(client.Create(), pump, "create");
                TestSupport.Await(client.JoinById(session.Session), pump, "join");
                TestSupport.Await(client.Bind(), pump, "bind with every empty BIND_ACK lost");
                TestSupport.Check(client.IsBound, "bound");
                TestSupport.Check(proxy.Dropped >= 1 && proxy.Binds < RelayClient.BindMaxTries, "done before the tries ran out: " + proxy.Binds + " BINDs");
            }
        }

        /// <summary>
        /// The answer to the 10th BIND arrives late, after the retry interval: the client still
        /// waits for it and binds.
        /// </summary>
        public static void BindAcceptsALateAckToTheLastBind()
        {
            using (var relay = new RelayTestProcess())
            using (var proxy = new BindAckDropProxy(relay.UdpPort, 0))
            using (var client = new RelayClient())
            {
                client.DataPortOverride = proxy.Port;
                Action pump = () => { client.Poll(); proxy.Pump(); };
                TestSupport.Await(client.Connect(relay.Host, relay.ControlPort), pump, "connect");
                var session = TestSupport.Await(client.Create(), pump, "create");
                TestSupport.Await(client.JoinById(session.Session), pump, "join");
                TestSupport.Await(client.Bind(), pump, "first bind");
                // From the bound address every BIND gets an empty BIND_ACK: lose nine, delay the tenth.
                int before = proxy.Binds;
                proxy.DropsLeft = RelayClient.BindMaxTries - 1;
                proxy.DelayMs = 400;
                // Far longer than the delay, so a slow machine can't fail the test.
                client.BindFinalWaitMs = 3000;
                TestSupport.Await(client.Bind(), pump, "a bind whose only answer comes after the 10th BIND");
                TestSupport.Equal(RelayClient.BindMaxTries, proxy.Binds - before, "BINDs sent");
                TestSupport.Check(client.IsBound, "bound");
            }
        }

        /// <summary>A payload over the relay's maxDatagram is refused before sending; one at the limit goes through.</summary>
        public static void OversizeSendIsRefused()
        {
            using (var pair = new Pair("--max-datagram 200"))
            {
                TestSupport.Equal(200, pair.A.MaxDatagram, "maxDatagram from hello");
                TestSupport.Equal(184, pair.A.MaxPayload, "largest payload");
                uint before = pair.A.LastSequence;
                var error = Catch(() => pair.A.Send(new byte[185]));
                TestSupport.Check(error != null, "a 201-byte datagram is refused");
                TestSupport.Equal(RelayErrorKind.DatagramTooLarge, error.Kind, "kind");
                TestSupport.Equal(before, pair.A.LastSequence, "no sequence spent on the refused send");
                pair.A.Send(new byte[184]);
                TestSupport.WaitUntil(() => pair.BData.Count >= 1, pair.Pump, "the 200-byte datagram arrives");
                TestSupport.Equal(184, pair.BData[0].Payload.Count, "payload size");
            }
        }

        /// <summary>PING gets a PONG with a round-trip time.</summary>
        public static void PingMeasuresRoundTrip()
        {
            using (var pair = new Pair())
            {
                var rtts = new Dictionary<uint, double>();
                pair.A.PongReceived += (sequence, rtt) => rtts[sequence] = rtt;
                uint first = pair.A.Ping();
                uint second = pair.A.Ping();
                TestSupport.WaitUntil(() => rtts.ContainsKey(first) && rtts.ContainsKey(second), pair.Pump, "both PONGs");
                TestSupport.Check(rtts[first] > 0 && rtts[first] < 5000, "RTT " + rtts[first] + " ms");
                var controlRtt = TestSupport.Await(pair.A.ControlPing(), pair.Pump, "control ping");
                TestSupport.Check(controlRtt > 0, "control RTT " + controlRtt + " ms");
            }
        }

        /// <summary>Rebind moves the member to a new UDP socket, proven by cookie; DATA then reaches the new one.</summary>
        public static void RebindMovesTheBinding()
        {
            using (var pair = new Pair())
            {
                string before = pair.A.LocalUdpEndPoint.ToString();
                TestSupport.WaitUntil(() => pair.AEvents.Exists(e => e.Kind == RelayEventKind.Bound), pair.Pump, "first bound event");
                pair.AEvents.Clear();
                TestSupport.Await(pair.A.Rebind(), pair.Pump, "rebind");
                string after = pair.A.LocalUdpEndPoint.ToString();
                TestSupport.Check(before != after, "a new local endpoint: " + before + " -> " + after);
                TestSupport.WaitUntil(() => pair.AEvents.Exists(e => e.Kind == RelayEventKind.Bound && e.Address.EndsWith(":" + after.Split(':')[1])),
                                      pair.Pump, "bound event for " + after);
                TestSupport.Equal(1, pair.A.Rebinds, "rebinds counted");
                pair.B.Send(Bytes("to-new-address"));
                TestSupport.WaitUntil(() => pair.AData.Count >= 1, pair.Pump, "DATA at the new address");
                TestSupport.Equal("to-new-address", Text(pair.APayloads[0]), "payload");
            }
        }

        /// <summary>When the routing table picks another local address, the client rebinds from a new socket on its own.</summary>
        public static void LocalAddressChangeRebinds()
        {
            using (var pair = new Pair())
            {
                pair.A.AddressCheckIntervalMs = 50;
                string before = pair.A.LocalUdpEndPoint.ToString();
                TestSupport.WaitUntil(() => pair.AEvents.Exists(e => e.Kind == RelayEventKind.Bound), pair.Pump, "first bound event");
                pair.AEvents.Clear();
                // The network change: the route to the relay now leaves from another address.
                pair.A.LocalAddressProbe = remote => IPAddress.Parse("192.0.2.7");
                TestSupport.WaitUntil(() => pair.A.Rebinds == 1 && pair.A.IsBound && pair.AEvents.Exists(e => e.Kind == RelayEventKind.Bound),
                                      pair.Pump, "the automatic rebind");
                TestSupport.Check(pair.A.LocalUdpEndPoint.ToString() != before, "a new socket");
                pair.B.Send(Bytes("after-move"));
                TestSupport.WaitUntil(() => pair.AData.Count >= 1, pair.Pump, "DATA at the new socket");
                // The new route is the recorded one now: no rebind per check.
                var clock = Stopwatch.StartNew();
                TestSupport.WaitUntil(() => pair.A.Rebinds > 1 || clock.ElapsedMilliseconds > 300, pair.Pump, "a few more checks");
                TestSupport.Equal(1, pair.A.Rebinds, "rebinds after the move");
            }
        }

        /// <summary>When the binding idles out, the client binds again on its own.</summary>
        public static void UnboundBindsAgain()
        {
            using (var pair = new Pair("--idle-timeout 0.5"))
            {
                pair.A.DataKeepAliveIntervalMs = 0;
                pair.B.DataKeepAliveIntervalMs = 200;
                TestSupport.WaitUntil(() => pair.AEvents.Exists(e => e.Kind == RelayEventKind.Unbound && e.Reason == "idle"), pair.Pump, "A's unbound event");
                TestSupport.WaitUntil(() => pair.A.IsBound, pair.Pump, "A bound again");
                TestSupport.Check(pair.B.IsBound && !pair.BEvents.Exists(e => e.Kind == RelayEventKind.Unbound),
                                  "B's keep-alive PINGs kept its binding");
                pair.B.Send(Bytes("after-idle"));
                TestSupport.WaitUntil(() => pair.AData.Count >= 1, pair.Pump, "DATA after the rebind");
            }
        }

        /// <summary>The control keep-alive holds a connection open past the relay's control idle timeout.</summary>
        public static void ControlKeepAliveHoldsTheConnection()
        {
            using (var relay = new RelayTestProcess("--control-idle-timeout 1"))
            using (var quiet = new RelayClient())
            using (var talkative = new RelayClient())
            {
                quiet.KeepAliveIntervalMs = 0;
                talkative.KeepAliveIntervalMs = 300;
                var quietEvents = new List<RelayEvent>();
                var talkativeEvents = new List<RelayEvent>();
                quiet.EventReceived += quietEvents.Add;
                talkative.EventReceived += talkativeEvents.Add;
                Action pump = () => { quiet.Poll(); talkative.Poll(); };
                TestSupport.Await(quiet.Connect(relay.Host, relay.ControlPort), pump, "connect quiet");
                TestSupport.Await(talkative.Connect(relay.Host, relay.ControlPort), pump, "connect talkative");
                // The quiet client is the control: the relay closes it, so the timeout is real.
                TestSupport.WaitUntil(() => quietEvents.Exists(e => e.Kind == RelayEventKind.Closed), pump, "the quiet client closed by the relay");
                TestSupport.Check(quietEvents.Exists(e => e.Kind == RelayEventKind.Closing && e.Reason == "idle"), "closing idle before the close");
                // Three more idle timeouts: without its pings the relay would have closed it twice over.
                var clock = Stopwatch.StartNew();
                TestSupport.WaitUntil(() => !talkative.IsConnected || clock.ElapsedMilliseconds >= 3000, pump, "three idle timeouts");
                TestSupport.Check(talkative.IsConnected && talkativeEvents.Count == 0,
                                  "the talkative client still open: " + string.Join(", ", talkativeEvents.ConvertAll(e => e.ToString()).ToArray()));
                TestSupport.Await(talkative.ControlPing(), pump, "control ping");
            }
        }

        /// <summary>The receive thread queues datagrams; Poll still raises them on the caller's thread.</summary>
        public static void ReceiveThreadDeliversOnPollThread()
        {
            using (var pair = new Pair())
            {
                int pollThread = System.Threading.Thread.CurrentThread.ManagedThreadId;
                int seenOn = -1;
                pair.B.DataReceived += d => seenOn = System.Threading.Thread.CurrentThread.ManagedThreadId;
                var rtts = new List<double>();
                pair.B.PongReceived += (s, rtt) => rtts.Add(rtt);
                pair.B.StartReceiveThread();
                pair.A.Send(Bytes("threaded"));
                pair.B.Ping();
                TestSupport.WaitUntil(() => pair.BData.Count >= 1 && rtts.Count >= 1, pair.Pump, "DATA and PONG through the receive thread");
                TestSupport.Equal(pollThread, seenOn, "raised on the polling thread");
                TestSupport.Equal("threaded", Text(pair.BPayloads[0]), "payload");
                pair.B.StopReceiveThread();
            }
        }

        /// <summary>The control channel runs inside TLS with SslStream (TLS 1.2), required or when offered.</summary>
        public static void TlsControlChannel()
        {
            using (var relay = TestCertificate.TlsRelay())
            using (var required = new RelayClient())
            using (var offered = new RelayClient())
            using (var wrongPin = new RelayClient())
            {
                var pin = TestCertificate.Pin();
                Action pump = () => { required.Poll(); offered.Poll(); wrongPin.Poll(); };
                required.Tls = RelayTlsMode.Required;
                required.PinnedCertificate = pin;
                var hello = TestSupport.Await(required.Connect(relay.Host, relay.ControlPort), pump, "TLS connect");
                TestSupport.Check(hello.Tls && required.IsTls, "hello reports TLS");
                TestSupport.Check(hello.Offers("tls"), "hello lists tls");
                var session = TestSupport.Await(required.Create(), pump, "create inside TLS");

                offered.Tls = RelayTlsMode.WhenOffered;
                offered.PinnedCertificate = pin;
                var events = new List<RelayEvent>();
                required.EventReceived += events.Add;
                TestSupport.Await(required.JoinById(session.Session, "tls-a"), pump, "join inside TLS");
                var offeredHello = TestSupport.Await(offered.Connect(relay.Host, relay.ControlPort), pump, "connect when offered");
                TestSupport.Check(offeredHello.Tls, "upgraded to TLS when offered");
                TestSupport.Await(offered.JoinByCode(session.Code, "tls-b"), pump, "second join inside TLS");
                TestSupport.WaitUntil(() => events.Exists(e => e.Kind == RelayEventKind.Joined && e.Name == "tls-b"), pump, "joined event inside TLS");

                wrongPin.Tls = RelayTlsMode.Required;
                wrongPin.PinnedCertificate = new X509Certificate(File.ReadAllBytes(TestCertificate.MakeOther() + ".der"));
                var error = TestSupport.AwaitFailure(wrongPin.Connect(relay.Host, relay.ControlPort), pump, "connect with a wrong pin");
                TestSupport.Equal(RelayErrorKind.Tls, error.Kind, "a refused certificate fails as Tls");
            }
        }

        /// <summary>A relay under --tls-required refuses a plain client with TlsRequired; WhenOffered moves into TLS.</summary>
        public static void TlsRequiredRelay()
        {
            using (var relay = TestCertificate.TlsRelay("--tls-required"))
            using (var plain = new RelayClient())
            using (var offered = new RelayClient())
            {
                Action pump = () => { plain.Poll(); offered.Poll(); };
                var error = TestSupport.AwaitFailure(plain.Connect(relay.Host, relay.ControlPort), pump, "plain connect");
                TestSupport.Equal(RelayErrorCode.TlsRequired, error.Code, "a plain hello is refused");
                offered.Tls = RelayTlsMode.WhenOffered;
                offered.PinnedCertificate = TestCertificate.Pin();
                var hello = TestSupport.Await(offered.Connect(relay.Host, relay.ControlPort), pump, "connect when offered");
                TestSupport.Check(hello.Tls && offered.IsTls, "inside TLS after tls_required");
                TestSupport.Await(offered.Create(), pump, "create inside TLS");
            }
        }

        /// <summary>
        /// Requests written back to back inside TLS: their replies arrive together and each
        /// is parsed intact, none overwritten by the next read.
        /// </summary>
        public static void TlsPipelinedRepliesArriveIntact()
        {
            using (var relay = TestCertificate.TlsRelay())
            using (var client = new RelayClient())
            {
                Action pump = client.Poll;
                client.Tls = RelayTlsMode.Required;
                client.PinnedCertificate = TestCertificate.Pin();
                client.RequestTimeoutMs = 5000;
                TestSupport.Await(client.Connect(relay.Host, relay.ControlPort), pump, "TLS connect");
                // Within the relay's request burst of 200 (PROTOCOL.md §1.2), so every one is answered.
                var pings = new List<RelayOperation<double>>();
                for (int i = 0; i < 190; i++) pings.Add(client.ControlPing());
                TestSupport.WaitUntil(() => pings.TrueForAll(o => o.IsDone), pump, "190 pipelined pings");
                var failed = pings.Find(o => !o.Succeeded);
                TestSupport.Check(failed == null, "every ping reply intact: " + (failed != null ? failed.Error.Message : ""));
            }
        }

        /// <summary>
        /// Inside TLS, requests queue behind the write in flight instead of blocking the caller;
        /// more than the backlog bound unsent ends the connection with a clear error.
        /// </summary>
        public static void TlsWritesQueueWithinTheBacklogBound()
        {
            using (var relay = TestCertificate.TlsRelay())
            using (var client = new RelayClient())
            {
                Action pump = client.Poll;
                client.Tls = RelayTlsMode.Required;
                client.PinnedCertificate = TestCertificate.Pin();
                TestSupport.Await(client.Connect(relay.Host, relay.ControlPort), pump, "TLS connect");
                var events = new List<RelayEvent>();
                client.EventReceived += events.Add;
                client.ControlBacklogLimit = 4096;
                // Without a Poll nothing completes the first write, so the rest can only queue.
                var pings = new List<RelayOperation<double>>();
                for (int i = 0; i < 1000 && client.IsConnected; i++) pings.Add(client.ControlPing());
                TestSupport.Check(!client.IsConnected, "the connection ended at the bound");
                var closed = events.Find(e => e.Kind == RelayEventKind.Closed);
                TestSupport.Check(closed != null && closed.Reason.Contains("stopped reading"), "a Closed event naming the backlog: " + closed);
                TestSupport.Check(pings.TrueForAll(o => o.IsDone && o.Error != null && o.Error.Kind == RelayErrorKind.Closed), "every queued ping failed as Closed");
            }
        }

        /// <summary>
        /// A game handler that throws reaches the caller of Poll once, after the client finished
        /// its own work: replies read in the same go still complete, data keeps arriving, the
        /// binding stays, and a Poll from inside a handler is refused.
        /// </summary>
        public static void ThrowingHandlersLeaveTheClientWorking()
        {
            using (var pair = new Pair())
            {
                var caught = new List<Exception>();
                Action pump = () =>
                {
                    pair.A.Poll();
                    try
                    {
                        pair.B.Poll();
                    }
                    catch (ApplicationException e)
                    {
                        caught.Add(e);
                    }
                };

                pair.B.RequestTimeoutMs = 3000;
                var thrown = new ApplicationException("a Completed handler's bug");
                var first = pair.B.ControlPing();
                first.Completed += done => { throw thrown; };
                var rest = new List<RelayOperation<double>>();
                for (int i = 0; i < 20; i++) rest.Add(pair.B.ControlPing());
                // Lets the replies arrive together, so the throw happens with more of them unparsed.
                System.Threading.Thread.Sleep(100);
                TestSupport.WaitUntil(() => rest.TrueForAll(o => o.IsDone), pump, "the replies after the throwing one");
                TestSupport.Check(rest.TrueForAll(o => o.Succeeded), "every later reply completed");
                TestSupport.Check(caught.Count == 1 && caught[0] == thrown, "Poll rethrew the handler's exception once: " + caught.Count);

                caught.Clear();
                int dataThrows = 0;
                pair.B.DataReceived += d => { if (dataThrows++ == 0) throw new ApplicationException("a DataReceived handler's bug"); };
                int eventThrows = 0;
                pair.B.EventReceived += e => { if (e.Kind == RelayEventKind.Left && eventThrows++ == 0) throw new ApplicationException("an EventReceived handler's bug"); };
                pair.A.Send(Bytes("one"));
                pair.A.Send(Bytes("two"));
                TestSupport.WaitUntil(() => pair.BData.Count >= 2, pump, "both datagrams despite the throw");
                TestSupport.Check(caught.Count >= 1 && caught[0].Message.Contains("DataReceived"), "the DataReceived exception reached Poll");
                TestSupport.Check(pair.B.IsBound, "still bound");

                TestSupport.Await(pair.A.Leave(), pump, "A leaves");
                TestSupport.WaitUntil(() => eventThrows > 0, pump, "B's throwing left handler");
                TestSupport.Check(caught.Exists(e => e.Message.Contains("EventReceived")), "the EventReceived exception reached Poll");
                TestSupport.Await(pair.B.ControlPing(), pump, "a control ping after the throws");
                TestSupport.Check(pair.B.IsBound && pair.B.IsConnected, "B still connected and bound");
                pair.B.Ping();
                int pongs = 0;
                pair.B.PongReceived += (sequence, rtt) => pongs++;
                pair.B.Ping();
                TestSupport.WaitUntil(() => pongs > 0, pump, "a PONG after the throws");

                Exception reentrant = null;
                var ping = pair.B.ControlPing();
                ping.Completed += done =>
                {
                    try
                    {
                        pair.B.Poll();
                    }
                    catch (InvalidOperationException e)
                    {
                        reentrant = e;
                    }
                };
                TestSupport.Await(ping, pump, "a control ping whose handler polls");
                TestSupport.Check(reentrant != null, "a Poll from inside a handler is refused");

                // Close fails a pending request whose handler throws: the Closed event still follows.
                var pending = pair.B.ControlPing();
                pending.Completed += done => { throw new ApplicationException("a handler's bug during Close"); };
                Exception fromClose = null;
                try
                {
                    pair.B.Close();
                }
                catch (ApplicationException e)
                {
                    fromClose = e;
                }
                TestSupport.Check(fromClose != null, "Close rethrew the handler's exception");
                TestSupport.Check(!pair.B.IsConnected && pair.BEvents.Exists(e => e.Kind == RelayEventKind.Closed), "closed, with its Closed event");
            }
        }

        /// <summary>One Poll handles at most the per-Poll number of control messages; the rest wait, none lost.</summary>
        public static void PollBoundsControlWork()
        {
            using (var relay = new RelayTestProcess())
            using (var client = new RelayClient())
            {
                Action pump = client.Poll;
                TestSupport.Await(client.Connect(relay.Host, relay.ControlPort), pump, "connect");
                client.ControlMessagesPerPoll = 10;
                var pings = new List<RelayOperation<double>>();
                for (int i = 0; i < 100; i++) pings.Add(client.ControlPing());
                var clock = Stopwatch.StartNew();
                int most = 0;
                while (!pings.TrueForAll(o => o.IsDone) && clock.ElapsedMilliseconds < TestSupport.DefaultTimeoutMs)
                {
                    int before = pings.FindAll(o => o.IsDone).Count;
                    client.Poll();
                    most = Math.Max(most, pings.FindAll(o => o.IsDone).Count - before);
                    // A pause between polls lets many replies queue up for the next.
                    System.Threading.Thread.Sleep(20);
                }
                TestSupport.Check(pings.TrueForAll(o => o.Succeeded), "every ping answered");
                TestSupport.Check(most <= 10, "at most 10 messages per Poll: " + most);
            }
        }

        /// <summary>The receive thread's full queue drops its oldest datagrams, so Poll delivers the newest.</summary>
        public static void ReceiveQueueDropsTheOldest()
        {
            using (var pair = new Pair())
            {
                pair.B.QueueLimit = 4;
                pair.B.StartReceiveThread();
                for (int i = 0; i < 10; i++) pair.A.Send(Bytes("update-" + i));
                uint last = pair.A.LastSequence;
                TestSupport.WaitUntil(() => pair.B.PendingQueueDrops >= 6, () => pair.A.Poll(), "the receive thread drops six");
                pair.B.Poll();
                pair.B.StopReceiveThread();
                TestSupport.Equal(4, pair.BData.Count, "the queue's four");
                TestSupport.Equal(last, pair.BData[3].Sequence, "the newest is kept");
                TestSupport.Equal(last - 3, pair.BData[0].Sequence, "the oldest kept is the fourth newest");
                TestSupport.Check(pair.B.DatagramsDropped >= 6, "drops counted: " + pair.B.DatagramsDropped);
            }
        }

        /// <summary>
        /// Requests the relay would refuse fail before sending, and the connection stays open; bad
        /// Send arguments throw; member ids stay in range.
        /// </summary>
        public static void InvalidRequestsFailLocally()
        {
            using (var relay = new RelayTestProcess())
            using (var client = new RelayClient())
            {
                Action pump = client.Poll;
                TestSupport.Await(client.Connect(relay.Host, relay.ControlPort), pump, "connect");
                var session = TestSupport.Await(client.Create(), pump, "create");
                var tooLong = TestSupport.AwaitFailure(client.JoinById(session.Session, new string('\u00e9', 33)), pump, "a 66-byte name");
                TestSupport.Equal(RelayErrorKind.InvalidRequest, tooLong.Kind, "kind for a long name");
                var huge = TestSupport.AwaitFailure(client.JoinByCode(new string('x', 20000)), pump, "a 20000-byte join");
                TestSupport.Equal(RelayErrorKind.InvalidRequest, huge.Kind, "kind for a huge message");
                TestSupport.Check(client.IsConnected, "nothing reached the relay, so it kept the connection");
                var membership = TestSupport.Await(client.JoinById(session.Session, new string('\u00e9', 32)), pump, "a 64-byte name");
                TestSupport.Check(membership.Member >= 1 && membership.Member < RelayPacket.Broadcast, "member id in range");
                TestSupport.Check(ThrowsArgument(() => client.Send(null)), "Send(null)");
                TestSupport.Check(ThrowsArgument(() => client.Send(new byte[8], 4, int.MaxValue)), "an offset and count that overflow");
                TestSupport.Check(ThrowsArgument(() => client.Send(new byte[8], 9, 0)), "an offset past the end");
            }
        }

        /// <summary>Close during the connect fails the connect and raises Closed, as for an open connection.</summary>
        public static void CloseDuringConnectRaisesClosed()
        {
            using (var relay = new RelayTestProcess())
            using (var client = new RelayClient())
            {
                var events = new List<RelayEvent>();
                client.EventReceived += events.Add;
                var connect = client.Connect(relay.Host, relay.ControlPort);
                client.Close();
                TestSupport.Check(connect.IsDone && connect.Error != null && connect.Error.Kind == RelayErrorKind.Closed, "the connect failed as Closed");
                TestSupport.Check(events.Exists(e => e.Kind == RelayEventKind.Closed), "a Closed event");
            }
        }

        /// <summary>The data keep-alive follows the relay's idle timeout from hello when that is shorter than configured.</summary>
        public static void DataKeepAliveFollowsTheRelaysIdleTimeout()
        {
            using (var pair = new Pair("--idle-timeout 1.5"))
            {
                TestSupport.Equal(1500L, pair.B.Hello.IdleTimeoutMs, "idleTimeoutMs from hello");
                pair.A.DataKeepAliveIntervalMs = 0;
                pair.A.AutoRebind = false;
                // Longer than the timeout: only the cap at a third of it (500 ms) keeps B bound.
                pair.B.DataKeepAliveIntervalMs = 5000;
                // A sends nothing, so its binding idles out: the timeout is real.
                TestSupport.WaitUntil(() => pair.AEvents.Exists(e => e.Kind == RelayEventKind.Unbound), pair.Pump, "A's unbound event");
                var clock = Stopwatch.StartNew();
                TestSupport.WaitUntil(() => !pair.B.IsBound || clock.ElapsedMilliseconds >= 3000, pair.Pump, "two more idle timeouts");
                TestSupport.Check(pair.B.IsBound && !pair.BEvents.Exists(e => e.Kind == RelayEventKind.Unbound), "B's keep-alive held its binding");
            }
        }

        static bool ThrowsArgument(Action action)
        {
            try
            {
                action();
                return false;
            }
            catch (ArgumentException)
            {
                return true;
            }
        }

        /// <summary>A host name resolves without blocking, and each of its addresses is tried in turn.</summary>
        public static void HostNamesResolveAndFallThrough()
        {
            using (var relay = new RelayTestProcess())
            using (var named = new RelayClient())
            using (var fallback = new RelayClient())
            {
                Action pump = () => { named.Poll(); fallback.Poll(); };
                TestSupport.Await(named.Connect("localhost", relay.ControlPort), pump, "connect to localhost");
                // The first address has no relay on that port: the connect moves on to the second.
                fallback.Resolve = name => System.Threading.Tasks.Task.FromResult(new[] { IPAddress.IPv6Loopback, IPAddress.Loopback });
                TestSupport.Await(fallback.Connect("relay.test", relay.ControlPort), pump, "connect through the second address");
                TestSupport.Await(fallback.ControlPing(), pump, "control ping");
            }
        }

        static RelayException Catch(Action action)
        {
            try
            {
                action();
                return null;
            }
            catch (RelayException e)
            {
                return e;
            }
        }
    }
}
