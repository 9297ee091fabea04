import TrackerCore

/// The announce script's KEYS and ARGV, each slot named as the Lua reads it
/// (`RedisScripts.announce`): the only place the order is written down in Swift.
struct RedisAnnounceArguments: Sendable {
    /// The torrent's keys (`RedisKeys.torrent`): KEYS[1...7].
    var keys: [[UInt8]]
    /// ARGV[1]: the peer_id, raw, then the user's 4 big-endian bytes unless it is 0.
    var peerID: PeerID
    /// ARGV[2] (`4` or `6`) and ARGV[3] (address and port, big-endian).
    var endpoint: Endpoint
    /// ARGV[4]: `0` leecher, `1` seeder, `2` partial seed.
    var role: PeerRole
    /// ARGV[5], ARGV[6]: `1` or `0`.
    var countsDownload: Bool
    var remove: Bool
    /// ARGV[7].
    var numwant: Int
    /// ARGV[8] in decimal and ARGV[9] as 4 big-endian bytes (what records hold).
    var now: UInt32
    /// ARGV[10], ARGV[11].
    var ttl: Int
    var maxPeersPerTorrent: Int
    /// ARGV[12]: the info_hash in hex (for the index and the source counters).
    var infoHashHex: String
    /// ARGV[13]: the seed of the script's random sample.
    var seed: Int
    /// ARGV[14]: `1` when the script samples, `0` when Squall reads its own runs (`reads`).
    var scriptSamples: Bool
    /// ARGV[15], ARGV[16]: torrents and peers this Redis's totals may hold (a bucket's share
    /// on a cluster).
    var torrentsShare: Int
    var peersShare: Int
    /// ARGV[17]: the BEP 7 key's digest, 4 big-endian bytes (zeros: none).
    var key: PeerKey
    /// ARGV[18], ARGV[19]: the source's quota (`SourceQuota`).
    var peersPerSource: Int
    var mayCreateTorrent: Bool
    /// ARGV[20]: counters in the `sources` string.
    var sourceCells: Int
    /// ARGV[21]: the most peers of one user in the torrent (0: none); ARGV[22]: the user (4
    /// big-endian bytes, zeros on an open tracker); ARGV[23]: may add a peer (`SourceQuota`).
    var peersPerUser: Int = 0
    var user: UInt32 = 0
    var mayAddPeer = true
    /// ARGV[24...], three per run: `s` or `l`, first and last byte (`GETRANGE`'s bounds).
    var reads: [(seeders: Bool, from: Int, through: Int)] = []

    /// `numkeys`, KEYS and ARGV, as EVAL and EVALSHA take them after the script.
    var encoded: RedisArguments {
        var out = RedisArguments()
        out.append(decimal: keys.count)
        for k in keys { out.append(k) }
        let port = [UInt8(endpoint.port >> 8), UInt8(endpoint.port & 0xff)]
        let (family, address): (UInt8, [UInt8]) =
            switch endpoint.address {
            case .v4(let v4): (UInt8(ascii: "4"), v4.bytes)
            case .v6(let v6): (UInt8(ascii: "6"), v6.bytes)
            }
        func flag(_ b: Bool) -> [UInt8] { [b ? UInt8(ascii: "1") : UInt8(ascii: "0")] }
        out.append(user == 0 ? peerID.raw.bytes : peerID.raw.bytes + Self.bigEndian(user))
        out.append([family])
        out.append(address + port)
        out.append([UInt8(ascii: "0") + role.rawValue])
        out.append(flag(countsDownload))
        out.append(flag(remove))
        out.append(decimal: numwant)
        out.append(decimal: Int(now))
        out.append(bigEndian: now)
        out.append(decimal: ttl)
        out.append(decimal: maxPeersPerTorrent)
        out.append(infoHashHex)
        out.append(decimal: seed)
        out.append(flag(scriptSamples))
        out.append(decimal: torrentsShare)
        out.append(decimal: peersShare)
        out.append(bigEndian: key.value)
        out.append(decimal: peersPerSource)
        out.append(flag(mayCreateTorrent))
        out.append(decimal: sourceCells)
        out.append(decimal: peersPerUser)
        out.append(bigEndian: user)
        out.append(flag(mayAddPeer))
        for r in reads {
            out.append([r.seeders ? UInt8(ascii: "s") : UInt8(ascii: "l")])
            out.append(decimal: r.from)
            out.append(decimal: r.through)
        }
        return out
    }

    /// ARGV slots before the runs (the Lua reads runs from 24 on).
    static let fixedSlots = 23

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
}

/// The announce script's status bits (the fifth element of its reply).
struct RedisAnnounceStatus: OptionSet {
    let rawValue: Int
    /// The announce named a peer it does not own: answered, nothing recorded.
    static let notOwned = RedisAnnounceStatus(rawValue: 1)
    /// The announce created its torrent.
    static let createdTorrent = RedisAnnounceStatus(rawValue: 2)
}
