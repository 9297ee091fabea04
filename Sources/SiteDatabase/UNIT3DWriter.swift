public import PrivateCore
import TrackerCore

#if canImport(Glibc)
    import Glibc
#endif

/// Writes the accounting's flushes into UNIT3D's tables as UNIT3D-Announce does (contract §4.2),
/// with four departures that keep them exact:
/// - One transaction per flush, with the journal's sequence number in `squall_accounting`
///   (`instance`, `sequence`): a flush whose sequence the table already holds was committed
///   before (its reply was lost), so it is not applied again.
/// - Overwritten columns take a row's values only when they are at least as new as the row's
///   (`updated_at`), and seedtime grows only by a forward gap: flushes of two instances may
///   arrive in either order, and neither goes back nor subtracts.
/// - Sums saturate at their column's range, so a hostile counter cannot make a statement fail
///   (and hold every later flush behind it); rows for users or torrents the site has deleted
///   are dropped (UNIT3D-Announce's batch would fail on every flush, §7.4); `users` and
///   `torrents` are updated, never given placeholder rows (§7.11).
/// - `torrents.seeders` and `leechers` are written as the store's counts, not summed deltas,
///   so they heal by themselves after expiries and restarts.
///
/// History and peers rows go to MariaDB as array-bound statements (one row of placeholders,
/// executed for every row in one round trip: the server parses no SQL per row), and to a
/// server without bulk execution (MySQL) as multi-row text statements; both write the same
/// bytes (a test compares every column). Times are whole UTC seconds (bound as `MYSQL_TIME`, or
/// `FROM_UNIXTIME` in the text form, in a `+00:00` session), binary columns raw bytes, and a
/// statement holds at most UNIT3D-Announce's records per statement.
public struct UNIT3DWriter: Sendable {
    /// This instance's name in `squall_accounting`.
    public let instance: String
    /// Seconds within which a seeding gap counts as seedtime (`ACTIVE_PEER_TTL` +
    /// `PEER_EXPIRY_INTERVAL`, 9000 by default).
    public let seedtimeGap: Int
    /// Rows per statement, per table (UNIT3D-Announce's bind limits).
    public var historyRows = 4095
    public var peerRows = 4369
    public var torrentRows = 4369
    public var userRows = 7281
    /// History and peers rows go as array-bound statements (MariaDB's bulk execution: the
    /// server parses one row's SQL, not thousands) when true, as multi-row text statements
    /// when false (MySQL has no bulk execution); nil asks the server.
    public var bulk: Bool? = nil

    public init(instance: String, seedtimeGap: Int = 9000) { (self.instance, self.seedtimeGap) = (instance, seedtimeGap) }

    /// What a write did.
    public struct Report: Sendable, Equatable {
        /// The sequence was already committed: nothing was applied.
        public var alreadyApplied = false
        /// Rows dropped because their user or torrent no longer exists.
        public var dropped = 0
    }

    public static let sequenceTable = "squall_accounting"

    /// Creates `squall_accounting` if needed, recounts every torrent's seeders and leechers
    /// from the `peers` rows as UNIT3D-Announce does at startup (contract §3 step 0: active and
    /// visible rows, by `left`; 0 for a torrent without any), and returns this instance's last
    /// committed sequence.
    public func prepare(_ db: MariaDBConnection) throws(DatabaseError) -> UInt64 {
        _ = try db.query(
            """
            UPDATE torrents t LEFT JOIN (
              SELECT torrent_id, SUM(active = 1 AND visible = 1 AND `left` = 0) AS s, SUM(active = 1 AND visible = 1 AND `left` > 0) AS l
              FROM peers GROUP BY torrent_id
            ) p ON p.torrent_id = t.id
            SET t.seeders = COALESCE(p.s, 0), t.leechers = COALESCE(p.l, 0) WHERE t.deleted_at IS NULL
            """)
        _ = try db.query(
            """
            CREATE TABLE IF NOT EXISTS \(Self.sequenceTable) (
              instance VARCHAR(64) NOT NULL PRIMARY KEY,
              sequence BIGINT UNSIGNED NOT NULL,
              flushed_at TIMESTAMP NULL DEFAULT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """)
        return try sequence(db)
    }

    func sequence(_ db: MariaDBConnection, lock: Bool = false) throws(DatabaseError) -> UInt64 {
        let rows = try db.query(
            "SELECT sequence FROM \(Self.sequenceTable) WHERE instance = \(Self.hex(Array(instance.utf8)))\(lock ? " FOR UPDATE" : "")")
        return rows.first?[0].flatMap { UInt64(String(decoding: $0, as: UTF8.self)) } ?? 0
    }

