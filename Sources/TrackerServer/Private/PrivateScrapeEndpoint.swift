import PrivateCore
import TrackerCore
import TrackerProtocol

/// A private scrape: HTTPS required, a passkey of an enabled user, and only torrents the site
/// has approved (others are left out, as unknown hashes are). No full scrape.
struct PrivateScrapeEndpoint: Sendable {
    let tracker: PrivateTracker
    let open: ScrapeEndpoint

    /// `current`: the configuration the router read for this request.
    func serve(
        passkey: [UInt8], _ head: HTTPRequestHead, transport: Transport, in current: LiveConfig.Current,
        respond: @escaping @Sendable (HTTPReply) -> Void
    ) {
        if tracker.settings.requireHTTPS, transport == .http {
            return respond(PrivateAnnounceEndpoint.refusal(PrivateTexts.httpsRequired))
        }
        let hashes: [InfoHash]
        do {
            hashes = try head.query.withUnsafeBytes { (raw) throws(TrackerFailure) in
                try ScrapeParser.parse(query: raw, maxHashes: current.config.scrape.maxHashes)
            }
        } catch {
            return respond(PrivateAnnounceEndpoint.refusal((error as? TrackerFailure)?.reason ?? "malformed query"))
        }
        guard !hashes.isEmpty else { return respond(PrivateAnnounceEndpoint.refusal(TrackerFailure.fullScrapeDisabled.reason)) }
        let refusal: String?
        var allowed: [InfoHash] = []
        (refusal, allowed) = tracker.read { (registry) -> (String?, [InfoHash]) in
            guard let key = Passkey(passkey) else { return (PrivateTexts.invalidPasskey, []) }
            guard let user = registry.user(passkey: key) else { return (PrivateTexts.unknownPasskey, []) }
            guard let group = registry.groups[user.groupID] else { return (PrivateTexts.groupNotFound, []) }
            guard group.isEnabled else { return (PrivateTexts.accountNotEnabled(group.slug), []) }
            return (
                nil,
                hashes.filter { h in
                    registry.torrent(hash: h).map { $0.status == .approved && !$0.isDeleted } ?? false
                }
            )
        }
        if let refusal { return respond(PrivateAnnounceEndpoint.refusal(refusal)) }
        guard !allowed.isEmpty else {
            var w = BencodeWriter(capacity: 16)
            ResponseEncoding.scrape([:], into: &w)
            return respond(.bencoded(w))
        }
        open.scrape(allowed, respond: respond)
    }
}
