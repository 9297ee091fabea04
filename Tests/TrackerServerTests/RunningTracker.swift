import Logging
import MemoryStore
import NIOCore
import NIOPosix
import TrackerCore
import TrackerProtocol
import TrackerServer
import TrackerTLS

/// A tracker started in-process on `[::]:0` (one dual-stack socket), with a manual clock.
struct RunningTracker {
    let server: TrackerServer
    let group: MultiThreadedEventLoopGroup
    let store: MemoryStore
    let clock: ManualTrackerClock
    let port: Int
    /// The HTTPS port, when started with `tls`.
    let tlsPort: Int?

    static func start(tls: ReloadableTLSContexts? = nil, _ configure: (inout SquallConfig) -> Void = { _ in }) async throws
        -> RunningTracker
    {
        var config = SquallConfig()
        config.http.listen = [ListenAddress(host: "::", port: 0)]
        if let tls {
            config.https.listen = [ListenAddress(host: "::", port: 0)]
            config.https.certificates = tls.pairs.map { SquallConfig.CertificatePair(cert: $0.certificate, key: $0.key) }
        }
        configure(&config)
        try config.validate()
        let clock = ManualTrackerClock()
        let store = MemoryStore(clock: clock, peerTTL: config.announce.policy.peerTTL, limits: config.memory.limits)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = TrackerServer(config: config, store: store, group: group, logger: logger, tls: tls)
        let listeners = try await server.start()
        return RunningTracker(
            server: server, group: group, store: store, clock: clock,
            port: listeners.first { !$0.tls }!.address.port!, tlsPort: listeners.first { $0.tls }?.address.port)
    }

    func stop() async throws {
        await server.shutdown(grace: .seconds(2))
        try await group.shutdownGracefully()
    }

    func get(_ host: String, _ target: String) throws -> TestClient.Response {
        try TestClient.get(host, port, target)
    }

    /// A counter's value in the tracker's /metrics (0 when absent).
    func metric(_ series: String) throws -> Int {
        let text = String(decoding: try get("::1", "/metrics").body, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Int(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    /// Announces and decodes the bencoded reply.
    func announce(_ host: String, hash: [UInt8], peer: [UInt8], port: Int = 6881, left: Int = 0, extra: String = "") throws -> BencodeValue
    {
        let r = try get(host, announceTarget(hash: hash, peer: peer, port: port, left: left, extra: extra))
        guard r.status == 200 else { throw TestClient.Failure(description: "status \(r.status)") }
        return try BencodeValue.decode(r.body)
    }
}

func announceTarget(hash: [UInt8], peer: [UInt8], port: Int = 6881, left: Int = 0, extra: String = "") -> String {
    "/announce?info_hash=\(PercentDecoding.encode(hash))&peer_id=\(PercentDecoding.encode(peer))&port=\(port)&uploaded=0&downloaded=0&left=\(left)\(extra)"
}

/// Lower-case hex of 20 bytes (an info_hash or a peer_id), as Squall prints them.
func hex20(_ bytes: [UInt8]) -> String { Bytes20(bytes)!.hex }
func testHash(_ n: UInt8) -> [UInt8] { [0, 0xFF, 0x25, 0x2B, n] + [UInt8](repeating: n, count: 15) }
func testPeer(_ name: String) -> [UInt8] { Array(("-SQ0100-" + name + String(repeating: "x", count: 12)).utf8.prefix(20)) }

/// Compact `peers` (6-byte) entries as "a.b.c.d:port".
func compactV4(_ v: BencodeValue?) -> [String] {
    guard let b = v?.bytesValue else { return [] }
    return stride(from: 0, to: b.count, by: 6).map {
        "\(b[$0]).\(b[$0 + 1]).\(b[$0 + 2]).\(b[$0 + 3]):\(Int(b[$0 + 4]) << 8 | Int(b[$0 + 5]))"
    }
}

/// Compact `peers6` (18-byte) entries as "[v6]:port".
func compactV6(_ v: BencodeValue?) -> [String] {
    guard let b = v?.bytesValue else { return [] }
    return stride(from: 0, to: b.count, by: 18).map { o in
        let a = IPv6Address(Array(b[o..<(o + 16)]))!
        return "[\(a)]:\(Int(b[o + 16]) << 8 | Int(b[o + 17]))"
    }
}
