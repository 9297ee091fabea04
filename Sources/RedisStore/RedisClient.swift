import NIOCore
import NIOPosix
import Synchronization
public import TrackerCore

#if canImport(Glibc)
    import Glibc
#endif

/// Reaches Redis (one server, or the masters of a Redis Cluster) from any thread. Every event
/// loop of the group has its own connection(s) to each server, so a verb called on a loop (as
/// the server's handlers do) is sent and completed on that loop, pipelined with the other
/// announces of the same loop; calls from elsewhere hop to a loop chosen round-robin.
///
/// On a cluster, each command goes to the master of its key's slot, as the slot map says. The
/// map is read with `CLUSTER SLOTS` at start, every 30 s, and again (at most once a second)
/// whenever a server answers `MOVED` or a command fails to reach its server (refused, reset,
/// timed out): a master that died sends no `MOVED`, and once its replica is promoted the map
/// names the new master. The command itself follows `MOVED` and `ASK` at once.
final class RedisClient: Sendable {
    typealias Callback = RedisConnection.Callback
    private let options: RedisOptions
    private let scripts: [RedisScript]
    private let loops: [any EventLoop]
    private let byLoop: [ObjectIdentifier: Int]
    private let perLoop: Int
    private let next = Atomic<Int>(0)
    /// Commands sent from a thread that is not one of the group's loops (bulk work, startup,
    /// tests): each of those hops to a loop chosen round-robin.
    private let offLoop = Atomic<Int>(0)
    var sentFromOffLoop: Int { offLoop.load(ordering: .relaxed) }

    private struct Routing: ~Copyable {
        /// Links to each server, `perLoop` per loop, in loop order.
        var servers: [RedisEndpoint: [RedisConnection]] = [:]
        /// Cluster only: the master of each slot, when known.
        var slots = [RedisEndpoint?](repeating: nil, count: RedisSlot.count)
        var lastRefresh = NIODeadline.distantPast
    }
    private let routing = Locked(Routing())
    /// Cluster only: the periodic re-read of the slot map.
    private let refresher = Locked<RepeatedTask?>(nil)
    static let refreshPeriod = TimeAmount.seconds(30)

    init(options: RedisOptions, scripts: [RedisScript], group: any EventLoopGroup) {
        self.options = options
        self.scripts = scripts
        loops = Array(group.makeIterator())
        perLoop = max(1, options.connections)
        byLoop = Dictionary(uniqueKeysWithValues: loops.enumerated().map { (ObjectIdentifier($0.element), $0.offset) })
        if options.isCluster {
            refreshSlots()
            let task = loops[0].scheduleRepeatedTask(initialDelay: Self.refreshPeriod, delay: Self.refreshPeriod) { [weak self] _ in
                self?.refreshSlots()
            }
            refresher.withLock { $0 = task }
        }
    }

    deinit { refresher.withLock { $0?.cancel() } }

    /// The links of every server known so far.
    private var allLinks: [RedisConnection] { routing.withLock { r in r.servers.values.flatMap { $0 } } }

    private func links(_ server: RedisEndpoint) -> [RedisConnection] {
        routing.withLock { r in
            if let known = r.servers[server] { return known }
            let made = loops.flatMap { loop in
                (0..<perLoop).map { _ in RedisConnection(endpoint: server, options: options, scripts: scripts, loop: loop) }
            }
            r.servers[server] = made
            return made
        }
    }

    /// The server for `slot`: its master on a cluster (a seed while the map is unknown).
    private func server(slot: Int?) -> RedisEndpoint {
        guard options.isCluster, let slot else { return options.endpoint }
        return routing.withLock { $0.slots[slot] } ?? options.clusterSeeds[slot % options.clusterSeeds.count]
    }

    /// Calls `body` on the loop of a link to the server of `slot` (the caller's loop when it has
    /// one); everything `body` sends on the link goes out in one write.
    func withLink(slot: Int?, _ body: @escaping @Sendable (RedisConnection) -> Void) {
        let l = pick(server(slot: slot))
        l.onLoop { body(l) }
    }

    /// A link to `server`: on the caller's loop when it is one of the group's, else round-robin.
    private func pick(_ server: RedisEndpoint) -> RedisConnection {
        let all = links(server)
        let n = next.add(1, ordering: .relaxed).oldValue
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop, let at = byLoop[ObjectIdentifier(loop)] {
            return all[at * perLoop + n % perLoop]
        }
        offLoop.add(1, ordering: .relaxed)
        return all[n % all.count]
    }

    /// A link to `server` on `loop` (for following a redirection without leaving the loop).
    private func link(_ server: RedisEndpoint, on loop: any EventLoop) -> RedisConnection {
        let all = links(server)
        let at = byLoop[ObjectIdentifier(loop)] ?? 0
        return all[at * perLoop]
    }

