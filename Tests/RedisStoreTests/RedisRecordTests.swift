import Testing
import TrackerCore

@testable import RedisStore

/// The typed pieces of the Redis layout: records, the announce script's arguments, key names.
@Suite struct RedisRecordTests {
    /// A record as the Lua scripts write it (`RedisScripts`' layouts, spelled out byte by byte):
    /// the user's 4 bytes at the end in the `users` layout only.
    static func record(peer: UInt8, flags: UInt8, seen4: UInt32, seen6: UInt32, user: UInt32 = 0, users: Bool = true) -> [UInt8] {
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        let id = [UInt8](repeating: peer, count: 20)
        let v4: [UInt8] = [10, 0, 0, peer, 0x1A, 0xE1]
        let v6: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [peer] + [0x1A, 0xE2]
        return id + [flags] + v4 + v6 + be(seen4) + be(seen6) + [0xDE, 0xAD, 0xBE, 0xEF] + (users ? be(user) : [])
    }

    /// The accounting's baseline as the step script stores it: 16 + 16 + 8 hex digits and two
    /// flags, read from the bytes; `hex16` writes what the script compares as strings.
    @Test func accountBaselinesReadTheScriptsDigitsAndRefuseAnythingElse() {
        #expect(RedisPeerStore.hex16(0) == Array("0000000000000000".utf8))
        #expect(RedisPeerStore.hex16(0xDEAD_BEEF_0123_4567) == Array("deadbeef01234567".utf8))
        #expect(RedisPeerStore.hex16(.max) == Array("ffffffffffffffff".utf8))
        #expect(
            RedisPeerStore.hex16(0x0F_FFFF).lexicographicallyPrecedes(RedisPeerStore.hex16(0x10_0000)), "strings compare as the numbers")
        let stored = RedisPeerStore.hex16(.max) + RedisPeerStore.hex16(0x10) + Array("6930bd2a".utf8) + Array("10".utf8)
        #expect(
            RedisPeerStore.baseline(stored)
                == RedisBaseline(uploaded: .max, downloaded: 16, at: 0x6930_BD2A, seeder: true, active: false))
        var upper = stored
        upper[0] = UInt8(ascii: "F")
        #expect(RedisPeerStore.baseline(upper)?.uploaded == .max, "either case")
        for bad in [Array(stored.dropLast()), stored + [0x30], Array("+".utf8) + stored.dropFirst(), Array("g".utf8) + stored.dropFirst()] {
            #expect(RedisPeerStore.baseline(bad) == nil)
        }
        var badTime = stored
        badTime[39] = UInt8(ascii: " ")
        #expect(RedisPeerStore.baseline(badTime) == nil)
    }

    @Test(arguments: [true, false]) func recordsDecodeTheirFieldsAndDropExpiredEndpoints(users: Bool) {
        let size = RedisRecord.size(users: users)
        let both = Self.record(peer: 1, flags: 1 | 2 | 8, seen4: 1000, seen6: 2000, users: users)
        let v4Only = Self.record(peer: 2, flags: 1 | 4 | 16, seen4: 3000, seen6: 0, user: users ? 0x0102_0304 : 0, users: users)
        let zeroed = [UInt8](repeating: 0, count: size)
        #expect(both.count == size && size == (users ? 61 : 57))
        var seen: [RedisRecord] = []
        RedisRecord.forEach(in: both + zeroed + v4Only + [1, 2, 3], size: size, cutoff: 500) { seen.append($0) }
        #expect(seen.count == 2, "the zeroed slot and the partial record are skipped")
        #expect(seen[0].flags == [.ipv4, .ipv6, .partialSeed] && seen[0].lastAnnounce == 2000)
        #expect(seen[0].peer.peerID == PeerID([UInt8](repeating: 1, count: 20)))
        #expect(seen[0].peer.v4 == Endpoint(address: .v4(IPv4Address(10, 0, 0, 1)), port: 6881))
        let v6 = IPv6Address([0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1])
        #expect(seen[0].peer.v6 == v6.map { Endpoint(address: .v6($0), port: 6882) })
        #expect(seen[1].flags == [.ipv4, .downloadCounted, .seeder] && seen[1].peer.v6 == nil)
        #expect(seen[0].user == 0 && seen[1].user == (users ? 0x0102_0304 : 0))
        // Seeders (flag 16) lead a sample.
        let sample = RedisRecord.seedersFirst(seen)
        #expect(sample.seeders == 1 && sample.peers.map(\.peerID) == [seen[1].peer.peerID, seen[0].peer.peerID])
        // At cutoff 1500 the first record's IPv4 endpoint has expired; at 2500 all of it.
        #expect(RedisRecord.records(in: both, size: size, cutoff: 1500).first.map { $0.peer.v4 == nil && $0.peer.v6 != nil } == true)
        #expect(RedisRecord.records(in: both, size: size, cutoff: 2500).isEmpty)
        let range = RedisRecord.byteRange(first: 2, count: 3, size: size)
        #expect(range.from == 2 * size && range.through == 5 * size - 1)
        #expect(RedisRecord.whole(both + [1, 2, 3], size: size).count == size)
    }

    @Test(arguments: [true, false]) func theScriptsPrevElementTellsWhatThePeerWas(users: Bool) {
        let size = RedisRecord.size(users: users)
        let rec = Self.record(peer: 1, flags: 1 | 2 | 4, seen4: 1000, seen6: 2000, users: users)
        let v4 = PeerAddress.v4(IPv4Address(10, 0, 0, 1))
        let v6 = PeerAddress.v6(IPv6Address(high: 1, low: 1))
        #expect(RedisRecord.past([], size: size, family: v4, now: 2100, cutoff: 0) == nil)
        #expect(
            RedisRecord.past([UInt8(ascii: "s")] + rec, size: size, family: v4, now: 2100, cutoff: 0)
                == PeerPast(sinceLast: 100, sinceLastSameFamily: 1100, wasSeeder: true, downloadCounted: true))
        // An expired endpoint is no endpoint; the other family's still counts.
        #expect(
            RedisRecord.past([UInt8(ascii: "l")] + rec, size: size, family: v4, now: 2100, cutoff: 1500)
                == PeerPast(sinceLast: 100, sinceLastSameFamily: nil, wasSeeder: false, downloadCounted: true))
        #expect(RedisRecord.past([UInt8(ascii: "l")] + rec, size: size, family: v6, now: 2100, cutoff: 1500)?.sinceLastSameFamily == 100)
        #expect(RedisRecord.past([UInt8(ascii: "l")] + rec, size: size, family: v6, now: 2100, cutoff: 2500) == nil)
    }

    @Test func theAnnounceArgumentsAreInTheSlotsTheScriptReads() {
        let keys = RedisKeys(prefix: "p:")
        let hash = InfoHash([UInt8](repeating: 0xAB, count: 20))!
        var a = RedisAnnounceArguments(
            keys: keys.torrent(hash), peerID: PeerID([UInt8](repeating: 0x41, count: 20))!,
            endpoint: Endpoint(address: .v4(IPv4Address(1, 2, 3, 4)), port: 0x1AE1), role: .partialSeed, countsDownload: true,
            remove: false, numwant: 50, now: 0x0102_0304, ttl: 1860, maxPeersPerTorrent: 9, infoHashHex: hash.raw.hex, seed: 77,
            scriptSamples: false, torrentsShare: 11, peersShare: 12, key: PeerKey(value: 0xA0B0_C0D0), peersPerSource: 13,
            mayCreateTorrent: true, sourceCells: 14, peersPerUser: 3, user: 0x0A0B_0C0D, mayAddPeer: false)
        a.reads = [(true, 0, 60), (false, 61, 121)]
        let e = a.encoded
        let parts = (0..<e.count).map { i in Array(e.bytes[(i == 0 ? 0 : e.ends[i - 1])..<e.ends[i]]) }
        let argv = Array(parts.dropFirst(1 + keys.torrent(hash).count))
        #expect(String(decoding: parts[0], as: UTF8.self) == "7")
        let text = argv.map { String(decoding: $0, as: UTF8.self) }
        #expect(argv.count == RedisAnnounceArguments.fixedSlots + 6)
        // A private peer's field: its peer_id, then its user.
        #expect(argv[0] == [UInt8](repeating: 0x41, count: 20) + [0x0A, 0x0B, 0x0C, 0x0D])
        #expect(text[1] == "4" && argv[2] == [1, 2, 3, 4, 0x1A, 0xE1])
        #expect(Array(text[3...7]) == ["2", "1", "0", "50", "16909060"] && argv[8] == [1, 2, 3, 4])
        #expect(Array(text[9...15]) == ["1860", "9", hash.raw.hex, "77", "0", "11", "12"])
        #expect(argv[16] == [0xA0, 0xB0, 0xC0, 0xD0] && Array(text[17...19]) == ["13", "1", "14"])
        #expect(text[20] == "3" && argv[21] == [0x0A, 0x0B, 0x0C, 0x0D] && text[22] == "0")
        #expect(Array(text[23...]) == ["s", "0", "60", "l", "61", "121"])
    }

    @Test func theRowsScriptGetsItsKeyNamesFromRedisKeys() {
        for keys in [RedisKeys(prefix: "squall:"), RedisKeys(prefix: "x:", cluster: true)] {
            for n in 0..<300 {
                let hash = InfoHash((0..<20).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n &* 7) })!
                let around = keys.metaAround(bucket: keys.bucket(hash))
                #expect(around.before + Array(hash.raw.hex.utf8) + around.after == keys.meta(hash))
            }
        }
    }
}
