import TrackerCore

/// Every Redis key Squall uses. All keys start with a configurable prefix (`P`, default
/// `squall:`) so several trackers can share one Redis; a torrent's keys share the hash tag
/// `{hex info_hash}`, so Redis Cluster keeps them in one slot and one script can touch them all.
/// Peer ids are stored raw (binary-safe); the info_hash appears as 40 hex digits.
///
/// | key | type | expiry | value |
/// | --- | --- | --- | --- |
/// | `P{H}:ids` | hash | none (reaped) | peer_id -> where its record is: `s` or `l` and the slot, e.g. `l17` |
/// | `P{H}:s` | hash | none (reaped) | slot `0..n-1` -> 53-byte record of a seeder: peer_id, flags, IPv4 + port, IPv6 + port, last announce per family |
/// | `P{H}:l` | hash | none (reaped) | slot `0..n-1` -> record of a leecher or partial seed (swap-remove keeps slots dense) |
/// | `P{H}:m` | hash | none | `d`: downloads counted; `p`: partial seeds |
/// | `P{H}:x` | sorted set | none | peer_id scored by its oldest endpoint's last announce (expiry order) |
/// | `P:torrents` | sorted set | none | hex info_hash scored by a lower bound of its oldest endpoint's last announce (the reaper's index) |
/// | `P:totals` | hash | none | `t` torrents, `p` peers, `s` seeders |
///
/// Times are Unix seconds, so every Squall on one Redis must keep its clock in sync (NTP).
struct RedisKeys: Sendable {
    let prefix: String

    func torrent(_ hash: InfoHash) -> [[UInt8]] {
        let tag = prefix + "{" + hash.raw.hex + "}:"
        return ["ids", "s", "l", "m", "x"].map { Array((tag + $0).utf8) } + [index, totals]
    }

    /// The keys the scrape script reads for `hash`: s, l, m.
    func scrape(_ hash: InfoHash) -> [[UInt8]] {
        let tag = prefix + "{" + hash.raw.hex + "}:"
        return ["s", "l", "m"].map { Array((tag + $0).utf8) }
    }

    var index: [UInt8] { Array((prefix + "torrents").utf8) }
    var totals: [UInt8] { Array((prefix + "totals").utf8) }
}
