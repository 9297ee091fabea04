import PrivateCore
import Testing
import TrackerCore

private func key(_ n: Int) -> Passkey { Passkey(String(repeating: "a", count: 30) + (n < 10 ? "0\(n)" : "\(n)"))! }
private func hash(_ b: UInt8) -> InfoHash { InfoHash([UInt8](repeating: b, count: 20))! }

@Suite struct PasskeyTests {
    @Test func exactlyThirtyTwoBytes() {
        #expect(Passkey(String(repeating: "x", count: 31)) == nil)
        #expect(Passkey(String(repeating: "x", count: 33)) == nil)
        #expect(Passkey(String(repeating: "x", count: 32)) != nil)
        #expect(Passkey([UInt8](repeating: 0xFF, count: 32)) != nil)
    }

    @Test func comparesEveryByteExactly() {
        let a = Passkey("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01")!
        #expect(a == Passkey("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01")!)
        #expect(a != Passkey("Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01")!)
        #expect(a != Passkey("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa02")!)
        #expect(a.text == "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01")
    }

    @Test func neverPrintsItsBytes() {
        let a = Passkey("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01")!
        #expect("\(a)" == "<passkey>")
        #expect(String(reflecting: a) == "<passkey>")
        #expect(!"\([a])".contains("aaaa"))
    }

    @Test func constantTimeEqualIsEquality() {
        #expect(constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!constantTimeEqual(Array("".utf8), Array("a".utf8)))
        #expect(constantTimeEqual([UInt8](), [UInt8]()))
    }
}

@Suite struct RegistryTests {
    @Test func putUserKeysByPasskeyAndNewPasskeyRetiresTheOld() throws {
        var r = Registry()
        try r.apply(.putUser(PrivateUser(id: 1, groupID: 3, passkey: key(1)), replacing: nil))
        #expect(r.user(passkey: key(1))?.id == 1)
        try r.apply(.putUser(PrivateUser(id: 1, groupID: 3, passkey: key(2)), replacing: key(1)))
        #expect(r.user(passkey: key(1)) == nil)
        #expect(r.user(passkey: key(2))?.id == 1)
        #expect(r.counts.users == 1)
        #expect(r.counts.passkeys == 1)
    }

    @Test func replacingAnotherUsersPasskeyLeavesItAlone() throws {
        var r = Registry()
        try r.apply(.putUser(PrivateUser(id: 1, groupID: 3, passkey: key(1)), replacing: nil))
        try r.apply(.putUser(PrivateUser(id: 2, groupID: 3, passkey: key(2)), replacing: key(1)))
        #expect(r.user(passkey: key(1))?.id == 1)
    }

    @Test func deleteUserRemovesItAndThatPasskey() throws {
        var r = Registry()
        try r.apply(.putUser(PrivateUser(id: 1, groupID: 3, passkey: key(1)), replacing: nil))
        try r.apply(.deleteUser(id: 1, passkey: key(1)))
        #expect(r.user(passkey: key(1)) == nil)
        #expect(r.users[1] == nil)
        // Unknown ids are fine (UNIT3D-Announce answers 200).
        try r.apply(.deleteUser(id: 99, passkey: key(9)))
    }

    @Test func hybridTorrentIsFoundByEitherHash() throws {
        var r = Registry()
        try r.apply(.putTorrent(PrivateTorrent(id: 7, infoHash: hash(1), infoHashV2: hash(2))))
        #expect(r.torrent(hash: hash(1))?.id == 7)
        #expect(r.torrent(hash: hash(2))?.id == 7)
        // A new v1 hash retires the old one; the v2 hash stays.
        try r.apply(.putTorrent(PrivateTorrent(id: 7, infoHash: hash(3), infoHashV2: hash(2))))
        #expect(r.torrent(hash: hash(1)) == nil)
        #expect(r.torrent(hash: hash(3))?.id == 7)
        #expect(r.torrent(hash: hash(2))?.id == 7)
    }

    @Test func deletedTorrentStaysKnownAndUnknownIdIsRefused() throws {
        var r = Registry()
        try r.apply(.putTorrent(PrivateTorrent(id: 7, infoHash: hash(1))))
        try r.apply(.deleteTorrent(id: 7))
        #expect(r.torrent(hash: hash(1))?.isDeleted == true)
        var copy = r
        #expect(throws: RegistryChangeError.unknownTorrent(8)) { try copy.apply(.deleteTorrent(id: 8)) }
    }

