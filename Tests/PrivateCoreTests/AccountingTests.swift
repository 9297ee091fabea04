import PrivateCore
import Testing
import TrackerCore

private let window: UInt32 = 120

private func step(
    _ old: PeerBaseline?, _ up: UInt64, _ down: UInt64, left: UInt64 = 0, _ event: AnnounceEvent = .none, at now: UInt32
) -> CounterOutcome {
    Counters.step(old, uploaded: up, downloaded: down, left: left, event: event, now: now, window: window)
}

@Suite struct CounterRuleTests {
    @Test func aNewPeerCreditsNothingAndCountsWhereItLands() {
        let o = step(nil, 500, 700, left: 10, .started, at: 1000)
        #expect(o.step == .new && o.uploaded == 0 && o.downloaded == 0)
        #expect(o.baseline == PeerBaseline(uploaded: 500, downloaded: 700, at: 1000, seeder: false))
        #expect((o.seederDelta, o.leecherDelta) == (0, 1))
        #expect(!o.completed)
    }

    @Test func higherCountersCreditTheDifference() {
        let b = PeerBaseline(uploaded: 100, downloaded: 200, at: 1000, seeder: false)
        let o = step(b, 150, 260, left: 5, at: 2800)
        #expect(o.step == .advanced && o.uploaded == 50 && o.downloaded == 60)
        #expect(o.baseline.at == 2800 && o.baseline.uploaded == 150)
        #expect((o.seederDelta, o.leecherDelta) == (0, 0))
    }

    /// A dual-stack pair reordered: the IPv6 announce carrying older counters lands after the
    /// IPv4 one with newer counters. Every engine in use reads this as a restart and
    /// over-credits the next announce; the high-water mark credits nothing and keeps the mark.
    @Test func aLowerCounterInsideTheWindowIsStaleAndCreditsNothing() {
        let b = PeerBaseline(uploaded: 1000, downloaded: 0, at: 1000, seeder: true)
        let stale = step(b, 900, 0, at: 1002)
        #expect(stale.step == .stale && stale.uploaded == 0 && stale.baseline == b)
        let next = step(stale.baseline, 1100, 0, at: 2800)
        #expect(next.uploaded == 100, "the true 100 bytes, not 200 as after a reset to 900")
    }

    @Test func aLowerCounterIsARestartWithStartedOrAfterTheWindow() {
        let b = PeerBaseline(uploaded: 1000, downloaded: 500, at: 1000, seeder: false)
        let started = step(b, 0, 0, left: 5, .started, at: 1001)
        #expect(started.step == .restarted && started.uploaded == 0 && started.baseline.uploaded == 0)
        let late = step(b, 10, 600, left: 5, at: 1000 + window + 1)
        #expect(late.step == .restarted && late.uploaded == 0 && late.downloaded == 0 && late.baseline.uploaded == 10)
        // The bytes after the restart are credited from the new baseline.
        #expect(step(late.baseline, 40, 650, left: 5, at: 3000).uploaded == 30)
    }

    @Test func anAnnounceStampedBeforeTheBaselineIsNoGap() {
        // Another instance's clock one second ahead: no restart read from a "negative" gap.
        let b = PeerBaseline(uploaded: 1000, downloaded: 0, at: 5000, seeder: true)
        #expect(step(b, 900, 0, at: 4999).step == .stale)
    }

    @Test func completionIsALeecherBecomingASeederNotTheEvent() {
        let leech = PeerBaseline(uploaded: 0, downloaded: 0, at: 0, seeder: false)
        let done = step(leech, 0, 100, left: 0, .none, at: 10)
        #expect(done.completed && (done.seederDelta, done.leecherDelta) == (1, -1))
        #expect(!step(done.baseline, 0, 100, left: 0, .completed, at: 20).completed, "already a seeder")
        #expect(!step(nil, 0, 0, left: 0, .completed, at: 0).completed, "first seen seeding")
    }

