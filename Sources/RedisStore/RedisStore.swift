import Dispatch
import Synchronization
public import TrackerCore

/// Swarms in Redis: they survive a restart of Squall and are shared by every Squall that uses
/// the same Redis and prefix. Each verb is one round trip (a Lua script, `EVALSHA`, reloaded on
/// `NOSCRIPT`) whose work depends on `numwant`, not on swarm size.
///
/// Blocking hiredis connections run on their own serial dispatch queues, never on an event
/// loop; verbs complete from those queues. A connection that fails is dropped and made again on
/// the next verb; meanwhile verbs fail with `StoreError.unavailable`.
public final class RedisStore: PeerStore, Sendable {
    public let kind = "redis"
    private let workers: [Worker]
    private let next = Atomic<Int>(0)
    private let keys: RedisKeys
    private let clock: any TrackerClock
    private let ttl: Int
    private let maxPeersPerTorrent: Int

    public convenience init(
        endpoint: RedisEndpoint, prefix: String = "squall:", connections: Int = 4, timeout: Duration = .seconds(1),
        clock: any TrackerClock = SystemTrackerClock(), peerTTL: Int, maxPeersPerTorrent: Int = 100_000
    ) {
        self.init(
            options: RedisOptions(endpoint: endpoint, prefix: prefix, connections: connections, timeout: timeout), clock: clock,
            peerTTL: peerTTL, maxPeersPerTorrent: maxPeersPerTorrent)
    }

    public init(options: RedisOptions, clock: any TrackerClock = SystemTrackerClock(), peerTTL: Int, maxPeersPerTorrent: Int = 100_000) {
        workers = (0..<max(1, options.connections)).map { Worker(options: options, index: $0) }
        keys = RedisKeys(prefix: options.prefix)
        self.clock = clock
        ttl = peerTTL
        self.maxPeersPerTorrent = maxPeersPerTorrent
    }

    private func worker() -> Worker { workers[next.add(1, ordering: .relaxed).oldValue % workers.count] }

    /// Connects, authenticates, selects the database and pings, once: the startup check.
    /// Blocks the calling thread (use it before serving, never on an event loop).
    public static func check(_ options: RedisOptions) throws(RedisError) {
        let c = try Worker.connect(options)
        guard try c.command("PING") == .status("PONG") else { throw RedisError("\(options.redacted): no PONG") }
    }

    public func announce(_ a: PeerAnnounce, completion: @escaping @Sendable (Result<SwarmReply, StoreError>) -> Void) {
        let (family, address): (String, [UInt8]) =
            switch a.endpoint.address {
            case .v4(let v4): ("4", v4.bytes)
            case .v6(let v6): ("6", v6.bytes)
            }
        let role: Int =
            switch a.role {
            case .leecher: 0
            case .seeder: 1
            case .partialSeed: 2
            }
        var seed = SystemRandomNumberGenerator()
        let args: [[UInt8]] = [
            a.peerID.raw.bytes, Array(family.utf8), address, Array(String(a.endpoint.port).utf8), Array(String(role).utf8),
            Array((a.countsDownload ? "1" : "0").utf8), Array((a.remove ? "1" : "0").utf8), Array(String(a.numwant).utf8),
            Array(String(clock.now()).utf8), Array(String(ttl).utf8), Array(String(maxPeersPerTorrent).utf8),
            Array(a.infoHash.raw.hex.utf8), Array(String(seed.next() >> 12).utf8),
        ]
        let keys = keys.torrent(a.infoHash)
        let maxPeers = maxPeersPerTorrent
        worker().run(completion) { c in
            let reply = try c.eval(RedisScripts.announce, keys: keys, args: args)
            guard let parts = reply.array else { throw StoreError.unavailable("unexpected reply \(reply)") }
            if parts.first == .string(Array("full".utf8)) { throw StoreError.full("torrent is full (at most \(maxPeers) peers)") }
            guard parts.count == 4, let s = parts[0].integer, let l = parts[1].integer, let d = parts[2].integer, let blob = parts[3].bytes
            else { throw StoreError.unavailable("unexpected reply \(reply)") }
            return SwarmReply(complete: s, incomplete: l, downloaded: d, peers: Self.decodePeers(blob))
        }
    }