    @Test func blacklistMatchesPrefixesOfAnyLength() throws {
        var r = Registry()
        let peer = PeerID(Array("-BC0100-123456789012".utf8))!
        #expect(!r.isBlacklisted(peer))
        try r.apply(.putBlacklistedAgent(prefix: Array("-BC01".utf8)))
        #expect(r.isBlacklisted(peer))
        #expect(!r.isBlacklisted(PeerID(Array("-qB5000-123456789012".utf8))!))
        try r.apply(.putBlacklistedAgent(prefix: Array("-qB".utf8)))
        #expect(r.isBlacklisted(PeerID(Array("-qB5000-123456789012".utf8))!))
        try r.apply(.deleteBlacklistedAgent(prefix: Array("-BC01".utf8)))
        #expect(!r.isBlacklisted(peer))
        // An empty prefix matches every client (as at UNIT3D-Announce).
        try r.apply(.putBlacklistedAgent(prefix: []))
        #expect(r.isBlacklisted(peer))
    }

    @Test func applyingAChangeTwiceIsApplyingItOnce() throws {
        let changes: [RegistryChange] = [
            .putUser(PrivateUser(id: 1, groupID: 3, passkey: key(1)), replacing: nil),
            .putUser(PrivateUser(id: 1, groupID: 3, passkey: key(2)), replacing: key(1)),
            .putTorrent(PrivateTorrent(id: 7, infoHash: hash(1))), .deleteTorrent(id: 7),
            .putGroup(PrivateGroup(id: 3, slug: "user")), .putFreeleechToken(UserTorrent(user: 1, torrent: 7)),
            .putPersonalFreeleech(user: 1), .putFeaturedTorrent(id: 7), .putBlacklistedAgent(prefix: [1, 2]),
        ]
        var once = Registry()
        var twice = Registry()
        for c in changes {
            try once.apply(c)
            try twice.apply(c)
            try twice.apply(c)
        }
        #expect(once.users == twice.users)
        #expect(once.passkeys == twice.passkeys)
        #expect(once.torrents == twice.torrents)
        #expect(once.hashes == twice.hashes)
        #expect(once.blacklistedAgents == twice.blacklistedAgents)
    }
}

@Suite struct ListRateTests {
    @Test func parsesUnit3dForm() {
        #expect(ListRateLimit.parse("60=10;900=25") == [ListRateLimit(window: 60, max: 10), ListRateLimit(window: 900, max: 25)])
        #expect(ListRateLimit.parse("60=10;") == [ListRateLimit(window: 60, max: 10)])
        #expect(ListRateLimit.parse("60") == nil)
        #expect(ListRateLimit.parse("60=-1") == nil)
        #expect(ListRateLimit.parse("a=1") == nil)
        #expect(ListRateLimit.defaultSeedLists.count == 5)
    }

    @Test func allowsTheMaximumInABurstThenRefuses() {
        let limits = [ListRateLimit(window: 60, max: 10)]
        var rate = ListRate(windows: 1, now: 0)
        for _ in 0..<10 {
            let allowed = rate.tick(limits, now: 0)
            #expect(allowed)
        }
        let eleventh = rate.tick(limits, now: 0)
        #expect(!eleventh)
    }

    @Test func decaysToTheMomentOfTheTest() {
        let limits = [ListRateLimit(window: 60, max: 10)]
        var rate = ListRate(windows: 1, now: 0)
        for _ in 0..<11 { _ = rate.tick(limits, now: 0) }
        // Five windows later the count is 11 * e^-5 = 0.07: allowed again.
        let later = rate.tick(limits, now: 300)
        #expect(later)
        #expect(rate.decayed(limits, to: 300)[0] > 1 && rate.decayed(limits, to: 300)[0] < 1.1)
    }

    @Test func everyWindowMustAllow() {
        let limits = [ListRateLimit(window: 1, max: 100), ListRateLimit(window: 1000, max: 3)]
        var rate = ListRate(windows: 2, now: 0)
        for t in 0..<3 {
            let allowed = rate.tick(limits, now: Double(t * 10))
            #expect(allowed)
        }
        // The short window has forgotten; the long one has not.
        let fourth = rate.tick(limits, now: 40)
        #expect(!fourth)
    }
}
