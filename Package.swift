// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "GameRelay",
    products: [
        .library(name: "UVNet", targets: ["UVNet"]),
        .library(name: "RelayWire", targets: ["RelayWire"]),
        .library(name: "RelayServer", targets: ["RelayServer"]),
        .library(name: "RelayClient", targets: ["RelayClient"]),
        .executable(name: "gamerelay", targets: ["gamerelay"]),
        // libFuzzer targets (Fuzz/README.md); build one at a time with scripts/fuzz.sh.
        .executable(name: "FuzzDatagram", targets: ["FuzzDatagram"]),
        .executable(name: "FuzzBind", targets: ["FuzzBind"]),
        .executable(name: "FuzzControl", targets: ["FuzzControl"]),
        .executable(name: "FuzzHTTPHead", targets: ["FuzzHTTPHead"]),
        .executable(name: "FuzzTLSHandshake", targets: ["FuzzTLSHandshake"]),
        .executable(name: "FuzzTLSClientHandshake", targets: ["FuzzTLSClientHandshake"]),
        .executable(name: "FuzzAggregate", targets: ["FuzzAggregate"]),
        .executable(name: "FuzzHTTPResponse", targets: ["FuzzHTTPResponse"]),
        .executable(name: "FuzzWebSocketFrames", targets: ["FuzzWebSocketFrames"]),
        .executable(name: "FuzzWebSocketHandshake", targets: ["FuzzWebSocketHandshake"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibUV",
            pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]
        ),
        // OpenSSL 3 for TLS on the control port, driven through memory BIOs by UVNet's loops.
        .systemLibrary(
            name: "CLibSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(
            name: "UVNet",
            dependencies: ["CLibUV", "CLibSSL"]
        ),
        .target(name: "RelayWire"),
        .target(
            name: "RelayServer",
            dependencies: [
                "UVNet",
                "RelayWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "RelayClient",
            dependencies: ["UVNet", "RelayWire"]
        ),
        .target(name: "TurnClient", dependencies: ["UVNet", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "RelayBench",
            dependencies: [.product(name: "Histogram", package: "hdrhistogram-swift")]
        ),
        .executableTarget(
            name: "gamerelay",
            dependencies: [
                "RelayServer",
                "RelayClient",
                "RelayWire",
                "RelayBench",
                "TurnClient",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                "UVNet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The fuzz targets' checks, shared by the libFuzzer executables and the replay tests; not a product.
        .target(name: "FuzzTargets", dependencies: ["RelayWire", "RelayServer", "UVNet"]),
        // Each defines LLVMFuzzerTestOneInput; built with -DFUZZING and -sanitize=fuzzer libFuzzer
        // supplies main, otherwise a main that replays input files.
        .executableTarget(name: "FuzzDatagram", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzBind", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzControl", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzHTTPHead", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzTLSHandshake", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzTLSClientHandshake", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzAggregate", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzHTTPResponse", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzWebSocketFrames", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzWebSocketHandshake", dependencies: ["FuzzTargets"]),
        .testTarget(name: "FuzzReplayTests", dependencies: ["FuzzTargets", "RelayServer", "RelayWire", "UVNet"]),
        .testTarget(name: "UVNetTests", dependencies: ["UVNet", "TestSupport"]),
        .testTarget(name: "RelayWireTests", dependencies: ["RelayWire", "TestSupport"]),
        .testTarget(name: "RelayBenchTests", dependencies: ["RelayBench"]),
        // Helpers shared by the test targets (bounded waits, failures); not a product.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "TurnClientTests", dependencies: ["TurnClient", "UVNet", "TestSupport"]),
        .testTarget(name: "RelayClientTests", dependencies: ["RelayClient", "RelayServer", "UVNet", "TestSupport"]),
        // The command's own logic (settings from flags, environment and file), through @testable import.
        .testTarget(name: "GameRelayCommandTests", dependencies: ["gamerelay", "RelayServer", "RelayBench"]),
        .testTarget(
            name: "RelayServerTests",
            dependencies: ["RelayServer", "RelayWire", "RelayBench", "UVNet", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