    /// Times a transaction that lost to another's locks (a deadlock, a lock wait timeout: two
    /// instances flushing the same rows at once) is tried again at once, before the error goes
    /// back to the caller (whose next flush tries again).
    public var lockRetries = 3

    /// Applies `batch` in one transaction, or nothing (the error is thrown after a rollback). A
    /// transaction that lost to another's locks is rolled back whole and tried again, up to
    /// `lockRetries` times, after 10, 20, 30 ms: its sequence check makes a try that did
    /// commit (its reply lost) apply nothing the second time.
    public func write(_ batch: FlushBatch, to db: MariaDBConnection) throws(DatabaseError) -> Report {
        var attempt = 0
        while true {
            do {
                return try writeOnce(batch, to: db)
            } catch  where Self.lostToLocks(error) && attempt < lockRetries {
                attempt += 1
                usleep(UInt32(10_000 * attempt))
            }
        }
    }

    /// ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT.
    static func lostToLocks(_ e: DatabaseError) -> Bool { e.code == 1213 || e.code == 1205 }

    func writeOnce(_ batch: FlushBatch, to db: MariaDBConnection) throws(DatabaseError) -> Report {
        var report = Report()
        _ = try db.query("START TRANSACTION")
        do {
            // A batch of counts alone (a recount) carries no entry: counts are absolute, so it
            // is applied whatever the sequence.
            let entries = batch.hasEntries
            if entries, try sequence(db, lock: true) >= batch.sequence {
                report.alreadyApplied = true
                _ = try db.query("COMMIT")
                return report
            }
            let users = try existing("users", Set(batch.history.map(\.user) + batch.peers.map(\.user)), db)
            let torrents = try existing("torrents", Set(batch.history.map(\.torrent) + batch.peers.map(\.torrent)), db)
            let history = batch.history.filter { users.contains($0.user) && torrents.contains($0.torrent) }
            let peers = batch.peers.filter { users.contains($0.user) && torrents.contains($0.torrent) }
            report.dropped = batch.history.count - history.count + batch.peers.count - peers.count
            let bulk = self.bulk ?? db.supportsBulk
            for chunk in history.sorted(by: { ($0.user, $0.torrent) < ($1.user, $1.torrent) }).chunks(historyRows) {
                if bulk {
                    let (sql, columns) = historyBulk(chunk)
                    try db.bulk(sql, columns)
                } else {
                    _ = try db.query(historySQL(chunk))
                }
            }
            for chunk in peers.sorted(by: Self.peerOrder).chunks(peerRows) {
                if bulk {
                    let (sql, columns) = Self.peersBulk(chunk)
                    try db.bulk(sql, columns)
                } else {
                    _ = try db.query(Self.peersSQL(chunk))
                }
            }
            for chunk in batch.torrentRows.chunks(torrentRows) { _ = try db.query(Self.torrentsSQL(chunk)) }
            for chunk in batch.users.sorted(by: { $0.user < $1.user }).chunks(userRows) { _ = try db.query(Self.usersSQL(chunk)) }
            if entries {
                _ = try db.query(
                    """
                    INSERT INTO \(Self.sequenceTable) (instance, sequence, flushed_at)
                    VALUES (\(Self.hex(Array(instance.utf8))), \(batch.sequence), UTC_TIMESTAMP())
                    ON DUPLICATE KEY UPDATE sequence = VALUES(sequence), flushed_at = VALUES(flushed_at)
                    """)
            }
            _ = try db.query("COMMIT")
        } catch {
            _ = try? db.query("ROLLBACK")
            throw error
        }
        return report
    }

    private func existing(_ table: String, _ ids: Set<UInt32>, _ db: MariaDBConnection) throws(DatabaseError) -> Set<UInt32> {
        guard !ids.isEmpty else { return [] }
        var found = Set<UInt32>()
        for chunk in ids.sorted().chunks(10_000) {
            let rows = try db.query("SELECT id FROM \(table) WHERE id IN (\(chunk.map(String.init).joined(separator: ",")))")
            for row in rows { if let id = row[0].flatMap({ UInt32(String(decoding: $0, as: UTF8.self)) }) { found.insert(id) } }
        }
        return found
    }

    // MARK: statements

    static let u64Max = "18446744073709551615"

    /// `column + VALUES(column)` saturating at BIGINT UNSIGNED's maximum.
    static func sum(_ c: String) -> String { "\(c) = IF(VALUES(\(c)) > \(u64Max) - \(c), \(u64Max), \(c) + VALUES(\(c)))" }

