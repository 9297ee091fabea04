import Foundation
public import PrivateCore
import TrackerCore

/// A registry change as the site's API call that makes it: the form the state file keeps and
/// instances sharing a Redis pass each other, read back by `AdminAPI.decode`, the one reader
/// of the site's payloads.
public struct RegistryCall: Sendable, Equatable {
    public var route: String
    public var put: Bool
    /// The JSON body, as the site would send it.
    public var body: String

    public init(route: String, put: Bool, body: String) { (self.route, self.put, self.body) = (route, put, body) }

    public init(_ change: RegistryChange) {
        func b(_ v: Bool) -> String { v ? "true" : "false" }
        func q(_ s: String) -> String { JSONText.quoted(s) }
        switch change {
        case .putTorrent(let t):
            let status: Int =
                switch t.status {
                case .pending: 0
                case .approved: 1
                case .rejected: 2
                case .postponed: 3
                case .unknown: 4
                }
            let v2 = t.infoHashV2.map { ",\"info_hash_v2\":\(q($0.raw.hex))" } ?? ""
            self.init(
                route: "torrents", put: true,
                body: "{\"id\":\(t.id),\"status\":\(status),\"info_hash\":\(q(t.infoHash.raw.hex))\(v2),\"is_deleted\":\(b(t.isDeleted)),"
                    + "\"seeders\":\(t.seeders),\"leechers\":\(t.leechers),\"times_completed\":\(t.timesCompleted),"
                    + "\"download_factor\":\(t.downloadFactor),\"upload_factor\":\(t.uploadFactor)}")
        case .deleteTorrent(let id):
            self.init(route: "torrents", put: false, body: "{\"id\":\(id)}")
        case .putUser(let u, let replacing):
            // With `replacing`, the site's form of a passkey change: the old one, then the new.
            let keys =
                replacing.map { "\"passkey\":\(q($0.text)),\"new_passkey\":\(q(u.passkey.text))" }
                ?? "\"passkey\":\(q(u.passkey.text)),\"new_passkey\":null"
            self.init(
                route: "users", put: true,
                body: "{\"id\":\(u.id),\"group_id\":\(u.groupID),\(keys),\"can_download\":\(b(u.canDownload)),"
                    + "\"num_seeding\":\(u.numSeeding),\"num_leeching\":\(u.numLeeching),\"is_donor\":\(b(u.isDonor)),"
                    + "\"is_lifetime\":\(b(u.isLifetime))}")
        case .deleteUser(let id, let passkey):
            self.init(route: "users", put: false, body: "{\"id\":\(id),\"passkey\":\(q(passkey.text))}")
        case .putGroup(let g):
            self.init(
                route: "groups", put: true,
                body: "{\"id\":\(g.id),\"slug\":\(q(g.slug)),\"download_slots\":\(g.downloadSlots.map(String.init) ?? "null"),"
                    + "\"is_immune\":\(b(g.isImmune)),\"is_freeleech\":\(b(g.isFreeleech)),\"is_double_upload\":\(b(g.isDoubleUpload))}")
        case .deleteGroup(let id):
            self.init(route: "groups", put: false, body: "{\"id\":\(id)}")
        case .putBlacklistedAgent(let prefix), .deleteBlacklistedAgent(let prefix):
            let put = if case .putBlacklistedAgent = change { true } else { false }
            self.init(
                route: "blacklisted-agents", put: put, body: "{\"peer_id_prefix\":[\(prefix.map(String.init).joined(separator: ","))]}")
        case .putFreeleechToken(let p), .deleteFreeleechToken(let p):
            let put = if case .putFreeleechToken = change { true } else { false }
            self.init(route: "freeleech-tokens", put: put, body: "{\"user_id\":\(p.user),\"torrent_id\":\(p.torrent)}")
        case .putPersonalFreeleech(let user), .deletePersonalFreeleech(let user):
            let put = if case .putPersonalFreeleech = change { true } else { false }
            self.init(route: "personal-freeleech", put: put, body: "{\"user_id\":\(user)}")
        case .putFeaturedTorrent(let id), .deleteFeaturedTorrent(let id):
            let put = if case .putFeaturedTorrent = change { true } else { false }
            self.init(route: "featured-torrents", put: put, body: "{\"torrent_id\":\(id)}")
        }
    }

    /// One line: `PUT users {...}`.
    public var line: String { "\(put ? "PUT" : "DELETE") \(route) \(body)" }

    public init?(line: Substring) {
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[0] == "PUT" || parts[0] == "DELETE" else { return nil }
        self.init(route: String(parts[1]), put: parts[0] == "PUT", body: String(parts[2]))
    }

    public var change: RegistryChange? {
        if case .success(let c) = AdminAPI.decode(route, put: put, body: Data(body.utf8)) { return c }
        return nil
    }

    /// The calls that rebuild `registry` from nothing: groups, users, torrents, then the lists.
    public static func snapshot(_ r: Registry) -> [RegistryCall] {
        var out: [RegistryCall] = []
        for g in r.groups.values.sorted(by: { $0.id < $1.id }) { out.append(RegistryCall(.putGroup(g))) }
        for u in r.users.values.sorted(by: { $0.id < $1.id }) { out.append(RegistryCall(.putUser(u, replacing: nil))) }
        // Passkeys still naming a user besides its own (kept until the site retires them).
        for (key, id) in r.passkeys.sorted(by: { $0.value < $1.value }) {
            if let u = r.users[id], u.passkey != key {
                out.append(RegistryCall(.putUser(PrivateUser(id: u.id, groupID: u.groupID, passkey: key), replacing: nil)))
                out.append(RegistryCall(.putUser(u, replacing: nil)))
            }
        }
        for t in r.torrents.values.sorted(by: { $0.id < $1.id }) { out.append(RegistryCall(.putTorrent(t))) }
        for p in r.blacklistedAgents.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            out.append(RegistryCall(.putBlacklistedAgent(prefix: p)))
        }
        for p in r.freeleechTokens.sorted(by: { ($0.user, $0.torrent) < ($1.user, $1.torrent) }) {
            out.append(RegistryCall(.putFreeleechToken(p)))
        }
        for u in r.personalFreeleech.sorted() { out.append(RegistryCall(.putPersonalFreeleech(user: u))) }
        for t in r.featuredTorrents.sorted() { out.append(RegistryCall(.putFeaturedTorrent(id: t))) }
        return out
    }
}
