// swift-tools-version:6.1
import PackageDescription

// The relay's benchmarks, a package of their own so that users of the relay's libraries never
// resolve the benchmark harness (SwiftNIO keeps its `Benchmarks/` the same way).
//
// Run from this directory: `swift package --disable-sandbox benchmark` (see README.md).
let package = Package(
    name: "GameRelayBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        // `name:` because a path dependency's identity is otherwise the checkout folder's name,
        // which differs between clones (CI clones into a folder of its own).
        .package(name: "GameRelay", path: "../"),
        // The relay's logger, set to warnings so the end-to-end relay prints nothing while measured.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The MallocInterposer trait is required: the default traits pull in a further package this
        // project does not use, and `traits: []` makes every malloc count read 0 (a silent pass).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Socket-free: the wire values and one receive-to-send pass through the data plane.
        .executableTarget(
            name: "DataPlaneBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "RelayWire", package: "GameRelay"),
                .product(name: "RelayServer", package: "GameRelay"),
                .product(name: "UVNet", package: "GameRelay"),
            ],
            path: "Benchmarks/DataPlaneBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // A real relay and real clients over loopback UDP, in one process.
        .executableTarget(
            name: "EndToEndBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "RelayClient", package: "GameRelay"),
                .product(name: "RelayServer", package: "GameRelay"),
                .product(name: "UVNet", package: "GameRelay"),
            ],
            path: "Benchmarks/EndToEndBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
