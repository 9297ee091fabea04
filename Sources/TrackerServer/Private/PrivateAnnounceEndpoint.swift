import Foundation
import Logging
import NIOCore
import PrivateCore
import TrackerCore
import TrackerProtocol

/// A private announce: HTTPS required, the query parsed, UNIT3D-Announce's rules against the
/// registry, the store under the user's identity and quotas, then the rules that need the
/// store's answer (unknown stopped peer, minimum interval, peer-list rates). Every refusal is
/// bencoded with UNIT3D-Announce's texts and intervals.
struct PrivateAnnounceEndpoint: Sendable {
    let tracker: PrivateTracker
    let open: AnnounceEndpoint
    let clock: any TrackerClock

    init(tracker: PrivateTracker, open: AnnounceEndpoint, clock: any TrackerClock = SystemTrackerClock()) {
        (self.tracker, self.open, self.clock) = (tracker, open, clock)
    }

    static func refusal(_ text: String, interval: Int = PrivateTexts.failureInterval) -> HTTPReply {
        var w = BencodeWriter(capacity: 64 + text.utf8.count)
        ResponseEncoding.failure(text, interval: interval, into: &w)
        var r = HTTPReply.bencoded(w)
        r.outcome = .failure
        return r
    }

    static func warning(_ text: String, interval: Int) -> HTTPReply {
        var w = BencodeWriter(capacity: 128 + text.utf8.count)
        ResponseEncoding.warning(text, interval: interval, into: &w)
        var r = HTTPReply.bencoded(w)
        r.outcome = .failure
        return r
    }

