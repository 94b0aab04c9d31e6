using System;
using System.Collections.Generic;
using GameRelay;
using UnityEngine;

/// <summary>
/// Joins a GameRelay session, sends this object's position and yaw 20 times a second (LATEST,
/// so the relay drops stale ones), and moves one spawned object per peer toward the last
/// position that peer sent. Leave <see cref="joinCode"/> empty to create a session; its code is
/// logged for the other players.
/// </summary>
public class PeerTransformSync : MonoBehaviour
{
    [SerializeField] string relayHost = "127.0.0.1";
    [SerializeField] int relayPort = 7400;
    [SerializeField] string joinCode = "";
    [SerializeField] string playerName = "player";
    [SerializeField] GameObject peerPrefab;
    [SerializeField] float sendRate = 20;
    [SerializeField] bool useTls = false;

    RelayClient client;
    float nextSend;
    readonly byte[] state = new byte[16];
    readonly float[] fields = new float[4];
    readonly Dictionary<ushort, Transform> peers = new Dictionary<ushort, Transform>();
    readonly Dictionary<ushort, Vector3> targets = new Dictionary<ushort, Vector3>();
    readonly Dictionary<ushort, float> yaws = new Dictionary<ushort, float>();

    void Start()
    {
        client = new RelayClient();
        if (useTls) client.Tls = RelayTlsMode.Required;
        client.DataReceived += OnData;
        client.EventReceived += OnRelayEvent;
        client.Connect(relayHost, relayPort).Completed += connected =>
        {
            if (connected.Error != null) { Debug.LogError("GameRelay: " + connected.Error); return; }
            if (string.IsNullOrEmpty(joinCode))
            {
                client.Create(8).Completed += created =>
                {
                    if (created.Error != null) { Debug.LogError("GameRelay: " + created.Error); return; }
                    Debug.Log("GameRelay: session created, join code " + created.Result.Code);
                    Join(created.Result.Code);
                };
            }
            else
            {
                Join(joinCode);
            }
        };
    }

    void Join(string code)
    {
        client.JoinByCode(code, playerName).Completed += joined =>
        {
            if (joined.Error != null) { Debug.LogError("GameRelay: " + joined.Error); return; }
            client.Bind().Completed += bound =>
            {
                if (bound.Error != null) Debug.LogError("GameRelay: " + bound.Error);
            };
        };
    }

    void Update()
    {
        // All network work and every callback above happen here, on the main thread.
        client.Poll();
        if (client.IsBound && Time.time >= nextSend)
        {
            nextSend = Time.time + 1f / sendRate;
            Vector3 position = transform.position;
            fields[0] = position.x;
            fields[1] = position.y;
            fields[2] = position.z;
            fields[3] = transform.eulerAngles.y;
            // Every platform Unity targets is little-endian, so the raw floats are the wire format.
            Buffer.BlockCopy(fields, 0, state, 0, state.Length);
            client.Send(state, latest: true);
        }
        foreach (var peer in peers)
        {
            peer.Value.position = Vector3.Lerp(peer.Value.position, targets[peer.Key], 10f * Time.deltaTime);
            peer.Value.rotation = Quaternion.Euler(0, yaws[peer.Key], 0);
        }
    }

    void OnData(ReceivedData data)
    {
        if (data.Payload.Count != state.Length) return;
        var received = new float[4];
        Buffer.BlockCopy(data.Payload.Array, data.Payload.Offset, received, 0, state.Length);
        Transform peer;
        if (!peers.TryGetValue(data.Sender, out peer))
        {
            if (peerPrefab == null) return;
            peer = Instantiate(peerPrefab, new Vector3(received[0], received[1], received[2]), Quaternion.identity).transform;
            peers[data.Sender] = peer;
        }
        targets[data.Sender] = new Vector3(received[0], received[1], received[2]);
        yaws[data.Sender] = received[3];
    }

    void OnRelayEvent(RelayEvent relayEvent)
    {
        Debug.Log("GameRelay: " + relayEvent);
        if (relayEvent.Kind != RelayEventKind.Left) return;
        Transform peer;
        if (peers.TryGetValue(relayEvent.Member, out peer))
        {
            Destroy(peer.gameObject);
            peers.Remove(relayEvent.Member);
            targets.Remove(relayEvent.Member);
            yaws.Remove(relayEvent.Member);
        }
    }

    void OnDestroy()
    {
        if (client != null) client.Dispose();
    }
}
