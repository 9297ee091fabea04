public import PrivateCore
import TrackerCore

/// Loads the registry from a UNIT3D site's database, as UNIT3D-Announce does at startup
/// (`unit3d-contract.md` §3): blacklisted clients, torrents (one per info_hash), users with
/// their peer counts and passkeys, freeleech tokens, personal freeleech, featured torrents,
/// groups. Any error aborts the load (and the start), naming the step.
public enum UNIT3DLoader {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func load(from db: MariaDBConnection) throws(Failure) -> Registry {
        var r = Registry()
        func step(_ name: String, _ sql: String) throws(Failure) -> [MariaDBConnection.Row] {
            do {
                return try db.query(sql)
            } catch {
                throw Failure(description: "loading \(name): \(error)")
            }
        }
        func apply(_ change: RegistryChange) { try? r.apply(change) }

        for row in try step("blacklist_clients", "SELECT peer_id_prefix FROM blacklist_clients") {
            apply(.putBlacklistedAgent(prefix: row[0] ?? []))
        }

        // One torrent per info_hash: the lowest id among those not deleted and approved, else
        // among those not deleted, else the lowest deleted one.
        let torrents = try step(
            "torrents",
            "SELECT id, info_hash, status, seeders, leechers, times_completed, free, doubleup, deleted_at IS NOT NULL FROM torrents ORDER BY id"
        )
        var chosen: [InfoHash: (rank: Int, torrent: PrivateTorrent)] = [:]
        for (n, row) in torrents.enumerated() {
            guard let id = UInt32(text(row[0])), let raw = row[1], let hash = InfoHash(raw) else {
                throw Failure(description: "loading torrents: row \(n + 1) has no id or a 20-byte info_hash")
            }
            let status = TorrentStatus(code: Int(text(row[2])) ?? -1)
            let deleted = text(row[8]) == "1"
            let free = min(100, max(0, Int(text(row[6])) ?? 0))
            let t = PrivateTorrent(
                id: id, status: status, isDeleted: deleted, infoHash: hash, seeders: UInt32(text(row[3])) ?? 0,
                leechers: UInt32(text(row[4])) ?? 0, timesCompleted: UInt32(text(row[5])) ?? 0, downloadFactor: UInt8(100 - free),
                uploadFactor: text(row[7]) == "1" ? 200 : 100)
            let rank = deleted ? 2 : status == .approved ? 0 : 1
            // Rows come by id: a later row wins only with a better rank.
            if let have = chosen[hash], have.rank <= rank { continue }
            chosen[hash] = (rank, t)
        }
        for (_, c) in chosen.sorted(by: { $0.value.torrent.id < $1.value.torrent.id }) { apply(.putTorrent(c.torrent)) }

        let users = try step(
            "users",
            """
            SELECT u.id, u.group_id, u.passkey, u.can_download, u.is_donor, u.is_lifetime,
              COALESCE(SUM(p.seeder = 1 AND p.active = 1 AND p.visible = 1), 0),
              COALESCE(SUM(p.seeder = 0 AND p.active = 1 AND p.visible = 1), 0)
            FROM users u LEFT JOIN peers p ON p.user_id = u.id
            WHERE u.deleted_at IS NULL GROUP BY u.id ORDER BY u.id
            """)
        for row in users {
            guard let id = UInt32(text(row[0])), let group = Int32(text(row[1])) else {
                throw Failure(description: "loading users: a row has no id or group_id")
            }
            // A longer passkey is cut to its first 32 bytes, as there; a shorter one stops the load.
            guard let bytes = row[2], bytes.count >= Passkey.length, let passkey = Passkey(bytes.prefix(Passkey.length)) else {
                throw Failure(description: "loading users: user \(id)'s passkey is shorter than 32 bytes")
            }
            apply(
                .putUser(
                    PrivateUser(
                        id: id, groupID: group, passkey: passkey, canDownload: text(row[3]) == "1", isDonor: text(row[4]) == "1",
                        isLifetime: text(row[5]) == "1", numSeeding: UInt32(text(row[6])) ?? 0, numLeeching: UInt32(text(row[7])) ?? 0),
                    replacing: nil))
        }

        for row in try step("freeleech_tokens", "SELECT user_id, torrent_id FROM freeleech_tokens") {
            if let u = UInt32(text(row[0])), let t = UInt32(text(row[1])) { apply(.putFreeleechToken(UserTorrent(user: u, torrent: t))) }
        }
        for row in try step("personal_freeleeches", "SELECT user_id FROM personal_freeleeches") {
            if let u = UInt32(text(row[0])) { apply(.putPersonalFreeleech(user: u)) }
        }
        for row in try step("featured_torrents", "SELECT torrent_id FROM featured_torrents") {
            if let t = UInt32(text(row[0])) { apply(.putFeaturedTorrent(id: t)) }
        }
        for row in try step(
            "groups", "SELECT id, slug, download_slots, is_immune, is_freeleech, is_double_upload FROM `groups` ORDER BY id")
        {
            guard let id = Int32(text(row[0])) else { throw Failure(description: "loading groups: a row has no id") }
            apply(
                .putGroup(
                    PrivateGroup(
                        id: id, slug: text(row[1]), downloadSlots: row[2].flatMap { UInt32(text($0)) }, isImmune: text(row[3]) == "1",
                        isFreeleech: text(row[4]) == "1", isDoubleUpload: text(row[5]) == "1")))
        }
        return r
    }

    /// The `peers` rows announced since unix second `since`, newest first, at most `limit`, as
    /// the accounting's baselines (contract §3 step 3b): the client's counters as last flushed,
    /// and whether the (user, torrent) has completed (`history.completed_at`).
    public static func baselines(_ db: MariaDBConnection, since: UInt32, limit: Int) throws(DatabaseError) -> [RestoredBaseline] {
        let rows = try db.query(
            """
            SELECT p.user_id, p.torrent_id, p.peer_id, p.uploaded, p.downloaded, p.seeder, p.active, UNIX_TIMESTAMP(p.updated_at),
              h.completed_at IS NOT NULL
            FROM peers p LEFT JOIN history h ON h.user_id = p.user_id AND h.torrent_id = p.torrent_id
            WHERE p.updated_at >= FROM_UNIXTIME(\(since)) ORDER BY p.updated_at DESC LIMIT \(max(0, limit))
            """)
        return rows.compactMap { row in
            guard let user = UInt32(text(row[0])), let torrent = UInt32(text(row[1])), let peerID = row[2].flatMap({ PeerID($0) }),
                let up = UInt64(text(row[3])), let down = UInt64(text(row[4])), let at = UInt32(text(row[7]))
            else { return nil }
            return RestoredBaseline(
                key: UserTorrent(user: user, torrent: torrent), peerID: peerID,
                baseline: PeerBaseline(uploaded: up, downloaded: down, at: at, seeder: text(row[5]) == "1", active: text(row[6]) == "1"),
                completed: text(row[8]) == "1")
        }
    }

    private static func text(_ bytes: [UInt8]?) -> String { bytes.map { String(decoding: $0, as: UTF8.self) } ?? "" }
}
