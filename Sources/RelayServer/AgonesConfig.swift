/// Where the Agones SDK gateway listens and how the relay talks to it (`--agones` and the
/// `--agones-*` settings).
///
/// Agones runs an SDK server next to every game server container and tells the container its
/// REST port in `AGONES_SDK_HTTP_PORT`; the relay calls it on loopback.
public struct AgonesConfig: Sendable, Hashable {
    /// The gateway's address; the SDK server listens on the pod's loopback.
    public var sdkHost: String = "127.0.0.1"
    /// The gateway's HTTP port (`--agones-sdk-port`, else `AGONES_SDK_HTTP_PORT`, else 9358).
    public var sdkPort: Int = 9358
    /// How often the relay calls `POST /health`, once every data-plane loop has answered
    /// (`--agones-health-interval`).
    public var healthInterval: Duration = .seconds(2)
    /// How long the relay keeps asking `GET /gameserver` for its allocated port while the SDK
    /// server starts, before it gives up and exits (`--agones-start-timeout`).
    public var startTimeout: Duration = .seconds(60)
    /// Whether the Fleet's port uses `portPolicy: Passthrough`: the container must then listen on
    /// the allocated port itself, so both sockets bind there (`--agones-passthrough`).
    public var passthrough = false
    /// The name of the GameServer port to advertise (`--agones-port-name`); nil takes the port
    /// named `relay`, else the first one.
    public var portName: String?
    /// How long one request to the gateway may take, connect included.
    public var requestTimeout: Duration = .seconds(2)
    /// How long to wait between two `GET /gameserver` attempts while the SDK server starts.
    public var retryInterval: Duration = .milliseconds(500)

    /// The gateway's default port when nothing names one.
    public static let defaultSDKPort = 9358

    /// A configuration with every default.
    public init() {}
}