    /// Sends `command` on `link` (call on its loop), following `MOVED` and `ASK` to other
    /// masters and retrying `TRYAGAIN` after 50 ms, five times at most. `asking` sends `ASKING`
    /// first (the command follows an `ASK`).
    func send(
        on link: RedisConnection, hops: Int = 0, asking: Bool = false, _ command: @escaping (RedisConnection, @escaping Callback) -> Void,
        _ callback: @escaping Callback
    ) {
        if asking { link.command([Array("ASKING".utf8)]) { _ in } }
        command(link) { result in
            // A server that cannot be reached may be a dead master: see whether the map moved.
            if self.options.isCluster, case .failure = result { self.refreshSlots() }
            guard self.options.isCluster, hops < 5, case .success(.error(let message)) = result else { return callback(result) }
            // A multi-key command on a slot being migrated, its keys split between the two
            // masters for a moment: Redis asks to try again shortly.
            if message.hasPrefix("TRYAGAIN") {
                link.loop.assumeIsolated().scheduleTask(in: .milliseconds(50)) {
                    self.send(on: link, hops: hops + 1, asking: asking, command, callback)
                }
                return
            }
            guard let redirect = Redirect(message) else { return callback(result) }
            if !redirect.ask {
                self.routing.withLock { $0.slots[redirect.slot] = redirect.server }
                self.refreshSlots()
            }
            self.send(on: self.link(redirect.server, on: link.loop), hops: hops + 1, asking: redirect.ask, command, callback)
        }
    }

    func command(_ arguments: RedisArguments, slot: Int?, _ completion: @escaping @Sendable (Result<RedisValue, RedisError>) -> Void) {
        withLink(slot: slot) { link in self.send(on: link, { $0.command(arguments, $1) }, completion) }
    }

    /// A command for one particular server (a cluster's master), not routed by slot.
    func command(_ arguments: [[UInt8]], server: RedisEndpoint, _ completion: @escaping @Sendable (Result<RedisValue, RedisError>) -> Void)
    {
        let l = pick(server)
        l.onLoop { l.command(arguments, completion) }
    }

    func command(_ arguments: [[UInt8]], slot: Int? = nil, _ completion: @escaping @Sendable (Result<RedisValue, RedisError>) -> Void) {
        command(RedisArguments(arguments), slot: slot, completion)
    }

    func eval(
        _ script: RedisScript, slot: Int?, keys: [[UInt8]], arguments: [[UInt8]],
        _ completion: @escaping @Sendable (Result<RedisValue, RedisError>) -> Void
    ) {
        withLink(slot: slot) { link in
            self.send(on: link, { $0.eval(script, keys: keys, arguments: arguments, $1) }, completion)
        }
    }

    func command(_ arguments: [[UInt8]], slot: Int? = nil) async -> Result<RedisValue, RedisError> {
        await withCheckedContinuation { c in command(arguments, slot: slot) { c.resume(returning: $0) } }
    }

    func eval(_ script: RedisScript, slot: Int?, keys: [[UInt8]], arguments: [[UInt8]]) async -> Result<RedisValue, RedisError> {
        await withCheckedContinuation { c in eval(script, slot: slot, keys: keys, arguments: arguments) { c.resume(returning: $0) } }
    }

    /// Every master of the cluster (the one server otherwise), for commands that must reach all.
    var masters: [RedisEndpoint] {
        guard options.isCluster else { return [options.endpoint] }
        let known = routing.withLock { r in Set(r.slots.compactMap { $0 }) }
        return known.isEmpty ? options.clusterSeeds : Array(known)
    }

    /// Reads the slot map from a master, at most once a second.
    func refreshSlots() {
        let now = NIODeadline.now()
        let due = routing.withLock { r in
            guard now - r.lastRefresh >= .seconds(1) else { return false }
            r.lastRefresh = now
            return true
        }
        guard due else { return }
        let candidates = masters + options.clusterSeeds
        ask(candidates[...])
    }

    /// `CLUSTER SLOTS` from the first candidate that answers.
    private func ask(_ candidates: ArraySlice<RedisEndpoint>) {
        guard let first = candidates.first else { return }
        let l = link(first, on: loops[0])
        l.onLoop {
            l.command([Array("CLUSTER".utf8), Array("SLOTS".utf8)]) { result in
                guard case .success(.array(let ranges)) = result else { return self.ask(candidates.dropFirst()) }
                var slots = [RedisEndpoint?](repeating: nil, count: RedisSlot.count)
                for range in ranges {
                    guard let r = range.array, r.count >= 3, let start = r[0].integer, let end = r[1].integer,
                        let node = r[2].array, node.count >= 2, let host = node[0].bytes, let port = node[1].integer,
                        (0..<RedisSlot.count).contains(start), (start..<RedisSlot.count).contains(end), (1...65535).contains(port)
                    else { continue }
                    // An empty host means "the address you reached me at".
                    let name = host.isEmpty ? nil : String(decoding: host, as: UTF8.self)
                    let server = RedisEndpoint.tcp(host: name ?? first.host, port: port)
                    for s in start...end { slots[s] = server }
                }
                self.routing.withLock { $0.slots = slots }
            }
        }
    }

    /// Closes every connection (they reopen on the next command).
    func close() { allLinks.forEach { $0.close() } }
}

extension RedisEndpoint {
    fileprivate var host: String {
        switch self {
        case .tcp(let host, _): host
        case .unix: "127.0.0.1"
        }
    }
}

/// Unix time in seconds: the clock of a store shared by many processes and kept across restarts.
public struct UnixTrackerClock: TrackerClock {
    public init() {}
    public func now() -> UInt32 { UInt32(clamping: time(nil)) }
}
