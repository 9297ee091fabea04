import NIOCore
import NIOPosix
import Synchronization
public import TrackerCore

#if canImport(Glibc)
    import Glibc
#endif

/// Reaches one Redis server from any thread. Every event loop of the group has its own
/// connection(s), so a verb called on a loop (as the server's handlers do) is sent and completed
/// on that loop, pipelined with the other announces of the same loop; calls from elsewhere hop to
/// a loop chosen round-robin.
final class RedisClient: Sendable {
    private let links: [RedisLink]
    private let byLoop: [ObjectIdentifier: Int]
    private let perLoop: Int
    private let next = Atomic<Int>(0)

    init(endpoint: RedisEndpoint, options: RedisOptions, scripts: [RedisScript], group: any EventLoopGroup) {
        let loops = Array(group.makeIterator())
        perLoop = max(1, options.connections)
        links = loops.flatMap { loop in
            (0..<max(1, options.connections)).map { _ in RedisLink(endpoint: endpoint, options: options, scripts: scripts, loop: loop) }
        }
        byLoop = Dictionary(uniqueKeysWithValues: loops.enumerated().map { (ObjectIdentifier($0.element), $0.offset) })
    }

    /// A link on the caller's loop when there is one.
    private func link() -> RedisLink {
        let n = next.add(1, ordering: .relaxed).oldValue
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop, let i = byLoop[ObjectIdentifier(loop)] {
            return links[i * perLoop + n % perLoop]
        }
        return links[n % links.count]
    }

    /// How many links there are; `withLink` names one by its position.
    var count: Int { links.count }

    /// Calls `body` on the loop of a link (the caller's when it has one), with the link and its
    /// position; everything sent from `body` goes out in one write.
    func withLink(_ body: @escaping @Sendable (RedisLink, Int) -> Void) {
        let n = next.add(1, ordering: .relaxed).oldValue
        let i: Int
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop, let at = byLoop[ObjectIdentifier(loop)] {
            i = at * perLoop + n % perLoop
        } else {
            i = n % links.count
        }
        let l = links[i]
        l.onLoop { body(l, i) }
    }

    func command(_ arguments: [[UInt8]], _ completion: @escaping @Sendable (Result<RedisValue, RedisError>) -> Void) {
        let l = link()
        l.onLoop { l.command(arguments, completion) }
    }

    func eval(
        _ script: RedisScript, keys: [[UInt8]], arguments: [[UInt8]],
        _ completion: @escaping @Sendable (Result<RedisValue, RedisError>) -> Void
    ) {
        let l = link()
        l.onLoop { l.eval(script, keys: keys, arguments: arguments, completion) }
    }

    func command(_ arguments: [[UInt8]]) async throws(RedisError) -> RedisValue {
        try await withCheckedContinuation { c in command(arguments) { c.resume(returning: $0) } }.get()
    }

    func eval(_ script: RedisScript, keys: [[UInt8]], arguments: [[UInt8]]) async throws(RedisError) -> RedisValue {
        try await withCheckedContinuation { c in eval(script, keys: keys, arguments: arguments) { c.resume(returning: $0) } }.get()
    }

    /// Closes every connection (they reopen on the next command).
    func close() { links.forEach { $0.close() } }
}

/// Unix time in seconds: the clock of a store shared by many processes and kept across restarts.
public struct UnixTrackerClock: TrackerClock {
    public init() {}
    public func now() -> UInt32 { UInt32(clamping: time(nil)) }
}
