import TrackerCore

/// Every Redis key Squall uses. All keys start with a configurable prefix (`P`, default
/// `squall:`) so several trackers can share one Redis; a torrent's keys share the hash tag
/// `{hex info_hash}`, so Redis Cluster keeps them in one slot and one script can touch them all.
/// Peer ids are stored raw (binary-safe); the info_hash appears as 40 hex digits.
///
/// | key | type | expiry | value |
/// | --- | --- | --- | --- |
/// | `P{H}:peers` | hash | none (reaped) | peer_id -> 38-byte record: slot, role, flags, IPv4 + port + last seen, IPv6 + port + last seen |
/// | `P{H}:s` | hash | none | slot `0..n-1` -> peer_id of a seeder (swap-remove keeps slots dense) |
/// | `P{H}:l` | hash | none | slot `0..n-1` -> peer_id of a leecher or partial seed |
/// | `P{H}:m` | hash | none | `d`: downloads counted; `p`: partial seeds |
/// | `P{H}:x` | sorted set | none | peer_id scored by its oldest endpoint's last announce (expiry order) |
/// | `P:torrents` | sorted set | none | hex info_hash scored by its oldest endpoint's last announce (the reaper's index) |
/// | `P:totals` | hash | none | `t` torrents, `p` peers, `s` seeders |
struct RedisKeys: Sendable {
    let prefix: String

    func torrent(_ hash: InfoHash) -> [[UInt8]] {
        let tag = prefix + "{" + hash.raw.hex + "}:"
        return ["peers", "s", "l", "m", "x"].map { Array((tag + $0).utf8) } + [index, totals]
    }

    var index: [UInt8] { Array((prefix + "torrents").utf8) }
    var totals: [UInt8] { Array((prefix + "totals").utf8) }
}
