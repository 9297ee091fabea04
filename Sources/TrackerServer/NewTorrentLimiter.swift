import TrackerCore

/// Torrents each source created in the current minute, for
/// `announce.max_new_torrents_per_source`.
///
/// A fixed table of counters, a cell per source chosen by a hash seeded at random for this
/// process, so its memory is the same however many sources there are and no client can grow it.
/// Two sources that share a cell share its budget: the table errs toward refusing, never toward
/// letting a source past its own budget. A cell resets when a new minute begins.
final class NewTorrentLimiter: Sendable {
    private struct Cell {
        var minute: UInt32
        var count: UInt32
    }
    private final class Shard: Sendable {
        let cells: Locked<[Cell]>
        init(cells: Int) { self.cells = Locked([Cell](repeating: Cell(minute: 0, count: 0), count: cells)) }
    }
    private let shards: [Shard]
    private static let shardCount = 16
    private static let cellsPerShard = 1024

    /// The table is there whatever the limit (128 KiB), since a reload may set one.
    init() {
        shards = (0..<Self.shardCount).map { _ in Shard(cells: Self.cellsPerShard) }
    }

    private func place(_ source: SourceKey) -> (shard: Shard, cell: Int) {
        var h = Hasher()
        h.combine(source)
        let v = UInt(bitPattern: h.finalize())
        return (shards[Int(v % UInt(Self.shardCount))], Int((v / UInt(Self.shardCount)) % UInt(Self.cellsPerShard)))
    }

    /// The minute `uptimeNanoseconds` falls in (a monotonic clock: never goes back).
    static func minute(uptimeNanoseconds: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: uptimeNanoseconds / 60_000_000_000 + 1) }

    /// Whether `source` may create one more torrent in `minute`, `limit` a minute (0: no limit).
    func allows(_ source: SourceKey, minute: UInt32, limit: Int) -> Bool {
        guard limit > 0 else { return true }
        let (shard, cell) = place(source)
        return shard.cells.withLock { c in c[cell].minute != minute || c[cell].count < UInt32(limit) }
    }

    /// Counts one torrent `source` created in `minute`.
    func charge(_ source: SourceKey, minute: UInt32) {
        let (shard, cell) = place(source)
        shard.cells.withLock { c in
            if c[cell].minute != minute { c[cell] = Cell(minute: minute, count: 0) }
            c[cell].count &+= 1
        }
    }
}
