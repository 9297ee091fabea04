// swift-tools-version:6.2
import PackageDescription

// Every target of ours: no warnings (`make test` fails on one).
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
]
let strictC: [CSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "Squall",
    // Linux only: Glibc, epoll through NIOPosix, accept4(2), Debian's hiredis and OpenSSL.
    // SwiftPM has no way to say so here (`platforms` only raises Apple minimums), so
    // TrackerServer stops the build elsewhere with an #error.
    products: [
        .executable(name: "squall", targets: ["squall"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Domain values, the store protocol and the announce rules. Foundation-free, NIO-free, C-free.
        .target(name: "TrackerCore", swiftSettings: strict),
        // Wire formats: HTTP request heads, query strings, bencode, compact peers. No network.
        .target(name: "TrackerProtocol", dependencies: ["TrackerCore"], swiftSettings: strict),
        // Private mode's pure part: passkeys, the site's registry, UNIT3D-Announce's rules and
        // texts, the peer-list rates. Foundation-free, NIO-free, C-free (libm aside).
        .target(name: "PrivateCore", dependencies: ["TrackerCore"], swiftSettings: strict),
        // The embedded default store.
        .target(name: "MemoryStore", dependencies: ["TrackerCore"], swiftSettings: strict),
        // hiredis from Debian's libhiredis-dev; only RedisStore imports it.
        // No pkgConfig: hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM drops with a warning,
        // and its headers and library are in the default paths.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        // A hiredis reply reader that bounds array headers; nothing else.
        .target(name: "CSquallRedisShims", dependencies: ["CHiredis"], cSettings: strictC),
        // The Redis store: hiredis formats and parses, NIO channels carry the bytes.
        .target(
            name: "RedisStore",
            dependencies: [
                "CHiredis", "CSquallRedisShims", "TrackerCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // MariaDB Connector/C from Debian's libmariadb-dev; only SiteDatabase imports it.
        .systemLibrary(name: "CMariaDB", providers: [.apt(["libmariadb-dev"])]),
        // The site's database (UNIT3D's tables on MariaDB or MySQL): a blocking connection and the
        // startup load of the registry. Runs on threads of its own, never on an event loop.
        .target(name: "SiteDatabase", dependencies: ["CMariaDB", "PrivateCore", "TrackerCore"], swiftSettings: strict),
        // OpenSSL 3 from Debian's libssl-dev; only TrackerTLS imports it.
        // accept4(2), which Swift's Glibc module does not declare, as a prefixed shim built with
        // _GNU_SOURCE; used by the plain-HTTP acceptor.
        .target(name: "CSquallSockets", cSettings: strictC),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // Wrappers for OpenSSL's function-like macros; nothing else.
        .target(name: "CSquallTLSShims", dependencies: ["COpenSSL"], cSettings: strictC),
        // TLS on NIO channels through OpenSSL memory BIOs: contexts, connections, the handler, reload.
        .target(
            name: "TrackerTLS",
            dependencies: [
                "COpenSSL", "CSquallTLSShims", "TrackerCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // NIO bootstrap, connection handler, routes, configuration.
        .target(
            name: "TrackerServer",
            dependencies: [
                "TrackerCore", "TrackerProtocol", "PrivateCore", "SiteDatabase", "MemoryStore", "RedisStore", "TrackerTLS",
                "CSquallSockets",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // Argument parsing and service wiring only.
        .executableTarget(
            name: "squall",
            dependencies: [
                "TrackerServer",
                "TrackerTLS",
                "MemoryStore",
                "RedisStore",
                "TrackerCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Squall's own benchmark tool (Benchmarks/): memory per peer now; the load generator later.
        .executableTarget(
            name: "squall-bench",
            dependencies: [
                "MemoryStore", "PrivateCore", "TrackerCore", "TrackerProtocol", "TrackerServer",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/squall-bench",
            swiftSettings: strict
        ),
        // What the test targets share (they cannot import each other): the one suite every
        // PeerStore must pass, the real Redis servers and clusters the tests start, free ports,
        // the manual clock, the squall process runner, an in-process tracker and a blocking HTTP
        // client. Never linked into squall.
        .target(
            name: "TrackerTestSupport",
            dependencies: [
                "TrackerCore", "TrackerProtocol", "PrivateCore", "RedisStore", "MemoryStore", "TrackerServer", "TrackerTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "TrackerCoreTests", dependencies: ["TrackerCore"], swiftSettings: strict),
        .testTarget(name: "TrackerProtocolTests", dependencies: ["TrackerProtocol", "TrackerCore"], swiftSettings: strict),
        .testTarget(name: "PrivateCoreTests", dependencies: ["PrivateCore", "TrackerCore"], swiftSettings: strict),
        .testTarget(
            name: "SiteDatabaseTests", dependencies: ["SiteDatabase", "PrivateCore", "TrackerCore", "TrackerTestSupport"],
            swiftSettings: strict),
        .testTarget(name: "MemoryStoreTests", dependencies: ["MemoryStore", "TrackerTestSupport", "TrackerCore"], swiftSettings: strict),
        .testTarget(
            name: "RedisStoreTests",
            dependencies: [
                "RedisStore", "TrackerTestSupport", "TrackerCore", "MemoryStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrackerTLSTests",
            dependencies: [
                "TrackerTLS", "COpenSSL", "TrackerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrackerServerTests",
            dependencies: [
                "TrackerServer", "TrackerCore", "TrackerProtocol", "PrivateCore", "MemoryStore", "TrackerTLS", "COpenSSL",
                "TrackerTestSupport",
                "RedisStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