    /// 45 bytes a peer: peer_id, flags (1 IPv4, 2 IPv6), IPv4 address and port, IPv6 address and port.
    static func decodePeers(_ blob: [UInt8]) -> [SwarmPeer] {
        stride(from: 0, to: blob.count - 44, by: 45).map { o in
            let flags = blob[o + 20]
            let port4 = UInt16(blob[o + 25]) << 8 | UInt16(blob[o + 26])
            let port6 = UInt16(blob[o + 43]) << 8 | UInt16(blob[o + 44])
            let v4 =
                flags & 1 == 0
                ? nil : Endpoint(address: .v4(IPv4Address(blob[o + 21], blob[o + 22], blob[o + 23], blob[o + 24])), port: port4)
            let v6 = flags & 2 == 0 ? nil : IPv6Address(Array(blob[(o + 27)..<(o + 43)])).map { Endpoint(address: .v6($0), port: port6) }
            return SwarmPeer(peerID: PeerID(blob[o..<(o + 20)])!, v4: v4, v6: v6)
        }
    }

    public func scrape(_ hashes: [InfoHash], completion: @escaping @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void) {
        let keys = keys
        worker().run(completion) { c in
            var out: [InfoHash: ScrapeEntry] = [:]
            for h in hashes {
                let k = keys.torrent(h)
                let s = try c.command([Array("HLEN".utf8), k[1]]).integer ?? 0
                let l = try c.command([Array("HLEN".utf8), k[2]]).integer ?? 0
                guard s + l > 0 else { continue }
                let meta = try c.command([Array("HMGET".utf8), k[3], Array("d".utf8), Array("p".utf8)]).array ?? []
                let d = meta.first?.bytes.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
                let p = meta.dropFirst().first?.bytes.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
                out[h] = ScrapeEntry(complete: s, incomplete: l, downloaded: d, downloaders: l - p)
            }
            return out
        }
    }

    public func scrapeAll(limit: Int, completion: @escaping @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void) {
        let keys = keys
        worker().run({ (result: Result<[InfoHash], StoreError>) in
            switch result {
            case .success(let hashes): self.scrape(hashes, completion: completion)
            case .failure(let e): completion(.failure(e))
            }
        }) { c in
            let members = try c.command([Array("ZRANGE".utf8), keys.index, Array("0".utf8), Array(String(max(0, limit - 1)).utf8)])
            return (members.array ?? []).compactMap {
                $0.bytes.flatMap { Bytes20(hex: String(decoding: $0, as: UTF8.self)) }.map(InfoHash.init)
            }
        }
    }

    public func totals(completion: @escaping @Sendable (Result<SwarmTotals, StoreError>) -> Void) {
        let keys = keys
        worker().run(completion) { c in
            let v = try c.command([Array("HMGET".utf8), keys.totals, Array("t".utf8), Array("p".utf8), Array("s".utf8)]).array ?? []
            let n = v.map { $0.bytes.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0 }
            let (t, p, s) = (n.count > 0 ? n[0] : 0, n.count > 1 ? n[1] : 0, n.count > 2 ? n[2] : 0)
            return SwarmTotals(torrents: t, peers: p, seeders: s, leechers: p - s)
        }
    }

    /// Up when a connection answers PING within the timeout (reconnecting if it must).
    public func health(completion: @escaping @Sendable (Bool) -> Void) {
        worker().run({ (r: Result<Bool, StoreError>) in completion((try? r.get()) == true) }) { c in
            try c.command([Array("PING".utf8)]) == .status("PONG")
        }
    }

