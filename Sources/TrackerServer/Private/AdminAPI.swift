import Foundation
import Logging
import PrivateCore
import RedisStore
import TrackerCore

/// The site's API: UNIT3D-Announce's routes, payloads and status codes (`unit3d-contract.md`
/// §2), answered from the registry. Paths are `/announce/KEY/ROUTE[/ID]`; the key is compared
/// in constant time, and a wrong one is a 404 like any unknown path, as there.
struct AdminAPI: Sendable {
    let tracker: PrivateTracker
    let key: [UInt8]
    let store: any PeerStore
    let logger: Logger
    /// With the Redis store: every change goes through the shared feed (see `RedisRegistryFeed`).
    var feed: RedisRegistryFeed? = nil
    /// `POST /config/reload`: the reload SIGHUP runs; nil inside when it was applied, else the
    /// reason nothing changed; nil when no reload is set up.
    var reload: @Sendable () -> String?? = { nil }

    struct Reply: Sendable, Equatable, Error {
        var status: Int
        var contentType = "text/plain; charset=utf-8"
        var body: [UInt8] = []

        static func text(_ status: Int, _ text: String) -> Reply { Reply(status: status, body: Array(text.utf8)) }
        static let ok = Reply(status: 200)
        static let notFound = Reply(status: 404)
        static func json(_ text: String) -> Reply { Reply(status: 200, contentType: "application/json", body: Array(text.utf8)) }
        /// `DELETE /torrents` for an id the registry does not hold (UNIT3D-Announce answers 400).
        static func unknownTorrent(_ id: UInt32) -> Reply { .text(400, "Torrent \(id) not found.") }
    }

    enum Method: Sendable { case get, put, delete, post, other }

    /// Answers one request; `body` is what the client sent (the server bounds it).
    func handle(method: Method, path: String, contentType: String?, body: [UInt8]) async -> Reply {
        tracker.noteRequest()
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard segments.first == "announce", segments.count >= 2 else { return .notFound }
        let rest = Array(segments.dropFirst())
        if rest == ["health", "ping"] { return method == .get ? .text(200, "PONG") : Reply(status: 405) }
        guard constantTimeEqual(Array(rest[0].utf8), key), rest.count >= 2, rest.count <= 3 else { return .notFound }
        let reply = await answer(method: method, route: rest[1], id: rest.count == 3 ? rest[2] : nil, contentType: contentType, body: body)
        // The route after the key (never the key itself).
        logger.debug(
            "site API",
            metadata: ["method": "\(method)", "route": "\(rest.dropFirst().joined(separator: "/"))", "status": "\(reply.status)"])
        return reply
    }

    private func answer(method: Method, route: Substring, id: Substring?, contentType: String?, body: [UInt8]) async -> Reply {
        switch (route, id) {
        case ("torrents", nil), ("users", nil), ("groups", nil), ("blacklisted-agents", nil), ("freeleech-tokens", nil),
            ("personal-freeleech", nil), ("featured-torrents", nil):
            guard method == .put || method == .delete else { return Reply(status: 405) }
            guard let contentType,
                contentType.lowercased().split(separator: ";").first?.trimmingCharacters(in: .whitespaces) == "application/json"
            else { return .text(415, "Expected request with `Content-Type: application/json`") }
            guard (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) != nil else {
                return .text(400, "Failed to parse the request body as JSON")
            }
            return change(String(route), put: method == .put, body: Data(body))
        case ("torrents", .some(let id)), ("users", .some(let id)):
            guard method == .get else { return Reply(status: 405) }
            guard let n = UInt32(id) else { return .text(400, "Invalid URL: Cannot parse `\(id)` to a `u32`") }
            return route == "torrents" ? await torrentJSON(n) : userJSON(n)
        case ("stats", nil):
            guard method == .get else { return Reply(status: 405) }
            return .json(tracker.statsJSON())
        case ("config", .some("reload")):
            guard method == .post else { return Reply(status: 405) }
            // UNIT3D-Announce's texts; the reload is SIGHUP's (the whole file, live keys only).
            switch reload() {
            case .some(nil): return .text(200, "Successfully reloaded config.")
            case .some(let reason?): return .text(500, "Ignoring config reload. Failed to parse config: \(reason)")
            case nil: return .text(500, "Ignoring config reload. Squall reloads its configuration on SIGHUP.")
            }
        default:
            return .notFound
        }
    }