    @Test func aStopLeavesTheCountsAndAReturnCountsAgain() {
        let b = PeerBaseline(uploaded: 0, downloaded: 0, at: 0, seeder: true)
        let stop = step(b, 10, 0, left: 0, .stopped, at: 100)
        #expect(stop.uploaded == 10 && !stop.baseline.active && (stop.seederDelta, stop.leecherDelta) == (-1, 0))
        let back = step(stop.baseline, 10, 0, left: 0, .none, at: 200)
        #expect(back.baseline.active && (back.seederDelta, back.leecherDelta) == (1, 0))
        // A dual-stack peer stopped on one family that goes on leeching over the other and then
        // seeds has completed (UNIT3D-Announce forgets a stopped peer and would not count it).
        let leechStop = step(PeerBaseline(uploaded: 0, downloaded: 0, at: 0, seeder: false), 0, 5, left: 5, .stopped, at: 1)
        #expect(step(leechStop.baseline, 0, 10, left: 0, at: 2).completed)
    }
}

@Suite struct FactorTests {
    func registry(_ changes: [RegistryChange] = []) throws -> Registry {
        var r = Registry()
        for c in changes { try r.apply(c) }
        return r
    }
    let user = PrivateUser(id: 1, groupID: 3, passkey: Passkey(String(repeating: "a", count: 32))!)
    let group = PrivateGroup(id: 3, slug: "user")
    let torrent = PrivateTorrent(id: 7, infoHash: InfoHash(Bytes20(Array(repeating: 7, count: 20))!), downloadFactor: 50)

    /// The contract's worked trace (§5.13): torrent 7 is 50 % free, nothing else applies.
    @Test func theWorkedTracesFactors() throws {
        let f = Factors(user: user, group: group, torrent: torrent, registry: try registry(), settings: FactorSettings())
        #expect(f == Factors(upload: 100, download: 50, immune: false))
        #expect(Factors.credit(1_048_576, percent: f.download) == 524_288)
    }

    @Test func theLargestUploadTheSmallestDownload() throws {
        var settings = FactorSettings()
        settings.upload = 150
        let g = PrivateGroup(id: 3, slug: "user", isImmune: true, isFreeleech: false, isDoubleUpload: true)
        let f = Factors(user: user, group: g, torrent: torrent, registry: try registry(), settings: settings)
        #expect(f == Factors(upload: 200, download: 50, immune: true))
        let free = PrivateGroup(id: 3, slug: "user", isFreeleech: true)
        #expect(Factors(user: user, group: free, torrent: torrent, registry: try registry(), settings: settings).download == 0)
    }

    @Test func donorOverridesLifetimeFirst() throws {
        var settings = FactorSettings()
        (settings.donorUpload, settings.donorDownload, settings.donorImmunity) = (120, 80, true)
        (settings.lifetimeUpload, settings.lifetimeDownload, settings.lifetimeImmunity) = (250, 0, false)
        var donor = user
        donor.isDonor = true
        let g = PrivateGroup(id: 3, slug: "user", isImmune: true)
        let t = PrivateTorrent(id: 7, infoHash: InfoHash(Bytes20(Array(repeating: 7, count: 20))!))
        #expect(
            Factors(user: donor, group: group, torrent: t, registry: try registry(), settings: settings)
                == Factors(upload: 120, download: 80, immune: true))
        var lifetime = donor
        lifetime.isLifetime = true
        #expect(
            Factors(user: lifetime, group: g, torrent: t, registry: try registry(), settings: settings)
                == Factors(upload: 250, download: 0, immune: false))
    }

    @Test func tokensPersonalFreeleechAndFeaturedTorrents() throws {
        let s = FactorSettings()
        let token = try registry([.putFreeleechToken(UserTorrent(user: 1, torrent: 7))])
        #expect(Factors(user: user, group: group, torrent: torrent, registry: token, settings: s).download == 0)
        #expect(
            Factors(user: user, group: group, torrent: torrent, registry: try registry([.putPersonalFreeleech(user: 1)]), settings: s)
                .download == 0)
        let doubled = PrivateGroup(id: 3, slug: "user", isDoubleUpload: true)
        var big = s
        big.upload = 250
        let featured = try registry([.putFeaturedTorrent(id: 7)])
        #expect(
            Factors(user: user, group: doubled, torrent: torrent, registry: featured, settings: big)
                == Factors(upload: 200, download: 0, immune: false), "featured is exactly 200 %, higher ones included")
    }

    @Test func creditFloorsAndNeverTraps() {
        #expect(Factors.credit(199, percent: 50) == 99)
        #expect(Factors.credit(UInt64.max, percent: 100) == UInt64.max)
        #expect(Factors.credit(UInt64.max, percent: 200) == UInt64.max)
        #expect(Factors.credit(UInt64.max, percent: 50) == UInt64.max / 2)
        #expect(Factors.credit(12_345, percent: 0) == 0)
    }
}

