import Foundation
import Logging
import PrivateCore
import RedisStore
import Synchronization
import TrackerCore

/// Private mode on Redis: every Squall on one Redis (and prefix) shares one registry. A change
/// the site makes through any instance's API goes into the stream `P{registry}:log` (the
/// `RegistryCall` line, one per entry) and every instance, the sender included, applies the
/// stream in its order, so all apply the same changes in the same order; the API answers once
/// its own instance has applied it. An instance follows the stream with `XREAD BLOCK` on a
/// thread of its own (never an event loop), so a change reaches every other within a second.
///
/// With `persist` (an `"api"` registry without a state file), the hash `P{registry}:state`
/// keeps the current record of every entity, written with the stream entry in one script: an
/// instance that starts late loads it, then follows the stream from where it was when it began
/// loading (what it reads twice it applies twice, which changes nothing: each change is a whole
/// record or a set membership).
final class RedisRegistryFeed: Sendable {
    let options: RedisOptions
    let tracker: PrivateTracker
    let persist: Bool
    let logger: Logger
    let logKey: [UInt8]
    let stateKey: [UInt8]
    /// Entries kept in the stream (Redis trims it near this length).
    static let maxEntries = 100_000
    /// How long an API call waits for its own instance to apply its change.
    static let applyTimeout: Duration = .seconds(5)

    private struct Progress {
        var applied = StreamID.zero
    }
    private let progress = Locked(Progress())
    private let publisher = Locked<BlockingRedisConnection?>(nil)
    private let stopping = Atomic<Bool>(false)

    struct StreamID: Comparable, Sendable, CustomStringConvertible {
        var ms: UInt64
        var seq: UInt64
        static let zero = StreamID(ms: 0, seq: 0)
        init(ms: UInt64, seq: UInt64) { (self.ms, self.seq) = (ms, seq) }
        init?(_ text: [UInt8]) {
            let parts = String(decoding: text, as: UTF8.self).split(separator: "-")
            guard parts.count == 2, let a = UInt64(parts[0]), let b = UInt64(parts[1]) else { return nil }
            (ms, seq) = (a, b)
        }
        var description: String { "\(ms)-\(seq)" }
        static func < (a: StreamID, b: StreamID) -> Bool { (a.ms, a.seq) < (b.ms, b.seq) }
    }

    init(options: RedisOptions, tracker: PrivateTracker, persist: Bool, logger: Logger) {
        (self.options, self.tracker, self.persist, self.logger) = (options, tracker, persist, logger)
        (logKey, stateKey) = RedisPeerStore.registryKeys(prefix: options.prefix)
    }

    private func connect(timeout: Duration = .seconds(5)) throws(RedisError) -> BlockingRedisConnection {
        try RedisPeerStore.blockingConnection(for: logKey, options, timeout: timeout)
    }

    /// Where the stream ends now, then (with `persist`) the registry from the state hash; then
    /// follows the stream from that point on a thread of its own. Blocks: call it before serving.
    func start() throws(RedisError) {
        let c = try connect()
        var from = StreamID.zero
        if case .array(let last) = try c.command([
            Array("XREVRANGE".utf8), logKey, Array("+".utf8), Array("-".utf8), Array("COUNT".utf8), Array("1".utf8),
        ]),
            case .array(let entry)? = last.first, let id = entry.first?.bytes.flatMap(StreamID.init)
        {
            from = id
        }
        if persist, case .array(let flat) = try c.command([Array("HGETALL".utf8), stateKey]) {
            var loaded = 0
            for i in stride(from: 1, to: flat.count, by: 2) {
                guard let line = flat[i].bytes, let change = RegistryCall(line: Substring(String(decoding: line, as: UTF8.self)))?.change
                else {
                    continue
                }
                try? tracker.apply(change)
                loaded += 1
            }
            logger.info("registry loaded from Redis", metadata: ["entries": "\(loaded)"])
        }
        let start = from
        progress.withLock { $0.applied = start }
        let thread = Thread { [self] in self.follow(from: start) }
        thread.name = "squall-registry"
        thread.start()
    }

    func stop() { stopping.store(true, ordering: .relaxed) }

