import TrackerCore

extension Swarm {
    /// The statistics table's row: endpoints past `cutoff` (not swept yet) are not counted.
    func row(_ hash: InfoHash, cutoff: UInt32, now: UInt32) -> TorrentRow {
        var v4 = 0, v6count = 0
        var last: UInt32 = 0
        for p in peers {
            if p.flags & PeerSlot.hasV4 != 0, p.seen4 > cutoff {
                v4 += 1
                last = max(last, p.seen4)
            }
            if p.v6 >= 0, v6[Int(p.v6)].seen > cutoff {
                v6count += 1
                last = max(last, v6[Int(p.v6)].seen)
            }
        }
        return TorrentRow(
            infoHash: hash, seeders: Int(seeders), leechers: leechers, completed: Int(downloaded), ipv4: v4, ipv6: v6count,
            idle: now &- last)
    }

    /// At most `limit` peers with a live endpoint, seeders first.
    func peerRows(limit: Int, cutoff: UInt32, now: UInt32) -> [PeerRow] {
        var out: [PeerRow] = []
        for (i, p) in peers.enumerated() where out.count < limit {
            let e4 =
                p.flags & PeerSlot.hasV4 != 0 && p.seen4 > cutoff ? Endpoint(address: .v4(IPv4Address(p.v4)), port: p.port4) : nil
            var e6: Endpoint?
            var last = e4 == nil ? 0 : p.seen4
            if p.v6 >= 0, v6[Int(p.v6)].seen > cutoff {
                let s = v6[Int(p.v6)]
                e6 = Endpoint(address: .v6(IPv6Address(high: s.high, low: s.low)), port: s.port)
                last = max(last, s.seen)
            }
            guard e4 != nil || e6 != nil else { continue }
            let role: PeerRole = i < Int(seeders) ? .seeder : p.flags & PeerSlot.partialSeed != 0 ? .partialSeed : .leecher
            out.append(
                PeerRow(
                    peerID: PeerID(p.id), role: role, v4: e4, v6: e6, idle: now &- last, user: p.user,
                    completed: p.flags & PeerSlot.downloadCounted != 0))
        }
        return out
    }
}