@Suite struct LedgerTests {
    let peer = PeerID(Bytes20(Array(repeating: 1, count: 20))!)

    @Test func historyMergesAsUNIT3DsQueueButKeepsTheFirstCompletion() {
        var a = HistoryUpdate(
            AccountEntry(
                user: 1, torrent: 7, peerID: peer, at: 100, agent: "A", clientUploaded: 10, left: 5, uploaded: 10, completedEvent: true))
        let b = HistoryUpdate(
            AccountEntry(user: 1, torrent: 7, peerID: peer, at: 200, agent: "B", clientUploaded: 30, left: 0, uploaded: 20, immune: true))
        a.merge(b)
        #expect(a.uploaded == 30 && a.clientUploaded == 30 && a.agent == "B" && a.seeder)
        #expect(a.createdAt == 100 && a.updatedAt == 200 && a.completedAt == 100 && !a.immune)
    }

    @Test func peersKeepTheStrictlyNewerAndTheEarliestCreation() {
        var a = PeerUpdate(AccountEntry(user: 1, torrent: 7, peerID: peer, at: 100, ip: [127, 0, 0, 1], port: 1))
        a.merge(PeerUpdate(AccountEntry(user: 1, torrent: 7, peerID: peer, at: 100, ip: Array(repeating: 0, count: 15) + [1], port: 2)))
        #expect(a.port == 1, "a tie keeps the older")
        a.merge(PeerUpdate(AccountEntry(user: 1, torrent: 7, peerID: peer, at: 90, port: 3)))
        #expect(a.port == 1 && a.createdAt == 90)
        a.merge(PeerUpdate(AccountEntry(user: 1, torrent: 7, peerID: peer, at: 101, port: 4)))
        #expect(a.port == 4 && a.createdAt == 90)
    }

    @Test func torrentsAndUsersAreQueuedOnlyWhenSomethingMoved() {
        var l = Ledger()
        l.add(AccountEntry(user: 1, torrent: 7, peerID: peer, at: 1))
        #expect(l.history.count == 1 && l.peers.count == 1 && l.torrents.isEmpty && l.users.isEmpty)
        l.add(
            AccountEntry(user: 1, torrent: 7, peerID: peer, at: 2, actualUploaded: 100, actualDownloaded: 30, uploaded: 200, seederDelta: 1)
        )
        l.add(AccountEntry(user: 1, torrent: 8, peerID: peer, at: 3, actualDownloaded: 50, downloaded: 25, completion: true))
        #expect(l.history.count == 2 && l.peers.count == 2 && l.torrents.count == 2 && l.users.count == 1)
        let torrents = Dictionary(uniqueKeysWithValues: l.torrents.pending)
        #expect(torrents[7]?.balance == 70 && torrents[7]?.seeders == 1 && torrents[8]?.timesCompleted == 1 && torrents[8]?.balance == -50)
        #expect(l.users.pending.first?.1 == UserUpdate(user: 1, uploaded: 200, downloaded: 25))
    }

    @Test func aQueueTakesOldestFirstAndAFailedBatchGoesBackMergedInFront() {
        struct Sum: Mergeable, Equatable {
            var n: Int
            mutating func merge(_ newer: Sum) { n += newer.n }
        }
        var q = KeyedQueue<Int, Sum>()
        for k in [3, 1, 2, 1] { q.add(k, Sum(n: 10)) }
        #expect(q.pending.map(\.0) == [3, 1, 2] && q.pending.map(\.1.n) == [10, 20, 10])
        let batch = q.take(2)
        #expect(batch.map(\.0) == [3, 1] && q.count == 1)
        q.add(1, Sum(n: 5))
        q.putBack(batch)
        #expect(q.pending.map(\.0) == [3, 1, 2] && q.pending.map(\.1.n) == [10, 25, 10], "nothing lost, nothing doubled")
        #expect(q.take(10).count == 3 && q.isEmpty)
    }
}