    // MARK: changes

    private struct TorrentBody: Decodable {
        var id: UInt32
        var status: UInt8
        var info_hash: String
        var info_hash_v2: String?
        var is_deleted: Bool
        var seeders: UInt32
        var leechers: UInt32
        var times_completed: UInt32
        var download_factor: UInt8
        var upload_factor: UInt8
    }
    private struct IDBody<T: Decodable>: Decodable { var id: T }
    private struct UserBody: Decodable {
        var id: UInt32
        var group_id: Int32
        var passkey: String
        var new_passkey: String?
        var can_download: Bool
        var num_seeding: UInt32
        var num_leeching: UInt32
        var is_donor: Bool
        var is_lifetime: Bool
    }
    private struct UserDeleteBody: Decodable {
        var id: UInt32
        var passkey: String
    }
    private struct GroupBody: Decodable {
        var id: Int32
        var slug: String
        var download_slots: UInt32?
        var is_immune: Bool
        var is_freeleech: Bool
        var is_double_upload: Bool
    }
    /// A peer_id prefix as a JSON string (its UTF-8 bytes) or an array of bytes.
    private struct AgentBody: Decodable {
        var peer_id_prefix: [UInt8]
        enum CodingKeys: String, CodingKey { case peer_id_prefix }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let s = try? c.decode(String.self, forKey: .peer_id_prefix) {
                peer_id_prefix = Array(s.utf8)
            } else {
                peer_id_prefix = try c.decode([UInt8].self, forKey: .peer_id_prefix)
            }
        }
    }
    private struct TokenBody: Decodable {
        var user_id: UInt32
        var torrent_id: UInt32
    }
    private struct UserIDBody: Decodable { var user_id: UInt32 }
    private struct TorrentIDBody: Decodable { var torrent_id: UInt32 }

    private func change(_ route: String, put: Bool, body: Data) -> Reply {
        switch Self.decode(route, put: put, body: body) {
        case .failure(let reply): return reply
        case .success(let change):
            if let feed {
                if case .deleteTorrent(let id) = change, tracker.read({ $0.torrents[id] == nil }) {
                    return .unknownTorrent(id)
                }
                do throws(RedisError) {
                    try feed.publish(change)
                } catch {
                    return .text(503, "The registry's Redis is unavailable; retry.")
                }
                return .ok
            }
            do throws(RegistryChangeError) {
                try tracker.apply(change)
            } catch {
                switch error {
                case .unknownTorrent(let id): return .unknownTorrent(id)
                }
            }
            return .ok
        }
    }

    /// The change one API call asks for, or the reply refusing it: the one reader of the site's
    /// payloads, for the API, the state file and the instances sharing a Redis alike.
    static func decode(_ route: String, put: Bool, body: Data) -> Result<RegistryChange, Reply> {
        let d = JSONDecoder()
        let change: RegistryChange
        do {
            switch (route, put) {
            case ("torrents", true):
                let t = try d.decode(TorrentBody.self, from: body)
                guard t.status <= 4 else { return .failure(.text(422, "Failed to deserialize the JSON body into the target type: status")) }
                guard let hash = Self.hash(t.info_hash) else { return .failure(.text(400, "Invalid info_hash.")) }
                var v2: InfoHash?
                if let text = t.info_hash_v2 {
                    guard let h = Self.hash(text, allowV2: true) else { return .failure(.text(400, "Invalid info_hash_v2.")) }
                    v2 = h
                }
                change = .putTorrent(
                    PrivateTorrent(
                        id: t.id, status: TorrentStatus(code: Int(t.status)), isDeleted: t.is_deleted, infoHash: hash, infoHashV2: v2,
                        seeders: t.seeders, leechers: t.leechers, timesCompleted: t.times_completed, downloadFactor: t.download_factor,
                        uploadFactor: t.upload_factor))
            case ("torrents", false):
                change = .deleteTorrent(id: try d.decode(IDBody<UInt32>.self, from: body).id)
            case ("users", true):
                let u = try d.decode(UserBody.self, from: body)
                guard let old = Passkey(u.passkey) else { return .failure(.text(400, "Invalid passkey.")) }
                var key = old
                var replacing: Passkey?
                if let text = u.new_passkey {
                    guard let new = Passkey(text) else { return .failure(.text(400, "Invalid new passkey.")) }
                    (key, replacing) = (new, old)
                }
                change = .putUser(
                    PrivateUser(
                        id: u.id, groupID: u.group_id, passkey: key, canDownload: u.can_download, isDonor: u.is_donor,
                        isLifetime: u.is_lifetime, numSeeding: u.num_seeding, numLeeching: u.num_leeching),
                    replacing: replacing)
            case ("users", false):
                let u = try d.decode(UserDeleteBody.self, from: body)
                guard let key = Passkey(u.passkey) else { return .failure(.text(400, "Invalid passkey.")) }
                change = .deleteUser(id: u.id, passkey: key)
            case ("groups", true):
                let g = try d.decode(GroupBody.self, from: body)
                change = .putGroup(
                    PrivateGroup(
                        id: g.id, slug: g.slug, downloadSlots: g.download_slots, isImmune: g.is_immune, isFreeleech: g.is_freeleech,
                        isDoubleUpload: g.is_double_upload))
            case ("groups", false):
                change = .deleteGroup(id: try d.decode(IDBody<Int32>.self, from: body).id)
            case ("blacklisted-agents", let put):
                let prefix = try d.decode(AgentBody.self, from: body).peer_id_prefix
                change = put ? .putBlacklistedAgent(prefix: prefix) : .deleteBlacklistedAgent(prefix: prefix)
            case ("freeleech-tokens", let put):
                let t = try d.decode(TokenBody.self, from: body)
                let pair = UserTorrent(user: t.user_id, torrent: t.torrent_id)
                change = put ? .putFreeleechToken(pair) : .deleteFreeleechToken(pair)
            case ("personal-freeleech", let put):
                let user = try d.decode(UserIDBody.self, from: body).user_id
                change = put ? .putPersonalFreeleech(user: user) : .deletePersonalFreeleech(user: user)
            case ("featured-torrents", let put):
                let id = try d.decode(TorrentIDBody.self, from: body).torrent_id
                change = put ? .putFeaturedTorrent(id: id) : .deleteFeaturedTorrent(id: id)
            default:
                return .failure(.notFound)
            }
        } catch let e as DecodingError {
            return .failure(.text(422, "Failed to deserialize the JSON body into the target type: \(Self.describe(e))"))
        } catch {
            return .failure(.text(422, "Failed to deserialize the JSON body into the target type"))
        }
        return .success(change)
    }

    /// Where the body went wrong, by field name (never a value: a passkey could be one).
    private static func describe(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound(let key, _): "missing field `\(key.stringValue)`"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            "invalid value at `\(c.codingPath.map(\.stringValue).joined(separator: "."))`"
        @unknown default: "invalid body"
        }
    }

    /// 40 hex digits; with `allowV2`, also 64 (a v2 hash, truncated to 20 bytes as BEP 52 says
    /// clients announce it).
    static func hash(_ text: String, allowV2: Bool = false) -> InfoHash? {
        if allowV2, text.utf8.count == 64, text.utf8.allSatisfy({ hexDigitValue($0) != nil }) {
            return Bytes20(hex: String(text.prefix(40))).map(InfoHash.init)
        }
        return Bytes20(hex: text).map(InfoHash.init)
    }

    // MARK: reads

    private func userJSON(_ id: UInt32) -> Reply {
        guard let user = tracker.read({ $0.users[id] }) else { return .notFound }
        let (seed, leech) = tracker.rates(of: id)
        let now = Date().timeIntervalSince1970
        func rates(_ rate: ListRate?, _ limits: [ListRateLimit]) -> String {
            let counts = rate?.decayed(limits, to: now) ?? Array(repeating: 0, count: limits.count)
            let at = rate?.updatedAt ?? now
            let items = zip(counts, limits).map {
                "{\"count\":\(JSONNumber.float($0)),\"max_count\":\(JSONNumber.float($1.max)),\"window\":\(JSONNumber.float($1.window)),\"updated_at\":\(JSONNumber.float(at))}"
            }
            return "{\"rates\":[\(items.joined(separator: ","))]}"
        }
        let s = tracker.settings
        return .json(
            "{\"id\":\(user.id),\"group_id\":\(user.groupID),\"passkey\":\(JSONText.quoted(user.passkey.text)),"
                + "\"can_download\":\(user.canDownload),\"is_donor\":\(user.isDonor),\"is_lifetime\":\(user.isLifetime),"
                + "\"num_seeding\":\(user.numSeeding),\"num_leeching\":\(user.numLeeching),"
                + "\"receive_seed_list_rates\":\(rates(seed, s.seedListLimits)),\"receive_leech_list_rates\":\(rates(leech, s.leechListLimits))}"
        )
    }

    private func torrentJSON(_ id: UInt32) async -> Reply {
        guard let t = tracker.read({ $0.torrents[id] }) else { return .notFound }
        var listed: [(key: String, row: PeerRow, endpoint: Endpoint)] = []
        var seen: Set<String> = []
        let now = Int(Date().timeIntervalSince1970)
        // One entry per peer (the object's keys must be unique): a dual-stack peer shows its IPv6
        // endpoint, and a hybrid torrent's peer is listed under the hash it is found under first.
        for hash in [t.infoHash, t.infoHashV2].compactMap({ $0 }) {
            let rows = (try? await store.peerRows(of: hash, limit: 10_000)) ?? nil
            for row in rows ?? [] {
                let key = "\(row.user)-\(row.peerID.raw.hex.uppercased())"
                if let e = row.v6 ?? row.v4, seen.insert(key).inserted { listed.append((key, row, e)) }
            }
        }
        // The client's counters as the accounting last took them (from Redis with that store).
        let counters = await tracker.accounting?.baselines(torrent: id, peers: listed.map { ($0.row.user, $0.row.peerID) })
        let peers = listed.enumerated().map { i, p in
            let b = counters?[i]
            return
                "\(JSONText.quoted(p.key)):{\"ip_address\":\(JSONText.quoted(p.endpoint.address.description)),\"port\":\(p.endpoint.port),"
                + "\"is_seeder\":\(p.row.role == .seeder),\"is_active\":true,\"is_visible\":true,\"is_connectable\":false,"
                + "\"has_sent_completed\":\(p.row.completed),\"updated_at\":\(now - Int(p.row.idle)),\"uploaded\":\(b?.uploaded ?? 0),\"downloaded\":\(b?.downloaded ?? 0)}"
        }
        return .json(
            "{\"id\":\(t.id),\"status\":\(JSONText.quoted(t.status.name)),\"is_deleted\":\(t.isDeleted),"
                + "\"peers\":{\(peers.joined(separator: ","))},\"seeders\":\(t.seeders),\"leechers\":\(t.leechers),"
                + "\"times_completed\":\(t.timesCompleted),\"download_factor\":\(t.downloadFactor),\"upload_factor\":\(t.uploadFactor)}")
    }
}

/// JSON numbers as the site's PHP checks them: floats always with a fraction (`60.0`).
enum JSONNumber {
    static func float(_ v: Double) -> String {
        guard v.isFinite else { return "0.0" }
        if v == v.rounded(), abs(v) < 1e15 { return "\(Int(v)).0" }
        return "\(v)"
    }

}
