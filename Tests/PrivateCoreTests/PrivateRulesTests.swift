import PrivateCore
import Testing
import TrackerCore

/// The check order and texts of `unit3d-contract.md` §1.5, against a registry shaped like the
/// fixture's `seed-minimal.sql`.
@Suite struct PrivateRulesTests {
    static func key(_ n: Int) -> [UInt8] { Array((String(repeating: "a", count: 30) + (n < 10 ? "0\(n)" : "\(n)")).utf8) }
    static func hash(_ b: UInt8) -> InfoHash { InfoHash([UInt8](repeating: b, count: 20))! }

    static let registry: Registry = {
        var r = Registry()
        let changes: [RegistryChange] = [
            .putGroup(PrivateGroup(id: 3, slug: "user")),
            .putGroup(PrivateGroup(id: 5, slug: "banned")),
            .putGroup(PrivateGroup(id: 15, slug: "leech", downloadSlots: 1)),
            .putUser(PrivateUser(id: 1, groupID: 3, passkey: Passkey(key(1))!), replacing: nil),
            .putUser(PrivateUser(id: 4, groupID: 3, passkey: Passkey(key(4))!, canDownload: false), replacing: nil),
            .putUser(PrivateUser(id: 8, groupID: 5, passkey: Passkey(key(8))!), replacing: nil),
            .putUser(PrivateUser(id: 11, groupID: 99, passkey: Passkey(key(11))!), replacing: nil),
            .putTorrent(PrivateTorrent(id: 1, infoHash: hash(1))),
            .putTorrent(PrivateTorrent(id: 2, status: .pending, infoHash: hash(2))),
            .putTorrent(PrivateTorrent(id: 3, status: .rejected, infoHash: hash(3))),
            .putTorrent(PrivateTorrent(id: 4, status: .postponed, infoHash: hash(4))),
            .putTorrent(PrivateTorrent(id: 5, isDeleted: true, infoHash: hash(5))),
            .putTorrent(PrivateTorrent(id: 6, status: .unknown, infoHash: hash(6))),
            .putTorrent(PrivateTorrent(id: 9, infoHash: hash(9))),
            .putBlacklistedAgent(prefix: Array("-BC01".utf8)),
            .putFreeleechToken(UserTorrent(user: 1, torrent: 1)),
            .putFeaturedTorrent(id: 9),
        ]
        for c in changes { try! r.apply(c) }
        return r
    }()

    func verdict(
        torrent: UInt8 = 1, passkey: [UInt8] = key(1), peer: String = "-qB5000-000000000001", port: UInt16 = 51413, left: UInt64 = 1,
        event: AnnounceEvent = .none, agent: String? = "qBittorrent/5.0.0", browserHeaders: Bool = false,
        settings: PrivateRuleSettings = .init()
    ) -> PrivateVerdict {
        let request = AnnounceRequest(
            infoHash: Self.hash(torrent), peerID: PeerID(Array(peer.utf8))!, port: port, left: left, event: event)
        let facts = PrivateAnnounceFacts(passkey: passkey, userAgent: agent.map { Array($0.utf8) }, hasBrowserHeaders: browserHeaders)
        return PrivateRules.check(request, facts: facts, registry: Self.registry, settings: settings)
    }

    func refusal(_ v: PrivateVerdict) -> String? {
        if case .refused(let text) = v { return text }
        return nil
    }

    @Test func admitsAKnownUserOnAnApprovedTorrent() throws {
        guard case .admitted(let a) = verdict() else {
            Issue.record("refused: \(verdict())")
            return
        }
        #expect(a.user.id == 1)
        #expect(a.group.slug == "user")
        #expect(a.torrent.id == 1)
        #expect(a.hasFreeleechToken)
        #expect(!a.hasPersonalFreeleech)
        #expect(!a.isFeatured)
        guard case .admitted(let f) = verdict(torrent: 9) else { return }
        #expect(f.isFeatured && !f.hasFreeleechToken)
    }

    @Test func headerHeuristicsAreASetting() {
        #expect(refusal(verdict(browserHeaders: true)) == "Abnormal access blocked.")
        #expect(refusal(verdict(agent: "Mozilla/5.0 (X11; Linux x86_64)")) == "Browser, crawler or cheater is not allowed.")
        #expect(refusal(verdict(agent: "Googlebot/2.1")) == "Browser, crawler or cheater is not allowed.")
        let off = PrivateRuleSettings(headerHeuristics: false)
        #expect(refusal(verdict(browserHeaders: true, settings: off)) == nil)
        #expect(refusal(verdict(agent: "Mozilla/5.0", settings: off)) == nil)
        // aria2's user agent passes (and its want-digest header is not a browser header).
        #expect(refusal(verdict(agent: "aria2/1.36.0")) == nil)
    }