/// The counter rule over generated announce traces of one client: dual-stack pairs (the second
/// sometimes carrying an older snapshot, delivered inside the window), same-address
/// duplicates, a hybrid torrent's second hash (the same counters again), a stop on one family,
/// restarts with reset counters (announced `started`, as clients do), and returns after long
/// silences. Credited bytes must equal what the client really moved between the announces the
/// tracker saw (the bytes of a session after its last announce are the lost counters), and the
/// client's one completion must be counted once.
@Suite struct CounterTraceTests {
    struct Client {
        var uploaded: UInt64 = 0
        var downloaded: UInt64 = 0
        var left: UInt64
        var now: UInt32 = 1_000_000
    }

    @Test(arguments: 0..<400) func creditedEqualsTheTrueBytes(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1)
        let size = UInt64.random(in: 1...1 << 30, using: &rng)
        var c = Client(left: Bool.random(using: &rng) ? 0 : size)
        // The client may start with counters from an earlier session: not ours to credit.
        c.uploaded = Bool.random(using: &rng) ? UInt64.random(in: 0...1 << 20, using: &rng) : 0
        var baseline: PeerBaseline? = nil
        var credited: (up: UInt64, down: UInt64) = (0, 0)
        var truth: (up: UInt64, down: UInt64) = (0, 0)
        // The highest counters the tracker has seen in this session (from the session's start).
        var sessionSeen: (up: UInt64, down: UInt64)? = nil
        var sessionBase: (up: UInt64, down: UInt64) = (c.uploaded, c.downloaded)
        var completions = 0
        let startedLeeching = c.left > 0
        var trace: [String] = []

        func deliver(_ up: UInt64, _ down: UInt64, left: UInt64, _ event: AnnounceEvent, at: UInt32) {
            let o = Counters.step(baseline, uploaded: up, downloaded: down, left: left, event: event, now: at, window: window)
            trace.append(
                "\(event.rawValue.isEmpty ? "-" : event.rawValue) \(up)/\(down)/\(left) @\(at) -> \(o.step) +\(o.uploaded)/\(o.downloaded)")
            credited = (credited.up + o.uploaded, credited.down + o.downloaded)
            if o.completed { completions += 1 }
            baseline = o.baseline
            if o.step != .stale {
                let seen = sessionSeen ?? (0, 0)
                sessionSeen = (max(seen.up, up), max(seen.down, down))
            }
        }
        /// An announce over both families: the second a moment later, maybe with the older
        /// snapshot (reordered), maybe the same bytes again (a duplicate or the other hash).
        func announce(_ event: AnnounceEvent) {
            let before = (c.uploaded, c.downloaded, c.left)
            // A little traffic between the two snapshots of a pair.
            if c.left > 0, Bool.random(using: &rng) {
                let d = min(c.left, UInt64.random(in: 0...1 << 16, using: &rng))
                (c.downloaded, c.left) = (c.downloaded + d, c.left - d)
            }
            c.uploaded += UInt64.random(in: 0...1 << 12, using: &rng)
            let after = (c.uploaded, c.downloaded, c.left)
            let lag = UInt32.random(in: 0...5, using: &rng)
            // A client announces `started` as it starts, before any traffic: that one is first.
            switch event == .started ? 0 : UInt8.random(in: 0..<4, using: &rng) {
            case 0:  // in order: older then newer
                deliver(before.0, before.1, left: before.2, event, at: c.now)
                deliver(after.0, after.1, left: after.2, event, at: c.now + lag)
            case 1:  // reordered inside the window
                deliver(after.0, after.1, left: after.2, event, at: c.now)
                deliver(before.0, before.1, left: before.2, event, at: c.now + lag)
            case 2:  // one family only
                deliver(after.0, after.1, left: after.2, event, at: c.now)
            default:  // a duplicate of the same announce (same address, or the other hash)
                deliver(after.0, after.1, left: after.2, event, at: c.now)
                deliver(after.0, after.1, left: after.2, event, at: c.now + lag)
            }
        }

