import MemoryStore
import TrackerCore
import TrackerProtocol

/// Times Squall's own per-announce work (HTTP head parse, query parse, store, encode) without
/// the network, over the benchmark's population: how much of an announce's cost is ours.
func pipeline(pool: Pool, announces: Int) throws {
    let store = MemoryStore(peerTTL: 1860)
    let policy = AnnouncePolicy()
    var rng = SystemRandomNumberGenerator()
    var requests: [[UInt8]] = []
    // A peer chosen uniformly from all peers, as announce.lua chooses them, so busy torrents
    // get more announces (a uniform torrent would make nearly every reply a small swarm's).
    for _ in 0..<4096 {
        var (k, j) = (0, Int.random(in: 0..<pool.peerCount, using: &rng))
        while j >= pool.sizes[k] { (k, j) = (k + 1, j - pool.sizes[k]) }
        let target = announceTarget(path: "/announce", pool: pool, torrent: k, peer: j, event: nil)
        requests.append(Array("GET \(target) HTTP/1.1\r\nHost: tracker\r\n\r\n".utf8))
    }
    for k in pool.sizes.indices {
        for j in 0..<pool.sizes[k] {
            _ = store.announceNow(
                PeerAnnounce(
                    infoHash: InfoHash(pool.hashes[k])!, peerID: PeerID(Pool.peerID(torrent: k, peer: j))!,
                    endpoint: Endpoint(address: .v4(IPv4Address(127, 0, 0, 1)), port: UInt16(10000 + j)),
                    role: Pool.isSeed(peer: j) ? .seeder : .leecher, numwant: 0))
        }
    }
    let source = PeerAddress.v4(IPv4Address(127, 0, 0, 1))
    var bytes = 0
    let clock = ContinuousClock()
    let elapsed = try clock.measure {
        for i in 0..<announces {
            let raw = requests[i & 4095]
            let outcome = raw.withUnsafeBytes { HTTPHeadParser.parse($0, maxHeadBytes: 8192) }
            guard case .head(let head, _) = outcome else { throw BenchClient.Failure(description: "parse") }
            let request = try head.query.withUnsafeBytes { try AnnounceParser.parse(query: $0) }
            let verb = AnnounceLogic.storeVerb(for: request, from: source, policy: policy)
            guard case .success(let reply) = store.announceNow(verb) else { throw BenchClient.Failure(description: "store") }
            var w = BencodeWriter(capacity: 96 + 18 * reply.peers.count)
            ResponseEncoding.announce(AnnounceLogic.response(for: request, from: source, reply: reply, policy: policy), into: &w)
            bytes &+= w.bytes.count
        }
    }
    let us = Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6
    print(
        "pipeline: \(announces) announces, \(String(Double(Int(us / Double(announces) * 100)) / 100)) us each (parse + store + encode), \(bytes / announces) reply bytes on average"
    )
}