    /// Sweeps, 100 at a time, every torrent whose oldest endpoint may have expired.
    public func expire(completion: @escaping @Sendable (Result<Int, StoreError>) -> Void) {
        let keys = keys
        let cutoff = Int(clock.now()) - ttl
        worker().run(completion) { c in
            var removed = 0
            while true {
                let due =
                    try c.command([
                        Array("ZRANGEBYSCORE".utf8), keys.index, Array("-inf".utf8), Array(String(cutoff).utf8),
                        Array("LIMIT".utf8), Array("0".utf8), Array("100".utf8),
                    ]).array ?? []
                if due.isEmpty { return removed }
                for member in due {
                    guard let hex = member.bytes, let raw = Bytes20(hex: String(decoding: hex, as: UTF8.self)) else { continue }
                    let reply = try c.eval(
                        RedisScripts.sweepTorrent, keys: keys.torrent(InfoHash(raw)), args: [Array(String(cutoff).utf8), hex])
                    removed += reply.integer ?? 0
                }
            }
        }
    }
}

/// One Redis connection and the serial queue its blocking calls run on.
private final class Worker: @unchecked Sendable {
    // `connection` and `scripts` are touched only on `queue`.
    private let queue: DispatchQueue
    private let options: RedisOptions
    private var connection: ScriptConnection?

    init(options: RedisOptions, index: Int) {
        queue = DispatchQueue(label: "squall.redis.\(index)")
        self.options = options
    }

    /// A connection that has authenticated and selected its database.
    static func connect(_ o: RedisOptions) throws(RedisError) -> RedisConnection {
        let c = try RedisConnection(o.endpoint, timeout: o.timeout)
        if let password = o.password {
            let auth = try c.command([Array("AUTH".utf8)] + (o.username.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)])
            if case .error(let message) = auth { throw RedisError("\(o.redacted): authentication failed: \(message)") }
        }
        if o.database != 0 {
            if case .error(let message) = try c.command("SELECT", String(o.database)) {
                throw RedisError("\(o.redacted): cannot select database \(o.database): \(message)")
            }
        }
        return c
    }

    func run<T: Sendable>(
        _ completion: @escaping @Sendable (Result<T, StoreError>) -> Void, _ body: @escaping @Sendable (ScriptConnection) throws -> T
    ) {
        queue.async {
            do {
                if self.connection == nil { self.connection = ScriptConnection(try Self.connect(self.options)) }
                completion(.success(try body(self.connection!)))
            } catch let e as StoreError {
                completion(.failure(e))
            } catch {
                // The connection is broken: drop it, make a new one next time.
                self.connection = nil
                completion(.failure(.unavailable("\(error)")))
            }
        }
    }
}

/// A connection plus the SHA1 of each script it has loaded, for `EVALSHA`.
final class ScriptConnection: @unchecked Sendable {
    let connection: RedisConnection
    private var loaded: [String: [UInt8]] = [:]

    init(_ connection: RedisConnection) { self.connection = connection }

    func command(_ args: [[UInt8]]) throws -> RedisValue {
        let v = try connection.command(args)
        if case .error(let message) = v { throw StoreError.unavailable("redis: \(message)") }
        return v
    }

    /// `EVALSHA`, loading the script first (and again after `NOSCRIPT`, e.g. a Redis restart).
    func eval(_ script: String, keys: [[UInt8]], args: [[UInt8]]) throws -> RedisValue {
        for _ in 0..<2 {
            let sha = try loaded[script] ?? load(script)
            let v = try connection.command([Array("EVALSHA".utf8), sha, Array(String(keys.count).utf8)] + keys + args)
            if case .error(let message) = v {
                if message.hasPrefix("NOSCRIPT") {
                    loaded[script] = nil
                    continue
                }
                throw StoreError.unavailable("redis: \(message)")
            }
            return v
        }
        throw StoreError.unavailable("redis: script could not be loaded")
    }

    private func load(_ script: String) throws -> [UInt8] {
        guard let sha = try command([Array("SCRIPT".utf8), Array("LOAD".utf8), Array(script.utf8)]).bytes else {
            throw StoreError.unavailable("redis: SCRIPT LOAD gave no digest")
        }
        loaded[script] = sha
        return sha
    }
}