        announce(.started)
        for _ in 0..<Int.random(in: 1...30, using: &rng) {
            // Traffic until the next announce: upload, and download while leeching.
            c.uploaded += UInt64.random(in: 0...1 << 24, using: &rng)
            if c.left > 0 {
                let d = min(c.left, UInt64.random(in: 0...size / 4 + 1, using: &rng))
                (c.downloaded, c.left) = (c.downloaded + d, c.left - d)
            }
            switch UInt8.random(in: 0..<10, using: &rng) {
            case 0:
                // A crash and restart: the bytes since the last announce are lost, the counters
                // start again from zero, and the client says `started`.
                let seen = sessionSeen ?? (0, 0)
                truth = (truth.up + seen.up - min(seen.up, sessionBase.up), truth.down + seen.down - min(seen.down, sessionBase.down))
                (c.uploaded, c.downloaded, sessionSeen, sessionBase) = (0, 0, nil, (0, 0))
                c.now += UInt32.random(in: 1...600, using: &rng)
                announce(.started)
            case 1:
                // A stop on one family, then announces go on.
                c.now += UInt32.random(in: 60...1800, using: &rng)
                deliver(c.uploaded, c.downloaded, left: c.left, .stopped, at: c.now)
            case 2:
                // A long silence (past expiry), then the client returns where it was.
                c.now += UInt32.random(in: 7200...200_000, using: &rng)
                announce(.none)
            default:
                c.now += UInt32.random(in: 1800...2400, using: &rng)
                announce(c.left == 0 && Bool.random(using: &rng) ? .completed : .none)
            }
        }
        let seen = sessionSeen ?? (0, 0)
        truth = (truth.up + seen.up - min(seen.up, sessionBase.up), truth.down + seen.down - min(seen.down, sessionBase.down))
        #expect(credited.up == truth.up, "\(trace.joined(separator: "\n"))")
        #expect(credited.down == truth.down, "\(trace.joined(separator: "\n"))")
        let finished = startedLeeching && c.left == 0
        #expect(completions == (finished ? 1 : 0), "\(trace.joined(separator: "\n"))")
    }
}

extension LedgerTests {
    @Test func peerRowsStopAtTheirBoundButCreditsDoNot() {
        var l = Ledger()
        for n in 0..<10 {
            let id = PeerID(Bytes20(Array(repeating: UInt8(n), count: 20))!)
            l.add(AccountEntry(user: 1, torrent: 7, peerID: id, at: UInt32(n), actualUploaded: 5, uploaded: 5), maxPeerRows: 4)
        }
        #expect(l.peers.count == 4 && l.skippedPeerRows == 6)
        #expect(l.history.pending.first?.1.uploaded == 50 && l.users.pending.first?.1.uploaded == 50)
        // A pending peer's later announce still updates its row.
        let first = PeerID(Bytes20(Array(repeating: 0, count: 20))!)
        l.add(AccountEntry(user: 1, torrent: 7, peerID: first, at: 99, port: 9), maxPeerRows: 4)
        #expect(l.peers.pending.first?.1.port == 9 && l.skippedPeerRows == 6)
    }
}

/// The accounting table: a (user, torrent)'s peers, its one completion, its bound.
@Suite struct AccountTableTests {
    func pid(_ n: UInt8) -> PeerID { PeerID(Bytes20(Array(repeating: n, count: 20))!) }

    func step(
        _ a: inout TorrentAccount, _ peer: UInt8, up: UInt64, left: UInt64 = 1, _ event: AnnounceEvent = .none, at now: UInt32,
        maxPeers: Int = 3
    ) -> TorrentAccount.Step {
        a.step(
            peerID: pid(peer), uploaded: up, downloaded: 0, left: left, event: event, now: now, window: window, activeTTL: 7200,
            maxPeers: maxPeers)
    }

    @Test func aCompletionCountsOncePerUserAndTorrentWhateverThePeers() {
        var a = TorrentAccount()
        _ = step(&a, 1, up: 0, at: 0)
        _ = step(&a, 2, up: 0, at: 0)
        #expect(step(&a, 1, up: 0, left: 0, at: 100).completion)
        #expect(!step(&a, 2, up: 0, left: 0, at: 200).completion, "the user's second client completing is not a second download")
        _ = step(&a, 1, up: 0, left: 5, .started, at: 300)
        #expect(!step(&a, 1, up: 0, left: 0, at: 400).completion)
    }

