import TrackerCore

/// The benchmark's peer population: `torrents` torrents with Zipf-like swarm sizes
/// `clamp(max / k, min, max)` for k = 1, 2, ...; peer j of torrent k has peer_id
/// `-SB0001-%06d%06d` (k, j) and port 10000 + j; peers with j % 10 < 3 are seeds (30 %).
/// `announce.lua` builds the same population from the same pool file.
struct Pool {
    var hashes: [[UInt8]]
    var sizes: [Int]

    init(torrents: Int, offset: Int, swarmMax: Int, swarmMin: Int) {
        hashes = (0..<torrents).map { Pool.hash(offset + $0) }
        sizes = (1...max(1, torrents)).prefix(torrents).map { k in min(swarmMax, max(swarmMin, swarmMax / k)) }
    }

    /// A deterministic 20-byte info_hash for pool index `i` (SplitMix64 output bytes).
    static func hash(_ i: Int) -> [UInt8] {
        var rng = SplitMix64(seed: UInt64(i) &* 0x9E37_79B9_7F4A_7C15 ^ 0x5351_5541_4C4C_2121)
        var out: [UInt8] = []
        while out.count < 20 {
            withUnsafeBytes(of: rng.next().bigEndian) { out.append(contentsOf: $0) }
        }
        return Array(out.prefix(20))
    }

    static func peerID(torrent k: Int, peer j: Int) -> [UInt8] {
        func six(_ v: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, 6 - s.count)) + s }
        return Array(("-SB0001-" + six(k) + six(j)).utf8)
    }

    static func isSeed(peer j: Int) -> Bool { j % 10 < 3 }

    /// Private mode: the user (1...users) peer `j` of torrent `k` belongs to, and that user's
    /// passkey (its id in 32 decimal digits); `announce.lua` maps them the same way.
    static func user(torrent k: Int, peer j: Int, users: Int) -> Int { (k * 100_000 + j) % users + 1 }
    static func passkey(user: Int) -> String {
        let s = String(user)
        return String(repeating: "0", count: 32 - s.count) + s
    }

    var peerCount: Int { sizes.reduce(0, +) }
}
