public import TrackerCore

/// The settings the private rules read.
public struct PrivateRuleSettings: Sendable, Equatable {
    /// UNIT3D-Announce's header heuristics: refuse requests with browser headers
    /// (`Accept-Language`, `Referer`, `Accept-Charset`) and browser or crawler user agents.
    /// `want-digest` is not among them: aria2 sends it.
    public var headerHeuristics: Bool
    /// The most peers one user may have on one torrent (0: no limit).
    public var maxPeersPerUserTorrent: Int

    public init(headerHeuristics: Bool = true, maxPeersPerUserTorrent: Int = 3) {
        (self.headerHeuristics, self.maxPeersPerUserTorrent) = (headerHeuristics, maxPeersPerUserTorrent)
    }

    /// Ports no honest client listens on (UNIT3D-Announce's list): refused unless stopping.
    public static func isBlockedPort(_ port: UInt16) -> Bool {
        switch port {
        case 0...1023, 1214, 3389, 4662, 6346, 6347, 6699, 8080, 8081: true
        default: false
        }
    }
}

/// What an announce carries that the rules look at, besides its parsed query.
public struct PrivateAnnounceFacts: Sendable {
    /// The passkey as sent (after percent-decoding), any length.
    public var passkey: [UInt8]
    /// The `User-Agent` header, when sent.
    public var userAgent: [UInt8]?
    /// Whether the request carried `Accept-Language`, `Referer` or `Accept-Charset`.
    public var hasBrowserHeaders: Bool

    public init(passkey: [UInt8], userAgent: [UInt8]?, hasBrowserHeaders: Bool = false) {
        (self.passkey, self.userAgent, self.hasBrowserHeaders) = (passkey, userAgent, hasBrowserHeaders)
    }
}

/// Who may announce what, decided before the store is touched.
public enum PrivateVerdict: Sendable, Equatable {
    /// Refused: a `failure reason`.
    case refused(String)
    /// Refused with a normal-looking reply carrying a `warning message` and this interval.
    case warned(String, interval: Int)
    /// Allowed, with what the rest of the announce needs.
    case admitted(PrivateAdmission)
}

/// An admitted announce's user, group and torrent, and what changes its credit.
public struct PrivateAdmission: Sendable, Equatable {
    public var user: PrivateUser
    public var group: PrivateGroup
    public var torrent: PrivateTorrent
    public var hasFreeleechToken: Bool
    public var hasPersonalFreeleech: Bool
    public var isFeatured: Bool
}

/// UNIT3D-Announce's checks, in its order (`unit3d-contract.md` §1.5 rows 3-22). The order
/// shows to users: a wrong 32-byte passkey on a pending torrent gets the pending warning; an
/// unknown info_hash is reported before an unknown passkey; a blocked port before either.
public enum PrivateRules {
    public static func check(
        _ request: AnnounceRequest, facts: PrivateAnnounceFacts, registry: Registry, settings: PrivateRuleSettings
    ) -> PrivateVerdict {
        if settings.headerHeuristics, facts.hasBrowserHeaders { return .refused(PrivateTexts.abnormalAccess) }
        guard let agent = facts.userAgent, agent.allSatisfy({ $0 == 0x09 || (0x20...0x7E).contains($0) }) else {
            return .refused(PrivateTexts.invalidUserAgent)
        }
        if agent.count > 64 { return .refused(PrivateTexts.userAgentTooLong) }
        if registry.isBlacklisted(request.peerID) { return .refused(PrivateTexts.blacklistedClient) }
        if settings.headerHeuristics, looksLikeBrowser(agent) { return .refused(PrivateTexts.browser) }
        if request.event != .stopped, PrivateRuleSettings.isBlockedPort(request.port) {
            return .refused(PrivateTexts.illegalPort(request.port))
        }
        guard let passkey = Passkey(facts.passkey) else { return .refused(PrivateTexts.invalidPasskey) }
        guard let torrentID = registry.hashes[request.infoHash] else { return .refused(PrivateTexts.unknownInfoHash) }
        guard let torrent = registry.torrents[torrentID] else { return .refused(PrivateTexts.torrentNotFound) }
        if torrent.isDeleted { return .refused(PrivateTexts.torrentDeleted) }
        switch torrent.status {
        case .approved: break
        case .pending: return .warned(PrivateTexts.torrentPending, interval: PrivateTexts.moderationInterval)
        case .rejected: return .warned(PrivateTexts.torrentRejected, interval: PrivateTexts.moderationInterval)
        case .postponed: return .warned(PrivateTexts.torrentPostponed, interval: PrivateTexts.moderationInterval)
        case .unknown: return .refused(PrivateTexts.torrentNotApproved)
        }
        guard let userID = registry.passkeys[passkey] else { return .refused(PrivateTexts.unknownPasskey) }
        guard let user = registry.users[userID] else { return .refused(PrivateTexts.unknownUser) }
        if !user.canDownload, request.left != 0 { return .refused(PrivateTexts.downloadDisabled) }
        guard let group = registry.groups[user.groupID] else { return .refused(PrivateTexts.groupNotFound) }
        if !group.isEnabled { return .refused(PrivateTexts.accountNotEnabled(group.slug)) }
        return .admitted(
            PrivateAdmission(
                user: user, group: group, torrent: torrent,
                hasFreeleechToken: registry.freeleechTokens.contains(UserTorrent(user: user.id, torrent: torrent.id)),
                hasPersonalFreeleech: registry.personalFreeleech.contains(user.id),
                isFeatured: registry.featuredTorrents.contains(torrent.id)))
    }

    /// Words of browsers and crawlers in a lower-cased user agent (UNIT3D-Announce's list).
    static let browserWords: [[UInt8]] = [
        "mozilla", "browser", "chrome", "safari", "applewebkit", "opera", "links", "lynx", "bot", "unknown",
    ]
    .map { Array($0.utf8) }

    /// The words' first letters, as bits of `letter - "a"`.
    static let browserFirstLetters: UInt32 = browserWords.reduce(0) { $0 | 1 << UInt32($1[0] &- 0x61) }

    /// Case-insensitive substring search, allocating nothing, in one pass over the agent: a
    /// position whose letter starts no word costs one test (a user agent is at most 64 bytes).
    static func looksLikeBrowser(_ agent: [UInt8]) -> Bool {
        @inline(__always) func lower(_ b: UInt8) -> UInt8 { b &- 0x41 < 26 ? b | 0x20 : b }
        let (words, firsts) = (browserWords, browserFirstLetters)
        return agent.withUnsafeBufferPointer { a in
            for i in 0..<a.count {
                let letter = lower(a[i]) &- 0x61
                guard letter < 26, firsts & 1 << UInt32(letter) != 0 else { continue }
                for word in words where word[0] == letter &+ 0x61 && a.count - i >= word.count {
                    var j = 1
                    while j < word.count, lower(a[i + j]) == word[j] { j += 1 }
                    if j == word.count { return true }
                }
            }
            return false
        }
    }
}