    @Test func historyStaysActiveWhileAnotherPeerIs() {
        var a = TorrentAccount()
        _ = step(&a, 1, up: 0, at: 0)
        _ = step(&a, 2, up: 0, at: 10)
        #expect(step(&a, 1, up: 0, .stopped, at: 20).historyActive, "peer 2 announced 10 s ago")
        #expect(!step(&a, 2, up: 0, .stopped, at: 30).historyActive)
        _ = step(&a, 3, up: 0, at: 40)
        #expect(!step(&a, 4, up: 0, .stopped, at: 40 + 7200).historyActive, "peer 3 is past the active TTL")
    }

    @Test func rotatedPeerIDsReplaceTheUsersOwnStalestStoppedFirst() {
        var a = TorrentAccount()
        _ = step(&a, 1, up: 100, at: 0)
        _ = step(&a, 2, up: 100, at: 10)
        _ = step(&a, 2, up: 100, .stopped, at: 20)
        _ = step(&a, 3, up: 100, at: 30)
        _ = step(&a, 4, up: 100, at: 40)
        #expect(a.peers.map(\.peerID) == [pid(1), pid(3), pid(4)], "the stopped peer went first")
        _ = step(&a, 5, up: 100, at: 50)
        #expect(a.peers.map(\.peerID) == [pid(3), pid(4), pid(5)], "then the stalest")
        #expect(step(&a, 4, up: 150, at: 60).outcome.uploaded == 50, "a held peer keeps its baseline")
    }

    @Test func aFullTableHoldsNoNewPairAndNeverPushesOneOut() {
        var t = AccountTable(capacity: 2, ttl: 1000)
        func announce(_ user: UInt32, at now: UInt32, up: UInt64 = 0) -> TorrentAccount.Step? {
            t.step(
                UserTorrent(user: user, torrent: 1), peerID: pid(1), uploaded: up, downloaded: 0, left: 1, event: .none, now: now,
                window: window, activeTTL: 7200, maxPeers: 3)
        }
        #expect(announce(1, at: 0) != nil && announce(2, at: 0) != nil)
        #expect(announce(3, at: 10) == nil && t.refused == 1 && t.count == 2)
        #expect(announce(1, at: 20, up: 40)?.outcome.uploaded == 40, "a held pair is still credited")
        // Past the TTL, room is made by dropping what has expired (user 2).
        #expect(announce(3, at: 1500) != nil && t.account(UserTorrent(user: 2, torrent: 1)) == nil)
    }

    @Test func restoredBaselinesAreCreditedFrom() {
        var t = AccountTable(capacity: 10, ttl: 1000)
        let key = UserTorrent(user: 1, torrent: 1)
        t.restore(
            key, peerID: pid(1), baseline: PeerBaseline(uploaded: 100, downloaded: 0, at: 5, seeder: false), completed: true, maxPeers: 3)
        t.restore(
            key, peerID: pid(1), baseline: PeerBaseline(uploaded: 50, downloaded: 0, at: 4, seeder: false), completed: false, maxPeers: 3)
        let s = t.step(
            key, peerID: pid(1), uploaded: 130, downloaded: 0, left: 0, event: .none, now: 10, window: window, activeTTL: 7200, maxPeers: 3)
        #expect(s?.outcome.uploaded == 30, "the newer restore wins")
        #expect(s?.completion == false, "a restored completion is not counted again")
    }
}

/// The journal's record format.
@Suite struct JournalRecordTests {
    let entry = AccountEntry(
        user: 7, torrent: 9, peerID: PeerID(Bytes20(Array(0..<20))!), at: 1_767_225_600, agent: "qBittorrent/5.0.0",
        ip: Array(repeating: 0x20, count: 16), port: 51413, clientUploaded: .max, clientDownloaded: 3, left: 0, actualUploaded: 4,
        actualDownloaded: 5, uploaded: 8, downloaded: 2, active: false, peerActive: true, visible: true, immune: true,
        completedEvent: true, completion: false, seederDelta: -1, leecherDelta: 1)