    /// The one-pass search finds a word wherever a plain lower-cased substring search does, and
    /// nowhere else: agents built of the words, their prefixes and near misses in both cases.
    @Test func browserWordsAreFoundAnywhereInAnyCase() {
        let words = ["mozilla", "browser", "chrome", "safari", "applewebkit", "opera", "links", "lynx", "bot", "unknown"]
        let parts =
            words + words.map { String($0.dropLast()) } + ["qBittorrent/", "5.0", " ", "(", "libtorrent", "b", "o", "l", "aria2", "/"]
        var rng = SplitMix(seed: 7)
        var found = 0
        for _ in 0..<3000 {
            var agent = ""
            while agent.count < 40 {
                var part = parts[Int(rng.next() % UInt64(parts.count))]
                if rng.next() % 3 == 0 {
                    part = part.uppercased()
                } else if rng.next() % 3 == 0 {
                    part = part.prefix(1).uppercased() + part.dropFirst()
                }
                agent += part
                if rng.next() % 4 == 0 { break }
            }
            agent = String(agent.prefix(64))
            let expected = words.contains { agent.lowercased().contains($0) }
            if expected { found += 1 }
            #expect((refusal(verdict(agent: agent)) == "Browser, crawler or cheater is not allowed.") == expected, "\(agent)")
        }
        // Both answers were exercised.
        #expect(found > 300 && found < 2700)
    }

    @Test func userAgentRules() {
        #expect(refusal(verdict(agent: nil)) == "Invalid user agent.")
        #expect(refusal(verdict(agent: "caf\u{e9}")) == "Invalid user agent.")
        #expect(refusal(verdict(agent: String(repeating: "q", count: 65))) == "The user agent of this client is too long.")
        #expect(refusal(verdict(agent: String(repeating: "q", count: 64))) == nil)
    }

    @Test func blacklistedClientAndPorts() {
        #expect(refusal(verdict(peer: "-BC0100-000000000001")) == "Client is not acceptable. Please check our blacklist.")
        #expect(refusal(verdict(port: 80)) == "Illegal port: 80. Port should be between 6881-64999.")
        #expect(refusal(verdict(port: 8080)) == "Illegal port: 8080. Port should be between 6881-64999.")
        // A stop from a blocked port is let through, so the peer can leave.
        #expect(refusal(verdict(port: 80, event: .stopped)) == nil)
    }

    @Test func passkeyAndTorrentRulesInOrder() {
        #expect(refusal(verdict(passkey: Array("short".utf8))) == "Invalid passkey.")
        #expect(refusal(verdict(torrent: 0x42)) == "InfoHash not found.")
        // An unknown info_hash is reported before an unknown passkey.
        #expect(refusal(verdict(torrent: 0x42, passkey: Self.key(77))) == "InfoHash not found.")
        #expect(refusal(verdict(torrent: 5)) == "Torrent has been deleted.")
        #expect(verdict(torrent: 2) == .warned("Torrent is pending moderation.", interval: 30))
        #expect(verdict(torrent: 3) == .warned("Torrent has been rejected.", interval: 30))
        #expect(verdict(torrent: 4) == .warned("Torrent has been postponed.", interval: 30))
        // A wrong 32-byte passkey on a pending torrent gets the pending warning.
        #expect(verdict(torrent: 2, passkey: Self.key(77)) == .warned("Torrent is pending moderation.", interval: 30))
        #expect(refusal(verdict(torrent: 6)) == "Torrent not approved.")
        #expect(refusal(verdict(passkey: Self.key(77))) == "Passkey does not exist. Please re-download the .torrent file.")
    }

    @Test func userAndGroupRules() {
        #expect(refusal(verdict(passkey: Self.key(4))) == "Your downloading privileges have been disabled.")
        // A user who may not download may still seed.
        #expect(refusal(verdict(passkey: Self.key(4), left: 0)) == nil)
        #expect(refusal(verdict(passkey: Self.key(11))) == "Group not found.")
        #expect(refusal(verdict(passkey: Self.key(8))) == "Your account is not enabled. (Current: banned).")
    }

    @Test func aDeletedGroupOrUserIsNamed() throws {
        let request = AnnounceRequest(infoHash: Self.hash(1), peerID: PeerID(Array("-qB5000-000000000001".utf8))!, port: 51413, left: 1)
        let facts = PrivateAnnounceFacts(passkey: Self.key(1), userAgent: Array("qBittorrent/5.0.0".utf8))
        var r = Self.registry
        try r.apply(.deleteGroup(id: 3))
        #expect(PrivateRules.check(request, facts: facts, registry: r, settings: .init()) == .refused("Group not found."))
        // The site deletes the user under another passkey: this one still maps to the id.
        r = Self.registry
        try r.apply(.deleteUser(id: 1, passkey: Passkey(Self.key(2))!))
        #expect(
            PrivateRules.check(request, facts: facts, registry: r, settings: .init())
                == .refused("User does not exist. Please re-download the .torrent file."))
    }
}

/// A seeded generator, so a failing agent can be found again.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
