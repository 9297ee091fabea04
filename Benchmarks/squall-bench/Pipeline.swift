import Logging
import MemoryStore
import Synchronization
import TrackerCore
import TrackerProtocol
import TrackerServer

/// Times Squall's own per-announce work without the network, over the benchmark's population:
/// the HTTP head parsed, its `TrackerRequest` read, and the router's own `AnnounceEndpoint`
/// (query parse, quotas, store, response, encode), so how much of an announce's cost is ours.
func pipeline(pool: Pool, announces: Int) throws {
    let store = MemoryPeerStore(peerTTL: 1860)
    var logger = Logger(label: "squall-bench")
    logger.logLevel = .error
    let endpoint = AnnounceEndpoint(store: store, logger: logger)
    var rng = SystemRandomNumberGenerator()
    var requests: [[UInt8]] = []
    // A peer chosen uniformly from all peers, as announce.lua chooses them, so busy torrents
    // get more announces (a uniform torrent would make nearly every reply a small swarm's).
    for _ in 0..<4096 {
        var (k, j) = (0, Int.random(in: 0..<pool.peerCount, using: &rng))
        while j >= pool.sizes[k] { (k, j) = (k + 1, j - pool.sizes[k]) }
        let target = announceTarget(path: "/announce", pool: pool, torrent: k, peer: j)
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
    let replyBytes = Atomic<Int>(0)
    let failure = Array("d14:failure reason".utf8)
    let clock = ContinuousClock()
    let elapsed = try clock.measure {
        for i in 0..<announces {
            let raw = requests[i & 4095]
            let outcome = raw.withUnsafeBytes { HTTPHeadParser.parse($0, maxHeadBytes: 8192) }
            guard case .head(let head, _) = outcome else { throw BenchClient.Failure(description: "parse") }
            guard TrackerRequest(head) == .announce else { throw BenchClient.Failure(description: "route") }
            // The memory store answers inline, so the reply is in before `serve` returns.
            endpoint.serve(head.query, from: source) { reply in
                let failed = reply.body.starts(with: failure)
                replyBytes.add(failed ? -1_000_000_000 : reply.body.count, ordering: .relaxed)
            }
        }
    }
    let bytes = replyBytes.load(ordering: .relaxed)
    guard bytes > 0 else { throw BenchClient.Failure(description: "failed replies") }
    let us = Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6
    print(
        "pipeline: \(announces) announces, \(String(Double(Int(us / Double(announces) * 100)) / 100)) us each (parse + store + encode), \(bytes / announces) reply bytes on average"
    )
}
