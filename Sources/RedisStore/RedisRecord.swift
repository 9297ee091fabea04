import TrackerCore

/// A peer's record in a torrent's `s` and `l` strings (slot i at byte `size`·i), as the Lua
/// scripts write it: the one place in Swift that knows its size, its offsets and its flags.
///
/// | bytes (1-based, as Lua counts) | field |
/// | --- | --- |
/// | 1-20 | peer_id |
/// | 21 | flags (`Flags`) |
/// | 22-27 | IPv4 address and port |
/// | 28-45 | IPv6 address and port |
/// | 46-49 | last announce over IPv4, big-endian Unix seconds |
/// | 50-53 | last announce over IPv6 |
/// | 54-57 | digest of the BEP 7 key the peer first announced with (zeros: none) |
/// | 58-61 | a private tracker's user, big-endian (the `users` layout only) |
///
/// An open tracker's records end at byte 57: its users are all 0, and the 4 bytes would cost a
/// Redis of a million peers 9 MB (`RedisKeys.layout(users:)` names the two layouts).
struct RedisRecord: Equatable {
    /// Bytes of a record: 61 with the user (private mode), 57 without.
    static func size(users: Bool) -> Int { users ? 61 : 57 }

    /// 0-based offsets of the fields.
    enum Offset {
        static let peerID = 0
        static let flags = 20
        static let ipv4 = 21
        static let ipv4Port = 25
        static let ipv6 = 27
        static let ipv6Port = 43
        static let seen4 = 45
        static let seen6 = 49
        static let key = 53
        static let user = 57
    }

    struct Flags: OptionSet, Equatable {
        let rawValue: UInt8
        static let ipv4 = Flags(rawValue: 1)
        static let ipv6 = Flags(rawValue: 2)
        /// Its `completed` was counted.
        static let downloadCounted = Flags(rawValue: 4)
        /// BEP 21 partial seed (kept with the leechers).
        static let partialSeed = Flags(rawValue: 8)
        /// The record lives in `s`: a seeder.
        static let seeder = Flags(rawValue: 16)
    }

    /// The peer with its live endpoints (those announced after the cutoff).
    var peer: SwarmPeer
    var flags: Flags
    /// The newest announce of a live endpoint.
    var lastAnnounce: Int
    /// A private tracker's user (0 on an open tracker).
    var user: UInt32 = 0

    /// The records in `blob`, `size` bytes each (whole records only; zeroed slots and records
    /// with no live endpoint left out): endpoints last announced at or before `cutoff` are
    /// dropped.
    static func forEach(in blob: [UInt8], size: Int, cutoff: Int, _ body: (RedisRecord) -> Void) {
        func u32(_ o: Int) -> Int { Int(blob[o]) << 24 | Int(blob[o + 1]) << 16 | Int(blob[o + 2]) << 8 | Int(blob[o + 3]) }
        func u16(_ o: Int) -> UInt16 { UInt16(blob[o]) << 8 | UInt16(blob[o + 1]) }
        for o in stride(from: 0, to: blob.count - (size - 1), by: size) {
            let flags = Flags(rawValue: blob[o + Offset.flags])
            let (seen4, seen6) = (u32(o + Offset.seen4), u32(o + Offset.seen6))
            let a = o + Offset.ipv4
            let v4 =
                flags.contains(.ipv4) && seen4 > cutoff
                ? Endpoint(address: .v4(IPv4Address(blob[a], blob[a + 1], blob[a + 2], blob[a + 3])), port: u16(o + Offset.ipv4Port)) : nil
            let v6 =
                flags.contains(.ipv6) && seen6 > cutoff
                ? IPv6Address(Array(blob[(o + Offset.ipv6)..<(o + Offset.ipv6Port)])).map {
                    Endpoint(address: .v6($0), port: u16(o + Offset.ipv6Port))
                } : nil
            guard v4 != nil || v6 != nil, let id = PeerID(blob[(o + Offset.peerID)..<(o + Offset.flags)]) else { continue }
            let user = size > Offset.user ? UInt32(u32(o + Offset.user)) : 0
            body(
                RedisRecord(
                    peer: SwarmPeer(peerID: id, v4: v4, v6: v6, user: user), flags: flags,
                    lastAnnounce: max(v4 == nil ? 0 : seen4, v6 == nil ? 0 : seen6), user: user))
        }
    }

    /// The records of `forEach`.
    static func records(in blob: [UInt8], size: Int, cutoff: Int) -> [RedisRecord] {
        var records: [RedisRecord] = []
        records.reserveCapacity(blob.count / size)
        forEach(in: blob, size: size, cutoff: cutoff) { records.append($0) }
        return records
    }

    /// A peer's identity (its peer_id and user), as the ids hash keys it.
    struct Identity: Hashable {
        var peerID: PeerID
        var user: UInt32
    }
    var identity: Identity { Identity(peerID: peer.peerID, user: user) }

    /// What a peer was, from the `prev` element of the announce script's reply (the string that
    /// held it and its record), seen from an announce over `family` at `now`; nil for empty.
    static func past(_ prev: [UInt8], size: Int, family: PeerAddress, now: Int, cutoff: Int) -> PeerPast? {
        guard prev.count == 1 + size else { return nil }
        let where_ = prev[0]
        let rec = Array(prev.dropFirst())
        func u32(_ o: Int) -> Int { Int(rec[o]) << 24 | Int(rec[o + 1]) << 16 | Int(rec[o + 2]) << 8 | Int(rec[o + 3]) }
        let flags = Flags(rawValue: rec[Offset.flags])
        let seen4: Int? = flags.contains(.ipv4) && u32(Offset.seen4) > cutoff ? u32(Offset.seen4) : nil
        let seen6: Int? = flags.contains(.ipv6) && u32(Offset.seen6) > cutoff ? u32(Offset.seen6) : nil
        guard seen4 != nil || seen6 != nil else { return nil }
        let same: Int? =
            switch family {
            case .v4: seen4
            case .v6: seen6
            }
        return PeerPast(
            sinceLast: now - max(seen4 ?? 0, seen6 ?? 0), sinceLastSameFamily: same.map { now - $0 },
            wasSeeder: where_ == UInt8(ascii: "s"), downloadCounted: flags.contains(.downloadCounted))
    }

    /// The records' peers with the seeders first, and how many those are.
    static func seedersFirst(_ records: [RedisRecord]) -> (peers: [SwarmPeer], seeders: Int) {
        let seeders = records.filter { $0.flags.contains(.seeder) }
        return (seeders.map(\.peer) + records.filter { !$0.flags.contains(.seeder) }.map(\.peer), seeders.count)
    }

    /// The byte range of `count` slots from `first`, as `GETRANGE`'s inclusive bounds.
    static func byteRange(first: Int, count: Int, size: Int) -> (from: Int, through: Int) { (first * size, (first + count) * size - 1) }

    /// `blob` cut to whole records.
    static func whole(_ blob: [UInt8], size: Int) -> ArraySlice<UInt8> { blob.prefix(blob.count - blob.count % size) }
}