    /// `current`: the configuration the router read for this request.
    func serve(
        passkey: [UInt8], _ head: HTTPRequestHead, from remote: PeerAddress, transport: Transport, in current: LiveConfig.Current,
        respond: @escaping @Sendable (HTTPReply) -> Void
    ) {
        let settings = tracker.settings
        let (policy, announceSettings) = (current.policy, current.config.announce)
        if settings.requireHTTPS, transport == .http { return respond(Self.refusal(PrivateTexts.httpsRequired)) }
        let request: AnnounceRequest
        do {
            request = try head.query.withUnsafeBytes { (raw) throws(TrackerFailure) in try AnnounceParser.parse(query: raw) }
        } catch {
            return respond(Self.refusal((error as? TrackerFailure)?.reason ?? "malformed query"))
        }
        let facts = PrivateAnnounceFacts(passkey: passkey, userAgent: head.userAgent, hasBrowserHeaders: head.hasBrowserHeaders)
        let admission: PrivateAdmission
        let logger = open.logger
        let (verdict, factors) = tracker.check(request, facts: facts)
        switch verdict {
        case .refused(let text):
            logger.debug(
                "private announce refused", metadata: ["info_hash": "\(request.infoHash)", "from": "\(remote)", "reason": "\(text)"])
            return respond(Self.refusal(text))
        case .warned(let text, let interval):
            logger.debug(
                "private announce refused", metadata: ["info_hash": "\(request.infoHash)", "from": "\(remote)", "reason": "\(text)"])
            return respond(Self.warning(text, interval: interval))
        case .admitted(let a): admission = a
        }
        let now = clock.now()
        let leeching = request.left > 0 && request.event != .stopped
        var verb = AnnounceLogic.storeVerb(for: request, from: remote, policy: policy)
        verb.user = admission.user.id
        verb.quota = SourceQuota(
            peersPerTorrent: announceSettings.quotaExempt.covers(remote) ? 0 : announceSettings.maxPeersPerSource, mayCreateTorrent: true,
            peersPerUser: settings.maxPeersPerUser,
            // A leeching torrent counts against a user's download slots for one peer TTL.
            mayAddPeer: !leeching || tracker.mayAddLeecher(admission, now: now, ttl: UInt32(clamping: policy.peerTTL)))
        // A private reply is always compact (UNIT3D-Announce has no other form).
        let compactRequest = {
            var r = request
            r.compact = true
            return r
        }()
        // What the store's callback needs, and no more (each captured reference is a retain).
        let (tracker, metrics, outages) = (tracker, open.metrics, open.outages)
        let timing = Timing(settings)
        let (user, slotted) = (admission.user.id, admission.group.downloadSlots != nil)
        let (torrentID, agent, endpoint) = (admission.torrent.id, head.userAgent, verb.endpoint)
        // A hybrid torrent announced under its other hash moments ago by the same peer: one
        // peer's pair of announces, the second exempt from the list rates.
        let hybridPair =
            admission.torrent.infoHashV2 != nil && request.event != .stopped
            && tracker.isHybridPair(
                user: user, torrent: admission.torrent.id, peer: request.peerID, hash: request.infoHash, now: now,
                window: settings.dedupWindow)
        let storeStarted = ContinuousClock.now
        open.store.announce(verb) { result in
            metrics.storeAnnounceLatency.recordInterval(since: storeStarted)
            let reply: SwarmReply
            switch result {
            case .success(let r):
                outages.succeeded()
                reply = r
            case .failure(let e) where e == .noNewPeer:
                return respond(Self.warning(PrivateTexts.downloadSlotsReached, interval: policy.interval))
            case .failure(let e):
                return respond(.storeFailed(e, metrics: metrics, outages: outages))
            }
            if !reply.recorded { metrics.announceNotOwned() }
            if request.event == .stopped {
                if slotted { tracker.noteLeeching(user: user, torrent: request.infoHash, leeching: false, now: now) }
                if reply.past == nil {
                    return respond(Self.warning(PrivateTexts.unknownStoppedPeer, interval: PrivateTexts.failureInterval))
                }
            } else if reply.recorded, slotted {
                tracker.noteLeeching(user: user, torrent: request.infoHash, leeching: leeching, now: now)
            }
            let answer: @Sendable () -> Void = {
                var response = AnnounceLogic.response(for: compactRequest, from: remote, reply: reply, policy: policy)
                // Candidates are other users' peers (UNIT3D-Announce's rule): a user's own clients
                // are left out of the lists it gets.
                var seedersListed = reply.seedersSampled
                if response.peers.contains(where: { $0.user == user }) {
                    seedersListed -= response.peers.prefix(reply.seedersSampled).filter { $0.user == user }.count
                    response.peers.removeAll { $0.user == user }
                }
                if let past = reply.past, request.event != .stopped,
                    Self.rateLimited(past, event: request.event, timing: timing)
                {
                    // UNIT3D-Announce's silent rate limit: counted, answered, but nothing listed.
                    (response.peers, response.complete, response.incomplete) = ([], 0, 0)
                } else if !response.peers.isEmpty, !hybridPair, !Self.isPairedAnnounce(reply.past, timing: timing) {
                    let wall = Date().timeIntervalSince1970
                    let seeders = min(seedersListed, response.peers.count)
                    var peers = response.peers
                    let may = tracker.mayList(seeders: seeders > 0, leechers: seeders < peers.count, user: user, now: wall)
                    if seeders < peers.count, !may.leechers {
                        peers.removeSubrange(seeders...)
                        response.incomplete = 0
                    }
                    if seeders > 0, !may.seeders {
                        peers.removeSubrange(..<seeders)
                        response.complete = 0
                    }
                    response.peers = peers
                }
                tracker.noteAnnounce()
                logger.debug(
                    "private announce",
                    metadata: [
                        "user": "\(user)", "info_hash": "\(request.infoHash)", "from": "\(remote)", "event": "\(request.event.rawValue)",
                        "left": "\(request.left)", "peers": "\(response.peers.count)",
                    ])
                var w = BencodeWriter(capacity: 128 + 18 * response.peers.count)
                ResponseEncoding.announce(response, into: &w)
                respond(.bencoded(w))
            }
            // Credited before the reply: the entry is in the journal when the client reads it.
            if reply.recorded, let accounting = tracker.accounting, let factors {
                accounting.record(
                    user: user, torrent: torrentID, request: request, agent: agent, endpoint: endpoint, factors: factors, visible: true
                ) { failure in
                    // A baseline the store could not step is its outage, logged as the store's.
                    if let failure { outages.failed("\(failure)") }
                    answer()
                }
            } else {
                answer()
            }
        }
    }

    /// The two settings the rules after the store read.
    struct Timing: Sendable {
        var minIntervalEnforced: Int
        var dedupWindow: Int
        init(_ s: SquallConfig.PrivateSettings) { (minIntervalEnforced, dedupWindow) = (s.minIntervalEnforced, s.dedupWindow) }
    }

    /// The second announce of a dual-stack pair: the peer's first over this family (or its
    /// first in a long while), within the dedup window of its announce over the other.
    static func isPairedAnnounce(_ past: PeerPast?, timing: Timing) -> Bool {
        guard let past, timing.dedupWindow > 0, past.sinceLast <= timing.dedupWindow else { return false }
        guard let same = past.sinceLastSameFamily else { return true }
        return same >= max(timing.minIntervalEnforced, timing.dedupWindow + 1)
    }

    /// UNIT3D-Announce's silent rate limit, with Squall's exemptions: a peer's first `completed`
    /// and the second announce of a dual-stack pair are answered in full.
    static func rateLimited(_ past: PeerPast, event: AnnounceEvent, timing: Timing) -> Bool {
        guard timing.minIntervalEnforced > 0 else { return false }
        if event == .completed, !past.downloadCounted { return false }
        if isPairedAnnounce(past, timing: timing) { return false }
        return past.sinceLast < timing.minIntervalEnforced
    }
}
