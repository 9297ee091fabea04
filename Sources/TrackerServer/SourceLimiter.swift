import Synchronization
import TrackerCore

/// Open connections per source, capped at `limit` (0: no cap). Entries exist only while their
/// source has a connection open, so the table never holds more than `http.max_connections`
/// entries. Sharded so the accepting threads and event loops seldom wait on one lock.
final class SourceLimiter: Sendable {
    /// The cap in force (a reload may change it).
    private let cap: Atomic<Int>
    var limit: Int { cap.load(ordering: .relaxed) }
    private final class Shard: Sendable {
        let table = Locked<[SourceKey: Int32]>([:])
    }
    private let shards: [Shard]

    /// `shards` must be a power of two.
    init(limit: Int, shards: Int = 16) {
        self.cap = Atomic(limit)
        self.counting = Atomic(limit > 0)
        self.shards = (0..<shards).map { _ in Shard() }
    }

    private func shard(_ key: SourceKey) -> Int {
        // The low bits of an IPv4 address and the bits just above a /64's host part both vary
        // between neighbours; fold them so that neighbours spread over the shards.
        let folded = key.bits ^ (key.bits >> 17) ^ (key.bits >> 32)
        return Int(truncatingIfNeeded: folded) & (shards.count - 1)
    }

    /// Takes a place for one more connection from `key`; false when the source is at its cap.
    func acquire(_ key: SourceKey) -> Bool {
        guard limit > 0 else { return true }
        return shards[shard(key)].table.withLock { table in
            let n = table[key, default: 0]
            guard n < limit else { return false }
            table[key] = n + 1
            return true
        }
    }

    /// A new cap (0: none). Places already taken stay counted, so `release` gives them back
    /// whatever the cap is by then.
    func setLimit(_ limit: Int) {
        if limit > 0 { counting.store(true, ordering: .relaxed) }
        cap.store(limit, ordering: .relaxed)
    }

    /// Whether any cap was ever in force: until then nothing was counted and `release` skips
    /// the lock.
    private let counting: Atomic<Bool>

    /// Gives back a place taken with `acquire`.
    func release(_ key: SourceKey) {
        guard counting.load(ordering: .relaxed) else { return }
        shards[shard(key)].table.withLock { table in
            guard let n = table[key] else { return }
            if n <= 1 { table[key] = nil } else { table[key] = n - 1 }
        }
    }

    /// Connections open from `key` (for tests and the metrics).
    func count(_ key: SourceKey) -> Int { Int(shards[shard(key)].table.withLock { $0[key] ?? 0 }) }

    /// Sources with a connection open.
    var sources: Int { shards.reduce(0) { $0 + $1.table.withLock { $0.count } } }
}