    /// True when the incoming row is at least as new as the stored one.
    static let newer = "(updated_at IS NULL OR VALUES(updated_at) >= updated_at)"

    static func overwrite(_ c: String) -> String { "\(c) = IF(\(newer), VALUES(\(c)), \(c))" }

    func historySQL(_ rows: ArraySlice<HistoryUpdate>) -> String {
        let values = rows.map { h in
            "(\(h.user),\(h.torrent),\(Self.hex(Array(h.agent.utf8))),\(h.uploaded),\(h.actualUploaded),\(h.clientUploaded),"
                + "\(h.downloaded),\(h.actualDownloaded),\(h.clientDownloaded),\(h.seeder ? 1 : 0),\(h.active ? 1 : 0),0,"
                + "\(h.immune ? 1 : 0),\(Self.time(h.createdAt)),\(Self.time(h.updatedAt)),\(h.completedAt.map(Self.time) ?? "NULL"))"
        }
        return "\(Self.historyInsert) VALUES \(values.joined(separator: ",")) \(historyUpdate)"
    }

    /// The history rows as one array-bound statement (MariaDB's bulk execution).
    func historyBulk(_ rows: ArraySlice<HistoryUpdate>) -> (String, [MariaDBConnection.BulkColumn]) {
        let sql = "\(Self.historyInsert) VALUES (?,?,?,?,?,?,?,?,?,?,?,0,?,?,?,?) \(historyUpdate)"
        return (
            sql,
            [
                .unsigned(rows.map { UInt64($0.user) }), .unsigned(rows.map { UInt64($0.torrent) }),
                .bytes(rows.map { Array($0.agent.utf8) }), .unsigned(rows.map(\.uploaded)),
                .unsigned(rows.map(\.actualUploaded)), .unsigned(rows.map(\.clientUploaded)), .unsigned(rows.map(\.downloaded)),
                .unsigned(rows.map(\.actualDownloaded)), .unsigned(rows.map(\.clientDownloaded)),
                .unsigned(rows.map { Self.flag($0.seeder) }), .unsigned(rows.map { Self.flag($0.active) }),
                .unsigned(rows.map { Self.flag($0.immune) }), .time(rows.map(\.createdAt)), .time(rows.map(\.updatedAt)),
                .time(rows.map(\.completedAt)),
            ]
        )
    }

    /// A boolean column's bound value.
    static func flag(_ b: Bool) -> UInt64 { b ? 1 : 0 }

    static let historyInsert = """
        INSERT INTO history (user_id, torrent_id, agent, uploaded, actual_uploaded, client_uploaded, downloaded,
          actual_downloaded, client_downloaded, seeder, active, seedtime, immune, created_at, updated_at, completed_at)
        """

    // Left to right: seedtime reads the old updated_at, seeder and active; updated_at last.
    var historyUpdate: String {
        """
        ON DUPLICATE KEY UPDATE
          \(Self.overwrite("agent")), \(Self.sum("uploaded")), \(Self.sum("actual_uploaded")), \(Self.overwrite("client_uploaded")),
          \(Self.sum("downloaded")), \(Self.sum("actual_downloaded")), \(Self.overwrite("client_downloaded")),
          seedtime = IF(VALUES(updated_at) > updated_at AND seeder = 1 AND active = 1 AND VALUES(seeder) = 1
            AND TIMESTAMPDIFF(SECOND, updated_at, VALUES(updated_at)) < \(seedtimeGap),
            LEAST(CAST(seedtime AS DECIMAL(21,0)) + TIMESTAMPDIFF(SECOND, updated_at, VALUES(updated_at)), \(Self.u64Max)), seedtime),
          \(Self.overwrite("seeder")), \(Self.overwrite("active")),
          immune = immune AND VALUES(immune),
          created_at = COALESCE(created_at, VALUES(created_at)),
          completed_at = COALESCE(completed_at, VALUES(completed_at)),
          updated_at = IF(\(Self.newer), VALUES(updated_at), updated_at)
        """
    }

    static func peersSQL(_ rows: ArraySlice<PeerUpdate>) -> String {
        let values = rows.map { p in
            "(\(hex(p.peerID.raw.bytes)),\(hex(p.ip)),\(p.port),\(hex(Array(p.agent.utf8))),\(p.uploaded),\(p.downloaded),\(p.left),"
                + "\(p.seeder ? 1 : 0),\(time(p.createdAt)),\(time(p.updatedAt)),\(p.torrent),\(p.user),0,\(p.active ? 1 : 0),"
                + "\(p.visible ? 1 : 0))"
        }
        return "\(peersInsert) VALUES \(values.joined(separator: ",")) \(peersUpdate)"
    }

