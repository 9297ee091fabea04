import TrackerCore

/// Every Redis key Squall uses. All keys start with a configurable prefix (`P`, default
/// `squall:`) so several trackers can share one Redis; peer ids are stored raw (binary-safe);
/// an info_hash appears as 40 hex digits (`H`).
///
/// On a single Redis, a torrent's keys share the hash tag `{H}`, and the index and totals are
/// one key each:
///
/// | key | type | expiry | value |
/// | --- | --- | --- | --- |
/// | `P{H}:ids` | hash | none (reaped) | peer_id (then a private tracker's user, 4 bytes, for its peers) -> where its record is: `s` or `l` and the slot, e.g. `l17` |
/// | `P{H}:s` | string | none (reaped) | the seeders' records (`RedisRecord`, 61 bytes), slot i at byte 61·i, in random order; the string is kept a little longer than its records (bytes past the count are zeros), sized to the allocator's classes |
/// | `P{H}:l` | string | none (reaped) | the same for leechers and partial seeds |
/// | `P{H}:m` | hash | none | `s`, `l`: seeders and leechers (slots in use); `d`: downloads counted; `p`: partial seeds; `4`, `6`: peers with an IPv4 / IPv6 endpoint; `a`: last announce; `n`: when announces next step the expiry pass; `c`, `w`, `o`: the pass in progress (next slot, which string, oldest announce kept); `u` + 4 bytes: a private tracker's user's peers here |
/// | `P:torrents` | sorted set | none | H scored by a lower bound of its endpoints' last announces (the reaper's index) |
/// | `P:totals` | hash | none | `t` torrents, `p` peers, `s` seeders, `4` and `6` peers with an IPv4 / IPv6 endpoint |
/// | `P:sources` | string | none | 2^21 u16 counters: endpoints per (torrent, source), hashed (see `RedisScripts`) |
/// | `P:layout` | string | none | the layout of these keys (`RedisKeys.layout(users:)`), checked at startup |
/// | `P{registry}:log`, `P{registry}:state` | stream, hash | none | private mode's shared registry (`registryKeys`) |
///
/// On Redis Cluster a script may only touch keys of one slot, so torrents are spread over 256
/// buckets (`B` = the XOR of the info_hash's 20 bytes) and every key of a torrent carries its bucket's
/// tag, as do that bucket's index and totals: `P{bB}:H:ids`, `P{bB}:H:s` ... `P{bB}:torrents`,
/// `P{bB}:totals`, `P{bB}:sources` (2^13 counters each, so 2^21 in all). Totals are the sum over
/// the buckets, read with one pipelined HMGET per bucket.
///
/// Times are Unix seconds, so every Squall on one Redis must keep its clock in sync (NTP).
struct RedisKeys: Sendable {
    /// Private mode's registry (TrackerServer's `RedisRegistryFeed`): the stream of changes and
    /// the hash of current records, one hash tag for both (one slot on a cluster).
    static func registryKeys(prefix: String) -> (log: [UInt8], state: [UInt8]) {
        (Array((prefix + "{registry}:log").utf8), Array((prefix + "{registry}:state").utf8))
    }

    let prefix: String
    /// 1 on a single Redis, 256 on a cluster.
    let buckets: Int

    /// Cluster only: the slot of each bucket.
    private let slots: [Int]

    init(prefix: String, cluster: Bool = false) {
        self.prefix = prefix
        buckets = cluster ? 256 : 1
        slots = cluster ? (0..<256).map { RedisSlot.of(Array("{b\($0)}".utf8)) } : []
    }

    /// Where a bucket's keys live on a cluster; nil on a single Redis.
    func slot(_ bucket: Int) -> Int? { slots.isEmpty ? nil : slots[bucket] }

    /// The XOR of the info_hash's 20 bytes (part of the key names: never change it).
    func bucket(_ hash: InfoHash) -> Int { buckets == 1 ? 0 : hash.raw.withBytes { Int($0.reduce(0, ^)) } % buckets }

    private func torrentStem(_ hash: InfoHash) -> String {
        buckets == 1 ? prefix + "{" + hash.raw.hex + "}:" : prefix + "{b\(bucket(hash))}:" + hash.raw.hex + ":"
    }

    /// The keys of the per-torrent scripts: ids, s, l, m, then its bucket's index, totals and
    /// source counters.
    func torrent(_ hash: InfoHash) -> [[UInt8]] {
        let stem = torrentStem(hash)
        let b = bucket(hash)
        return ["ids", "s", "l", "m"].map { Array((stem + $0).utf8) } + [index(b), totals(b), sources(b)]
    }

    /// Counters in each `sources` string: 2^21 in all.
    var sourceCells: Int { (1 << 21) / buckets }

    /// What `P:layout` holds for the keys described here: `4` with a private tracker's records
    /// (61 bytes, with the user), `5` with an open tracker's (57 bytes). A Redis holding another
    /// layout (an older Squall's, or the other mode's) is refused at startup rather than misread.
    static func layout(users: Bool) -> String { users ? "4" : "5" }

    /// The key holding the layout, and the one an older Squall's data would show up in.
    var layoutKey: [UInt8] { Array((buckets == 1 ? prefix + "layout" : prefix + "{b0}:layout").utf8) }

    /// The key the scrape script reads for `hash`: m, which holds its counts.
    func meta(_ hash: InfoHash) -> [UInt8] { Array((torrentStem(hash) + "m").utf8) }

    /// The keys the peer rows script reads for `hash`: s, l, m.
    func records(_ hash: InfoHash) -> [[UInt8]] {
        let stem = torrentStem(hash)
        return ["s", "l", "m"].map { Array((stem + $0).utf8) }
    }

    /// `meta(hash)` of the torrents in `bucket`'s index, as the text before and after the
    /// hash's hex: the rows script, which finds the hashes in the index, joins them around
    /// each (it builds no key name of its own, so a layout change cannot make it read zeros).
    func metaAround(bucket: Int) -> (before: [UInt8], after: [UInt8]) {
        // A hash whose bytes XOR to `bucket`: its keys are the bucket's.
        let sample = InfoHash([UInt8(bucket)] + [UInt8](repeating: 0, count: 19))!
        precondition(self.bucket(sample) == bucket)
        let key = meta(sample)
        let hex = Array(sample.raw.hex.utf8)
        guard let at = (0...(key.count - hex.count)).first(where: { key[$0..<($0 + hex.count)].elementsEqual(hex) }) else {
            preconditionFailure("meta keys hold the info_hash in hex")
        }
        return (Array(key[..<at]), Array(key[(at + hex.count)...]))
    }

    func index(_ bucket: Int) -> [UInt8] { Array((buckets == 1 ? prefix + "torrents" : prefix + "{b\(bucket)}:torrents").utf8) }
    func totals(_ bucket: Int) -> [UInt8] { Array((buckets == 1 ? prefix + "totals" : prefix + "{b\(bucket)}:totals").utf8) }
    func sources(_ bucket: Int) -> [UInt8] { Array((buckets == 1 ? prefix + "sources" : prefix + "{b\(bucket)}:sources").utf8) }
}

/// Redis Cluster's key slot: CRC16 (XMODEM) of the key's hash tag (the part between the first
/// `{` and the next `}`, if not empty) or of the whole key, modulo 16384.
enum RedisSlot {
    static let count = 16384

    static func of(_ key: [UInt8]) -> Int {
        var tagged = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            tagged = key[(open + 1)..<close]
        }
        return Int(crc16(tagged)) % count
    }

    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for b in bytes {
            crc ^= UInt16(b) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}
