using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace GameRelay.Tests
{
    /// <summary>
    /// A UDP forwarder between one client and the relay that drops the first N BIND_ACKs the
    /// relay sends, as a lossy network would. Pumped by the test's wait loop, no thread.
    /// </summary>
    public sealed class BindAckDropProxy : IDisposable
    {
        readonly Socket front;
        readonly Socket back;
        readonly byte[] buffer = new byte[65536];
        EndPoint client;
        readonly Stopwatch clock = Stopwatch.StartNew();
        readonly List<KeyValuePair<long, byte[]>> held = new List<KeyValuePair<long, byte[]>>();

        /// <summary>How long the proxy holds each BIND_ACK it does not drop before passing it on, as a slow path would.</summary>
        public int DelayMs;

        /// <summary>How many more BIND_ACKs to drop.</summary>
        public int DropsLeft;
        /// <summary>Whether only empty BIND_ACKs (bound) are dropped, and those with a cookie pass.</summary>
        public bool EmptyOnly;
        /// <summary>BIND_ACKs dropped so far.</summary>
        public int Dropped { get; private set; }
        /// <summary>BINDs the client sent through the proxy.</summary>
        public int Binds { get; private set; }
        /// <summary>The port clients send to.</summary>
        public int Port { get { return ((IPEndPoint)front.LocalEndPoint).Port; } }

        /// <summary>Forwards to the relay's UDP port on loopback, dropping the first <paramref name="drops"/> BIND_ACKs.</summary>
        public BindAckDropProxy(int relayUdpPort, int drops)
        {
            DropsLeft = drops;
            front = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            front.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            front.Blocking = false;
            back = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            back.Connect(new IPEndPoint(IPAddress.Loopback, relayUdpPort));
            back.Blocking = false;
        }

        /// <summary>Moves every waiting datagram one hop.</summary>
        public void Pump()
        {
            while (front.Available > 0)
            {
                EndPoint from = new IPEndPoint(IPAddress.Any, 0);
                int count = front.ReceiveFrom(buffer, ref from);
                client = from;
                if (count >= 16 && buffer[2] == RelayPacket.TypeBind) Binds++;
                back.Send(buffer, 0, count, SocketFlags.None);
            }
            while (back.Available > 0)
            {
                int count;
                try
                {
                    count = back.Receive(buffer);
                }
                catch (SocketException)
                {
                    continue;
                }
                if (count >= 16 && buffer[2] == RelayPacket.TypeBindAck && DropsLeft > 0 && (!EmptyOnly || count == 16))
                {
                    DropsLeft--;
                    Dropped++;
                    continue;
                }
                if (count >= 16 && buffer[2] == RelayPacket.TypeBindAck && DelayMs > 0)
                {
                    var copy = new byte[count];
                    Buffer.BlockCopy(buffer, 0, copy, 0, count);
                    held.Add(new KeyValuePair<long, byte[]>(clock.ElapsedMilliseconds + DelayMs, copy));
                    continue;
                }
                if (client != null) front.SendTo(buffer, 0, count, SocketFlags.None, client);
            }
            for (int i = 0; i < held.Count; i++)
            {
                if (held[i].Key > clock.ElapsedMilliseconds || client == null) continue;
                front.SendTo(held[i].Value, 0, held[i].Value.Length, SocketFlags.None, client);
                held.RemoveAt(i--);
            }
        }

        /// <summary>Closes both sockets.</summary>
        public void Dispose()
        {
            front.Close();
            back.Close();
        }
    }
}