    /// The reader: `XREAD BLOCK` one second at a time, applying each entry; reconnects with a
    /// backoff after an error.
    private func follow(from start: StreamID) {
        var last = start
        var connection: BlockingRedisConnection?
        var backoff = 0.05
        while !stopping.load(ordering: .relaxed) {
            do throws(RedisError) {
                if connection == nil { connection = try connect(timeout: .seconds(3)) }
                let reply = try connection!.command([
                    Array("XREAD".utf8), Array("COUNT".utf8), Array("1000".utf8), Array("BLOCK".utf8), Array("1000".utf8),
                    Array("STREAMS".utf8),
                    logKey, Array(last.description.utf8),
                ])
                if case .error(let message) = reply { throw RedisError(message) }
                backoff = 0.05
                guard case .array(let streams) = reply, case .array(let stream)? = streams.first, stream.count == 2,
                    case .array(let entries) = stream[1]
                else { continue }
                for case .array(let entry) in entries {
                    guard entry.count == 2, let id = entry[0].bytes.flatMap(StreamID.init) else { continue }
                    if case .array(let fields) = entry[1], fields.count >= 2, let line = fields[1].bytes,
                        let change = RegistryCall(line: Substring(String(decoding: line, as: UTF8.self)))?.change
                    {
                        try? tracker.apply(change)
                    }
                    last = id
                    progress.withLock { $0.applied = id }
                }
            } catch {
                connection = nil
                logger.warning("registry feed: Redis unreachable, retrying", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(2, backoff * 2)
            }
        }
    }

    /// Sends `change` to every instance (this one included) and waits until this one has
    /// applied it. Blocks: the site API's bulk-work threads call it.
    func publish(_ change: RegistryChange) throws(RedisError) {
        let (entity, record) = state(of: change)
        let line = RegistryCall(change).line
        let script = """
            local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'c', ARGV[2])
            if ARGV[3] == 'set' then redis.call('HSET', KEYS[2], ARGV[4], ARGV[5]) elseif ARGV[3] == 'del' then redis.call('HDEL', KEYS[2], ARGV[4]) end
            return id
            """
        let mode = !persist || entity == nil ? "none" : record == nil ? "del" : "set"
        let id: StreamID = try publisher.withLock { (c) throws(RedisError) -> StreamID in
            if c == nil { c = try connect() }
            let reply: RedisValue
            do throws(RedisError) {
                reply = try c!.command(
                    [
                        "EVAL", script, "2", String(decoding: logKey, as: UTF8.self), String(decoding: stateKey, as: UTF8.self),
                        String(Self.maxEntries), line, mode, entity ?? "", record ?? "",
                    ].map { Array($0.utf8) })
            } catch {
                c = nil
                throw error
            }
            guard case .string(let bytes) = reply, let id = StreamID(bytes) else {
                throw RedisError("registry feed: unexpected reply \(reply)")
            }
            return id
        }
        let deadline = ContinuousClock.now + Self.applyTimeout
        while progress.withLock({ $0.applied < id }) {
            guard ContinuousClock.now < deadline else { throw RedisError("registry feed: the change was not applied within 5 s") }
            Thread.sleep(forTimeInterval: 0.002)
        }
    }

    /// The state hash's field for the entity `change` touches, and its record after the change
    /// (nil: the entity is gone).
    private func state(of change: RegistryChange) -> (String?, String?) {
        switch change {
        case .putTorrent(let t): return ("t:\(t.id)", RegistryCall(change).line)
        case .deleteTorrent(let id):
            guard var t = tracker.read({ $0.torrents[id] }) else { return (nil, nil) }
            t.isDeleted = true
            return ("t:\(id)", RegistryCall(.putTorrent(t)).line)
        case .putUser(let u, _): return ("u:\(u.id)", RegistryCall(.putUser(u, replacing: nil)).line)
        case .deleteUser(let id, _): return ("u:\(id)", nil)
        case .putGroup(let g): return ("g:\(g.id)", RegistryCall(change).line)
        case .deleteGroup(let id): return ("g:\(id)", nil)
        case .putBlacklistedAgent(let p): return ("a:\(Self.hex(p))", RegistryCall(change).line)
        case .deleteBlacklistedAgent(let p): return ("a:\(Self.hex(p))", nil)
        case .putFreeleechToken(let p): return ("f:\(p.user):\(p.torrent)", RegistryCall(change).line)
        case .deleteFreeleechToken(let p): return ("f:\(p.user):\(p.torrent)", nil)
        case .putPersonalFreeleech(let u): return ("p:\(u)", RegistryCall(change).line)
        case .deletePersonalFreeleech(let u): return ("p:\(u)", nil)
        case .putFeaturedTorrent(let t): return ("x:\(t)", RegistryCall(change).line)
        case .deleteFeaturedTorrent(let t): return ("x:\(t)", nil)
        }
    }

    private static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
}
