import Foundation
import Testing
import TrackerCore
import TrackerProtocol
import TrackerServer
import TrackerTestSupport

/// Peer ownership and per-source quotas over real sockets: a stranger who learned a peer_id
/// from a `compact=0` reply cannot stop, move, complete or merge into someone else's peer, and
/// one source cannot fill a torrent or the tracker.
@Suite struct PeerOwnershipTests {
    func metric(_ t: RunningTracker, _ series: String) throws -> Int { try t.metric(series) }

    func peerIDs(_ reply: BencodeValue) -> [String] {
        guard case .list(let peers)? = reply["peers"] else { return [] }
        return peers.compactMap { $0["peer id"]?.bytesValue.map { String(decoding: $0, as: UTF8.self) } }
    }

    @Test func aStrangerWhoLearnedAPeerIDChangesNothing() async throws {
        let t = try await RunningTracker.start()
        let h = testHash(40)
        let victim = testPeer("victim")
        _ = try t.announce("127.0.0.1", hash: h, peer: victim, port: 7000, left: 5, key: "0A1B2C3D")
        // The stranger reads the victim's peer_id from a dictionary-model reply.
        let look = try t.announce("::1", hash: h, peer: testPeer("watcher"), port: 7001, left: 5, compact: false)
        #expect(peerIDs(look) == [String(decoding: victim, as: UTF8.self)])
        // From another address family, without the key or with a wrong one: nothing happens.
        for key in [nil, "FFFFFFFF"] {
            let stop = try t.announce("::1", hash: h, peer: victim, port: 9999, left: 5, event: .stopped, key: key)
            #expect(stop["incomplete"] == .int(2))
            let done = try t.announce("::1", hash: h, peer: victim, port: 9999, left: 0, event: .completed, key: key)
            #expect(done["downloaded"] == .int(0) && done["complete"] == .int(0))
        }
        let view = try t.announce("::1", hash: h, peer: testPeer("watcher"), port: 7001, left: 5)
        #expect(compactV4(view["peers"]) == ["127.0.0.1:7000"], "the victim keeps its address")
        #expect(compactV6(view["peers6"]).isEmpty, "and nobody's IPv6 endpoint was attached to it")
        #expect(try metric(t, "squall_announces_not_owned_total") == 4)
        // The victim itself, from its address, still stops.
        let own = try t.announce("127.0.0.1", hash: h, peer: victim, port: 7000, left: 5, event: .stopped)
        #expect(own["incomplete"] == .int(1))
        try await t.stop()
    }

    @Test func quotasRefuseOneSourceAndLetAnotherIn() async throws {
        let t = try await RunningTracker.start {
            $0.announce.quotaExempt = []
            $0.announce.maxPeersPerSource = 2
            $0.announce.maxNewTorrentsPerSource = 2
        }
        let h = testHash(41)
        for i in 0..<2 { _ = try t.announce("127.0.0.1", hash: h, peer: testPeer("nat\(i)"), port: 7000 + i, left: 5) }
        let third = try t.announce("127.0.0.1", hash: h, peer: testPeer("nat2"), port: 7002, left: 5)
        #expect(third["failure reason"]?.stringValue == "too many peers from your address in this torrent (at most 2)")
        let other = try t.announce("::1", hash: h, peer: testPeer("v6"), port: 7003, left: 5)
        #expect(other["failure reason"] == nil && other["incomplete"] == .int(3), "another source still gets in")
        // Two new torrents a minute from 127.0.0.1 (the first above was one): one more, then no.
        _ = try t.announce("127.0.0.1", hash: testHash(42), peer: testPeer("n"), port: 7000, left: 5)
        let refused = try t.announce("127.0.0.1", hash: testHash(43), peer: testPeer("n"), port: 7000, left: 5)
        #expect(refused["failure reason"]?.stringValue == "too many new torrents from your address; retry in a minute")
        let elsewhere = try t.announce("::1", hash: testHash(43), peer: testPeer("n6"), port: 7000, left: 5)
        #expect(elsewhere["failure reason"] == nil, "a new source may create it")
        let join = try t.announce("127.0.0.1", hash: testHash(43), peer: testPeer("n"), port: 7000, left: 5)
        #expect(join["failure reason"] == nil && join["incomplete"] == .int(2), "and the first may join it once it exists")
        let refusals = try metric(t, #"squall_store_errors_total{kind="quota"}"#)
        #expect(refusals == 2)
        try await t.stop()
    }

    @Test func loopbackIsExemptByDefault() async throws {
        let t = try await RunningTracker.start { $0.announce.maxPeersPerSource = 2 }
        let h = testHash(44)
        for i in 0..<5 {
            let r = try t.announce("127.0.0.1", hash: h, peer: testPeer("lo\(i)"), port: 7000 + i, left: 5)
            #expect(r["failure reason"] == nil)
        }
        try await t.stop()
    }
}
