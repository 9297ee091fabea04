import Logging
public import MemoryStore
import NIOCore
public import NIOPosix
public import PrivateCore
import Testing
public import TrackerCore
public import TrackerProtocol
public import TrackerServer
public import TrackerTLS

/// A tracker started in-process on `[::]:0` (one dual-stack socket), with a manual clock.
public struct RunningTracker {
    public let server: TrackerServer
    public let group: MultiThreadedEventLoopGroup
    public let store: MemoryPeerStore
    public let clock: ManualTrackerClock
    public let port: Int
    /// The HTTPS port, when started with `tls`.
    public let tlsPort: Int?
    /// Private mode's state, when `privateMode.enabled` (then `adminPort` is the site API's).
    public let privateTracker: PrivateTracker?
    public let adminPort: Int?
    /// Every listener, in the order of `http.listen` then `https.listen`.
    public let listeners: [BoundListener]

    public static func start(
        tls: ReloadableTLSContexts? = nil, loops: Int = 2, registry: Registry = Registry(), accounting: Accounting? = nil,
        inherited: [InheritedSocket] = [], _ configure: (inout SquallConfig) -> Void = { _ in }
    ) async throws -> RunningTracker {
        var config = SquallConfig()
        config.http.listen = [ListenAddress(host: "::", port: 0)]
        if let tls {
            config.https.listen = [ListenAddress(host: "::", port: 0)]
            config.https.certificates = tls.pairs.map { SquallConfig.CertificatePair(cert: $0.certificate, key: $0.key) }
        }
        configure(&config)
        try config.validate()
        let clock = ManualTrackerClock()
        let store = MemoryPeerStore(clock: clock, peerTTL: config.announce.policy.peerTTL, limits: config.memory.limits)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
        // Private trackers log every line (passkeys are about); open ones from info up, so the
        // timing tests do not pay a file write per announce.
        let logger = TestLogs.logger(level: config.privateMode.enabled ? .trace : .info)
        config.admin.key.map(TestLogs.noteSecret)
        registry.users.values.forEach { TestLogs.noteSecret($0.passkey.text) }
        let privateTracker =
            config.privateMode.enabled ? PrivateTracker(settings: config.privateMode, registry: registry, accounting: accounting) : nil
        let server = TrackerServer(
            config: config, store: store, group: group, logger: logger, tls: tls, privateTracker: privateTracker, inherited: inherited)
        let listeners: [BoundListener]
        do {
            listeners = try await server.start()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        return RunningTracker(
            server: server, group: group, store: store, clock: clock,
            port: listeners.first { !$0.tls }!.address.port!, tlsPort: listeners.first { $0.tls }?.address.port,
            privateTracker: privateTracker, adminPort: server.adminAddresses.first.flatMap { ListenAddress($0)?.port },
            listeners: listeners)
    }

    public func stop() async throws {
        await server.shutdown(grace: .seconds(2))
        try await group.shutdownGracefully()
    }

    public func get(_ host: String, _ target: String, headers: [String] = []) throws -> TestClient.Response {
        try TestClient.get(host, port, target, headers: headers)
    }

    /// One request to the site API (`admin.listen`), with a JSON body unless `contentType` says
    /// otherwise.
    public func admin(
        _ method: String, _ path: String, _ body: String = "", contentType: String? = "application/json"
    ) throws -> TestClient.Response {
        TestLogs.noteSecrets(in: path + " " + body)
        let c = try TestClient(host: "127.0.0.1", port: adminPort!)
        let type = contentType.map { "Content-Type: \($0)\r\n" } ?? ""
        try c.send(
            "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\(type)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        )
        return try c.readResponse()
    }

    /// A counter's value in the tracker's /metrics (0 when absent).
    public func metric(_ series: String) throws -> Int {
        let text = String(decoding: try get("::1", "/metrics").body, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Int(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    /// Announces and decodes the bencoded reply.
    public func announce(
        _ host: String, hash: [UInt8], peer: [UInt8], port: Int = 6881, left: Int = 0, event: AnnounceEvent = .none, numwant: Int? = nil,
        compact: Bool = true, noPeerID: Bool = false, key: String? = nil
    ) throws -> BencodeValue {
        let target = announceTarget(
            hash: hash, peer: peer, port: port, left: left, event: event, numwant: numwant, compact: compact, noPeerID: noPeerID, key: key)
        let r = try get(host, target)
        guard r.status == 200 else { throw TestClient.Failure(description: "status \(r.status)") }
        return try BencodeValue.decode(r.body)
    }
}

/// Starts a tracker, runs `body` with it and always stops it, however `body` ends: a stop that
/// fails fails the test (an error of `body` comes first, and the stop's is recorded beside it).
public func withRunningTracker<T>(
    tls: ReloadableTLSContexts? = nil, loops: Int = 2, registry: Registry = Registry(), accounting: Accounting? = nil,
    inherited: [InheritedSocket] = [], _ configure: (inout SquallConfig) -> Void = { _ in },
    _ body: (RunningTracker) async throws -> T
) async throws -> T {
    let t = try await RunningTracker.start(
        tls: tls, loops: loops, registry: registry, accounting: accounting, inherited: inherited, configure)
    let result: Result<T, any Error>
    do { result = .success(try await body(t)) } catch { result = .failure(error) }
    do {
        try await t.stop()
    } catch {
        if case .failure = result { Issue.record(error, "stopping the tracker after the test failed") } else { throw error }
    }
    return try result.get()
}

/// `GET /announce?...` for these fields, written by `AnnounceRequest.query` (the writer whose
/// output the parser is tested to read back as the same request). `key` is sent as given.
public func announceTarget(
    hash: [UInt8], peer: [UInt8], port: Int = 6881, uploaded: Int = 0, downloaded: Int = 0, left: Int = 0, event: AnnounceEvent = .none,
    numwant: Int? = nil, compact: Bool = true, noPeerID: Bool = false, key: String? = nil
) -> String {
    let request = AnnounceRequest(
        infoHash: InfoHash(hash)!, peerID: PeerID(peer)!, port: UInt16(port), uploaded: UInt64(uploaded), downloaded: UInt64(downloaded),
        left: UInt64(left), event: event, numwant: numwant, compact: compact, noPeerID: noPeerID)
    return "/announce?" + request.query(key: key.map { Array($0.utf8) })
}

/// Lower-case hex of 20 bytes (an info_hash or a peer_id), as Squall prints them.
public func hex20(_ bytes: [UInt8]) -> String { Bytes20(bytes)!.hex }
public func testHash(_ n: UInt8) -> [UInt8] { [0, 0xFF, 0x25, 0x2B, n] + [UInt8](repeating: n, count: 15) }
public func testPeer(_ name: String) -> [UInt8] { Array(("-SQ0100-" + name + String(repeating: "x", count: 12)).utf8.prefix(20)) }

/// Compact `peers` (6-byte) entries as "a.b.c.d:port".
public func compactV4(_ v: BencodeValue?) -> [String] {
    guard let b = v?.bytesValue else { return [] }
    return stride(from: 0, to: b.count, by: 6).map {
        "\(b[$0]).\(b[$0 + 1]).\(b[$0 + 2]).\(b[$0 + 3]):\(Int(b[$0 + 4]) << 8 | Int(b[$0 + 5]))"
    }
}

/// Compact `peers6` (18-byte) entries as "[v6]:port".
public func compactV6(_ v: BencodeValue?) -> [String] {
    guard let b = v?.bytesValue else { return [] }
    return stride(from: 0, to: b.count, by: 18).map { o in
        let a = IPv6Address(Array(b[o..<(o + 16)]))!
        return "[\(a)]:\(Int(b[o + 16]) << 8 | Int(b[o + 17]))"
    }
}
