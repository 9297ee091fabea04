import MemoryStore
import TrackerCore

#if canImport(Glibc)
    import Glibc
#endif

/// Resident bytes of this process, from /proc/self/statm.
func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    withUnsafeMutablePointer(to: &size) { s in
        withUnsafeMutablePointer(to: &resident) { r in
            _ = withVaList([s, r]) { vfscanf(f, "%ld %ld", $0) }
        }
    }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func memory(peers total: Int, layout: String, users: Int = 0) async throws {
    // Swarm sizes: "zipf" repeats 1000/k peers for k = 1...1000 (the load generator's mix: most
    // torrents small, a few large); "flat" uses torrents of 1000 peers.
    let sizes: [Int] = layout == "flat" ? [1000] : (1...1000).map { max(1, 1000 / $0) }
    let before = residentBytes()
    let store = MemoryPeerStore(peerTTL: 1860)
    var rng = SystemRandomNumberGenerator()
    var loaded = 0, torrent = 0, v4 = 0, v6 = 0
    while loaded < total {
        let size = min(sizes[torrent % sizes.count], total - loaded)
        let hash = InfoHash(
            Bytes20(w0: UInt32(truncatingIfNeeded: torrent), w1: 0x5351_4C4C, w2: UInt32(truncatingIfNeeded: rng.next()), w3: 7, w4: 9))
        for i in 0..<size {
            let n = loaded + i
            let peer = PeerID(
                Bytes20(
                    w0: 0x2D71_4234, w1: 0x3635_302D, w2: UInt32(truncatingIfNeeded: n), w3: UInt32(truncatingIfNeeded: rng.next()),
                    w4: UInt32(truncatingIfNeeded: rng.next())))
            // A fifth of peers IPv6-only, a twentieth dual-stack, the rest IPv4-only.
            let kind = n % 20
            let role: PeerRole = n % 10 < 3 ? .seeder : .leecher
            // Private mode: the peer's user (peer_id and user are its identity).
            let user: UInt32 = users > 0 ? UInt32(1 + Int(rng.next() % UInt64(users))) : 0
            if kind >= 4 {
                v4 += 1
                let e = Endpoint(address: .v4(IPv4Address(UInt32(truncatingIfNeeded: rng.next()))), port: UInt16(truncatingIfNeeded: n))
                _ = store.announceNow(PeerAnnounce(infoHash: hash, peerID: peer, endpoint: e, role: role, numwant: 0, user: user))
            }
            if kind < 5 {
                v6 += 1
                let e = Endpoint(address: .v6(IPv6Address(high: rng.next(), low: rng.next())), port: UInt16(truncatingIfNeeded: n))
                _ = store.announceNow(PeerAnnounce(infoHash: hash, peerID: peer, endpoint: e, role: role, numwant: 0, user: user))
            }
        }
        loaded += size
        torrent += 1
    }
    let after = residentBytes()
    let totals = try await store.totals()
    let perPeer = Double(after - before) / Double(totals.peers)
    print("| layout | users | torrents | peers | IPv4 endpoints | IPv6 endpoints | resident bytes | bytes per peer |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        "| \(layout) | \(users == 0 ? "open" : "\(users)") | \(totals.torrents) | \(totals.peers) | \(v4) | \(v6) | \(after - before) | \(Int(perPeer.rounded())) |"
    )
    withExtendedLifetime(store) {}
}