    @Test func recordsReadBackAndACutTailIsLeftOut() {
        var bytes: [UInt8] = []
        JournalRecord.encode(entry, sequence: 41, into: &bytes)
        JournalRecord.encode(AccountEntry(user: 1, torrent: 2, peerID: entry.peerID, at: 3), sequence: 42, into: &bytes)
        let whole = bytes.count
        let (records, used) = JournalRecord.decodeAll(bytes)
        #expect(records.count == 2 && used == whole)
        #expect(records[0].sequence == 41 && records[0].entry == entry && records[1].sequence == 42)
        for cut in 1..<(whole - used + 40) {
            let r = JournalRecord.decodeAll(Array(bytes.dropLast(cut)))
            #expect(r.records.count == 1 && r.records[0].entry == entry, "cut \(cut)")
        }
        var damaged = bytes
        damaged[10] ^= 1
        #expect(JournalRecord.decodeAll(damaged).records.isEmpty, "a damaged record stops the read")
    }

    /// Intents (Redis steps journalled before they are taken) and entries carrying their
    /// intent's token read back in order; entries alone skip the intents.
    @Test func intentsAndTokenedEntriesReadBack() {
        let intents = AnnounceEvent.allCases.enumerated().map { n, event in
            AccountIntent(
                token: UInt64(n) << 40 | 7, user: 7, torrent: UInt32(n), peerID: entry.peerID, at: 1_767_225_600 + UInt32(n),
                agent: Array("Transmission/4.0.5 ✓".utf8), ip: n % 2 == 0 ? [10, 0, 0, 1] : Array(repeating: 0xFE, count: 16),
                port: 6881, uploaded: .max, downloaded: UInt64(n), left: n % 2 == 0 ? 0 : 5, event: event,
                factors: Factors(upload: 200, download: UInt8(n * 25), immune: n % 2 == 1), visible: n % 3 != 0)
        }
        var bytes: [UInt8] = []
        JournalRecord.encode(intents[0], into: &bytes)
        JournalRecord.encode(entry, sequence: 41, token: intents[0].token, into: &bytes)
        for i in intents.dropFirst() { JournalRecord.encode(i, into: &bytes) }
        JournalRecord.encode(entry, sequence: 42, into: &bytes)
        let (items, used) = JournalRecord.decodeItems(bytes)
        #expect(used == bytes.count)
        let expected: [JournalRecord.Item] =
            [.intent(intents[0]), .entry(sequence: 41, entry: entry, token: intents[0].token)] + intents.dropFirst().map { .intent($0) }
            + [.entry(sequence: 42, entry: entry, token: nil)]
        #expect(items == expected)
        #expect(JournalRecord.decodeAll(bytes).records.map(\.sequence) == [41, 42])
        // A cut intent stops the read as a cut entry does.
        let cut = JournalRecord.decodeItems(Array(bytes.dropLast(bytes.count - used + 1)))
        #expect(cut.items.count == expected.count - 1)
    }
}

@Suite struct JournalFoldTests {
    /// Entries over a few users, torrents and peers: times that stay, step or (rarely) go back,
    /// every flag, counters up to the top of their range, both address families.
    static func entries(_ rng: inout SplitMix64, count: Int) -> [AccountEntry] {
        var at: UInt32 = 1_767_225_600
        return (0..<count).map { _ in
            at = at &+ [0, 0, 1, 30, 1800].randomElement(using: &rng)! &- (Int.random(in: 0..<20, using: &rng) == 0 ? 5 : 0)
            func big() -> UInt64 {
                Bool.random(using: &rng) ? UInt64.random(in: 0...1 << 40, using: &rng) : .random(in: 0 ... .max, using: &rng)
            }
            func flag() -> Bool { Bool.random(using: &rng) }
            let peer = UInt8.random(in: 0..<4, using: &rng)
            return AccountEntry(
                user: .random(in: 1...3, using: &rng), torrent: .random(in: 1...3, using: &rng),
                peerID: PeerID(Bytes20(Array(repeating: peer, count: 20))!), at: at, agent: flag() ? "qBittorrent/5.0.0" : "",
                ip: flag() ? [10, 0, 0, peer] : Array(repeating: peer, count: 16), port: .random(in: 1...65535, using: &rng),
                clientUploaded: big(), clientDownloaded: big(), left: flag() ? 0 : big(), actualUploaded: big(), actualDownloaded: big(),
                uploaded: big(), downloaded: big(), active: flag(), peerActive: flag(), visible: flag(), immune: flag(),
                completedEvent: flag(), completion: Int.random(in: 0..<8, using: &rng) == 0,
                seederDelta: .random(in: -1...1, using: &rng), leecherDelta: .random(in: -1...1, using: &rng))
        }
    }

