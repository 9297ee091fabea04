import Testing

@testable import TrackerCore

@Suite struct AnnounceLogicTests {
    let policy = AnnouncePolicy(interval: 1800, minInterval: 900, defaultNumwant: 50, maxNumwant: 200)
    let source = PeerAddress.v4(IPv4Address(203, 0, 113, 7))

    func request(left: UInt64 = 10, event: AnnounceEvent = .none, numwant: Int? = nil) -> AnnounceRequest {
        AnnounceRequest(
            infoHash: InfoHash([UInt8](repeating: 1, count: 20))!, peerID: PeerID([UInt8](repeating: 2, count: 20))!,
            port: 6881, left: left, event: event, numwant: numwant)
    }

    @Test func rolesFollowLeftAndPaused() {
        #expect(AnnounceLogic.storeVerb(for: request(left: 0), from: source, policy: policy).role == .seeder)
        #expect(AnnounceLogic.storeVerb(for: request(left: 1), from: source, policy: policy).role == .leecher)
        #expect(AnnounceLogic.storeVerb(for: request(left: 1, event: .paused), from: source, policy: policy).role == .partialSeed)
        #expect(AnnounceLogic.storeVerb(for: request(left: 0, event: .paused), from: source, policy: policy).role == .seeder)
    }

    @Test func numwantDefaultsAndCaps() {
        #expect(AnnounceLogic.storeVerb(for: request(), from: source, policy: policy).numwant == 50)
        #expect(AnnounceLogic.storeVerb(for: request(numwant: 10), from: source, policy: policy).numwant == 10)
        #expect(AnnounceLogic.storeVerb(for: request(numwant: 5000), from: source, policy: policy).numwant == 200)
        #expect(AnnounceLogic.storeVerb(for: request(numwant: 0), from: source, policy: policy).numwant == 0)
        #expect(AnnounceLogic.storeVerb(for: request(event: .stopped, numwant: 30), from: source, policy: policy).numwant == 0)
    }

    @Test func eventsMapToVerbs() {
        let stop = AnnounceLogic.storeVerb(for: request(event: .stopped), from: source, policy: policy)
        #expect(stop.remove && !stop.countsDownload)
        let done = AnnounceLogic.storeVerb(for: request(left: 0, event: .completed), from: source, policy: policy)
        #expect(done.countsDownload && !done.remove && done.role == .seeder)
        let start = AnnounceLogic.storeVerb(for: request(event: .started), from: source, policy: policy)
        #expect(!start.countsDownload && !start.remove)
    }

    @Test func mappedIPv6SourcesAreIPv4Peers() {
        let mapped = PeerAddress.v6(IPv6Address(high: 0, low: 0x0000_FFFF_CB00_7107))
        let verb = AnnounceLogic.storeVerb(for: request(), from: mapped, policy: policy)
        #expect(verb.endpoint == Endpoint(address: .v4(IPv4Address(203, 0, 113, 7)), port: 6881))
        let reply = SwarmReply(complete: 1, incomplete: 2, downloaded: 3, peers: [])
        #expect(AnnounceLogic.response(for: request(), from: mapped, reply: reply, policy: policy).externalIP.bytes == [203, 0, 113, 7])
    }

    @Test func stoppedRepliesCarryNoPeers() {
        let peer = SwarmPeer(peerID: PeerID([UInt8](repeating: 3, count: 20))!, v4: Endpoint(address: source, port: 1))
        let reply = SwarmReply(complete: 1, incomplete: 0, downloaded: 0, peers: [peer])
        #expect(AnnounceLogic.response(for: request(event: .stopped), from: source, reply: reply, policy: policy).peers.isEmpty)
        let r = AnnounceLogic.response(for: request(), from: source, reply: reply, policy: policy)
        #expect(r.peers == [peer] && r.interval == 1800 && r.minInterval == 900 && r.complete == 1)
    }

    @Test func ttlIsIntervalPlusAMinute() {
        #expect(AnnouncePolicy().peerTTL == 1860)
    }
}

@Suite struct AddressTests {
    @Test(arguments: [
        (IPv6Address(high: 0, low: 1), "::1"),
        (IPv6Address(high: 0, low: 0), "::"),
        (IPv6Address(high: 0x2001_0db8_0000_0000, low: 0x0000_0000_0000_0001), "2001:db8::1"),
        (IPv6Address(high: 0x2001_0db8_0001_0000, low: 0x0000_0001_0000_0001), "2001:db8:1::1:0:1"),
        (IPv6Address(high: 0xFE80_0000_0000_0000, low: 0x0202_B3FF_FE1E_8329), "fe80::202:b3ff:fe1e:8329"),
        (IPv6Address(high: 0, low: 0xFFFF_7F00_0001), "::ffff:127.0.0.1"),
    ])
    func ipv6Text(_ a: IPv6Address, _ text: String) {
        #expect(a.description == text)
        #expect(IPv6Address(a.bytes) == a)
    }

    @Test func bytes20HexRoundTrip() {
        let b = Bytes20((0..<20).map { UInt8($0 * 17 & 0xFF) })!
        #expect(Bytes20(hex: b.hex) == b)
        #expect(Bytes20(hex: b.hex.uppercased()) == b)
        #expect(Bytes20(hex: "zz") == nil)
        #expect(Bytes20([1, 2, 3]) == nil)
    }
}