    /// The peers rows as one array-bound statement (MariaDB's bulk execution).
    static func peersBulk(_ rows: ArraySlice<PeerUpdate>) -> (String, [MariaDBConnection.BulkColumn]) {
        let sql = "\(peersInsert) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0,?,?) \(peersUpdate)"
        return (
            sql,
            [
                .bytes(rows.map { $0.peerID.raw.bytes }), .bytes(rows.map(\.ip)), .unsigned(rows.map { UInt64($0.port) }),
                .bytes(rows.map { Array($0.agent.utf8) }), .unsigned(rows.map(\.uploaded)), .unsigned(rows.map(\.downloaded)),
                .unsigned(rows.map(\.left)), .unsigned(rows.map { Self.flag($0.seeder) }), .time(rows.map(\.createdAt)),
                .time(rows.map(\.updatedAt)), .unsigned(rows.map { UInt64($0.torrent) }), .unsigned(rows.map { UInt64($0.user) }),
                .unsigned(rows.map { Self.flag($0.active) }), .unsigned(rows.map { Self.flag($0.visible) }),
            ]
        )
    }

    static let peersInsert = """
        INSERT INTO peers (peer_id, ip, port, agent, uploaded, downloaded, `left`, seeder, created_at, updated_at, torrent_id,
          user_id, connectable, active, visible)
        """

    static var peersUpdate: String {
        let columns = ["ip", "port", "agent", "uploaded", "downloaded", "`left`", "seeder", "connectable", "active", "visible"]
        return """
            ON DUPLICATE KEY UPDATE \(columns.map(overwrite).joined(separator: ", ")),
              created_at = COALESCE(created_at, VALUES(created_at)), updated_at = IF(\(newer), VALUES(updated_at), updated_at)
            """
    }

    static func torrentsSQL(_ rows: ArraySlice<FlushBatch.TorrentRow>) -> String {
        let d = derived(
            ["id", "s", "l", "c", "b", "u"], rows.map { r in [r.id, r.seeders, r.leechers, r.completed, r.balance, r.touched ? 1 : 0] })
        return """
            UPDATE torrents t JOIN \(d) d ON t.id = d.id SET
              t.seeders = IF(d.s < 0, t.seeders, LEAST(d.s, 2147483647)),
              t.leechers = IF(d.l < 0, t.leechers, LEAST(d.l, 2147483647)),
              t.times_completed = LEAST(GREATEST(CAST(t.times_completed AS DECIMAL(21,0)) + d.c, 0), 2147483647),
              t.balance = LEAST(GREATEST(CAST(t.balance AS DECIMAL(21,0)) + d.b, -9223372036854775808), 9223372036854775807),
              t.updated_at = IF(d.u = 1, UTC_TIMESTAMP(), t.updated_at)
            """
    }

    /// A derived table of integer rows: `(SELECT 1 AS a, 2 AS b UNION ALL SELECT 3, 4 ...)`.
    static func derived(_ names: [String], _ rows: [[any BinaryInteger]]) -> String {
        let selects = rows.enumerated().map { (i, row) in
            "SELECT " + zip(row, names).map { i == 0 ? "\($0) AS \($1)" : "\($0)" }.joined(separator: ", ")
        }
        return "(" + selects.joined(separator: " UNION ALL ") + ")"
    }

    static func usersSQL(_ rows: ArraySlice<UserUpdate>) -> String {
        let d = derived(["id", "up", "down"], rows.map { u in [u.user, u.uploaded, u.downloaded] })
        return """
            UPDATE users u JOIN \(d) d ON u.id = d.id SET
              u.uploaded = IF(d.up > \(u64Max) - u.uploaded, \(u64Max), u.uploaded + d.up),
              u.downloaded = IF(d.down > \(u64Max) - u.downloaded, \(u64Max), u.downloaded + d.down)
            """
    }

    /// Primary-key order (fewer lock waits between instances writing the same rows).
    static func peerOrder(_ a: PeerUpdate, _ b: PeerUpdate) -> Bool {
        (a.user, a.torrent) != (b.user, b.torrent)
            ? (a.user, a.torrent) < (b.user, b.torrent) : a.peerID.raw.bytes.lexicographicallyPrecedes(b.peerID.raw.bytes)
    }

    static func time(_ unix: UInt32) -> String { "FROM_UNIXTIME(\(unix))" }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]("X'".utf8)
        out.reserveCapacity(3 + bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        out.append(UInt8(ascii: "'"))
        return String(decoding: out, as: UTF8.self)
    }
}

extension Array {
    fileprivate func chunks(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: Swift.max(1, size)).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