    /// What a replay leaves: the ledger's pending rows and every account the restores made.
    struct Replayed: Equatable {
        var history: [HistoryUpdate]
        var peers: [PeerUpdate]
        var torrents: [TorrentUpdate]
        var users: [UserUpdate]
        var accounts: [TorrentAccount?]
    }

    static func replayed(_ ledger: Ledger, _ table: AccountTable) -> Replayed {
        let keys = (1...3).flatMap { u in (1...3).map { UserTorrent(user: UInt32(u), torrent: UInt32($0)) } }
        return Replayed(
            history: ledger.history.pending.map(\.1), peers: ledger.peers.pending.map(\.1), torrents: ledger.torrents.pending.map(\.1),
            users: ledger.users.pending.map(\.1), accounts: keys.map { table.account($0) })
    }

    /// Replaying a compact file of the first entries (itself folded from an earlier compact
    /// file) and then the rest leaves the ledger and the baselines that replaying every entry
    /// does; a tight account table (two peers) and a peer-row bound are part of it.
    @Test(arguments: 0..<300) func aCompactFileThenTheRestReplaysAsEveryEntry(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &* 0x2545_F491_4F6C_DD1D &+ 7)
        let all = Self.entries(&rng, count: .random(in: 1...60, using: &rng))
        let maxPeerRows = Bool.random(using: &rng) ? .max : 5
        let cut1 = Int.random(in: 0...all.count, using: &rng)
        let cut2 = Int.random(in: cut1...all.count, using: &rng)

        var whole = Ledger()
        var wholeTable = AccountTable(capacity: 8, ttl: 1_814_400)
        for e in all {
            whole.add(e, maxPeerRows: maxPeerRows)
            let b = RestoredBaseline(e)
            wholeTable.restore(b.key, peerID: b.peerID, baseline: b.baseline, completed: b.completed, maxPeers: 2)
        }

        var fold = JournalFold(maxPeerRows: maxPeerRows)
        for (i, e) in all[..<cut1].enumerated() { fold.add(e, sequence: UInt64(i + 1)) }
        fold = try #require(JournalFold.decode(fold.encode(), maxPeerRows: maxPeerRows))
        for (i, e) in all[cut1..<cut2].enumerated() { fold.add(e, sequence: UInt64(cut1 + i + 1)) }
        let bytes = fold.encode()
        let read = try #require(JournalFold.decode(bytes, maxPeerRows: maxPeerRows))
        #expect(read.first == (cut2 > 0 ? 1 : nil) && read.last == (cut2 > 0 ? UInt64(cut2) : nil))
        #expect(read.oldest == all[..<cut2].map(\.at).min())

        var ledger = read.ledger
        var table = AccountTable(capacity: 8, ttl: 1_814_400)
        for b in read.baselines { table.restore(b.key, peerID: b.peerID, baseline: b.baseline, completed: b.completed, maxPeers: 2) }
        for e in all[cut2...] {
            ledger.add(e, maxPeerRows: maxPeerRows)
            let b = RestoredBaseline(e)
            table.restore(b.key, peerID: b.peerID, baseline: b.baseline, completed: b.completed, maxPeers: 2)
        }
        #expect(Self.replayed(ledger, table) == Self.replayed(whole, wholeTable), "seed \(seed), cuts \(cut1) \(cut2)")
    }

    /// A compact file is read only whole: cut anywhere, or one byte changed, it is refused.
    @Test func aCompactFileCutOrDamagedIsRefused() throws {
        var rng = SplitMix64(seed: 99)
        var fold = JournalFold()
        for (i, e) in Self.entries(&rng, count: 20).enumerated() { fold.add(e, sequence: UInt64(i + 1)) }
        let bytes = fold.encode()
        #expect(JournalFold.decode(bytes) != nil)
        for cut in 1..<bytes.count { #expect(JournalFold.decode(Array(bytes.dropLast(cut))) == nil, "cut \(cut)") }
        for at in stride(from: 0, to: bytes.count, by: 7) {
            var damaged = bytes
            damaged[at] ^= 0x10
            #expect(JournalFold.decode(damaged) == nil, "byte \(at)")
        }
    }
}
