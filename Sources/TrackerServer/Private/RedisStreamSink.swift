import PrivateCore
import RedisStore
import TrackerCore

/// `accounting.sink = "redis-stream"`: for sites that are not UNIT3D, each flush as entries of
/// a Redis stream (`XADD`) that the site reads with a consumer group. One entry per table and
/// per 1000 rows: fields `instance`, `sequence` (the flush's, the same in each of its
/// entries), `table` (`history`, `peers`, `torrents` or `users`) and `rows`, a JSON array of
/// objects (see the README). A flush's entries and this instance's sequence
/// (`PREFIX{accounting}:sequence:INSTANCE`) are written by one script, so a flush is in the
/// stream whole or not at all, and one whose sequence is already there is not added again; the
/// journal is truncated once Redis has it. Blocking, on NIO's blocking pool.
final class RedisStreamSink: AccountingSink {
    let options: RedisOptions
    let instance: String
    let stream: [UInt8]
    let sequenceKey: [UInt8]
    let maxLength: Int
    private let session: BlockingSession<BlockingRedisConnection>

    static let rowsPerEntry = 1000

    init(options: RedisOptions, instance: String, maxLength: Int) {
        self.options = options
        self.instance = instance
        stream = Array((options.prefix + "{accounting}:stream").utf8)
        sequenceKey = Array((options.prefix + "{accounting}:sequence:" + instance).utf8)
        self.maxLength = maxLength
        let stream = stream
        session = BlockingSession { try RedisPeerStore.blockingConnection(for: stream, options, timeout: .seconds(10)) }
    }

    func prepare(since: UInt32, limit: Int) async throws -> (sequence: UInt64, baselines: [RestoredBaseline]) {
        let key = sequenceKey
        return try await session.run { c in
            switch try c.command([Array("GET".utf8), key]) {
            case .string(let v): return (UInt64(String(decoding: v, as: UTF8.self)) ?? 0, [])
            case .null: return (0, [])
            case let other: throw RedisError("reading \(String(decoding: key, as: UTF8.self)): \(other)")
            }
        }
    }

    func write(_ batch: FlushBatch) async throws -> Int {
        var args: [[UInt8]] = [
            Array("EVAL".utf8), Array(Self.script.utf8), Array("2".utf8), stream, sequenceKey, Array(String(batch.sequence).utf8),
            Array(String(maxLength).utf8), Array(instance.utf8), Array((batch.hasEntries ? "1" : "0").utf8),
        ]
        for (table, rows) in Self.entries(batch) {
            args.append(Array(table.utf8))
            args.append(Array(rows.utf8))
        }
        let command = args
        return try await session.run { c in
            switch try c.command(command) {
            case .integer: return 0
            case let other: throw RedisError("adding flush \(batch.sequence) to the stream: \(other)")
            }
        }
    }

    /// KEYS: the stream, this instance's sequence. ARGV: sequence, MAXLEN, instance, whether the
    /// flush holds entries (a counts-only flush is added whatever the sequence), then table and
    /// rows pairs.
    static let script = """
        if ARGV[4] == '1' and tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[1]) then return 0 end
        for i = 5, #ARGV, 2 do
          redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'instance', ARGV[3], 'sequence', ARGV[1], 'table', ARGV[i], 'rows', ARGV[i + 1])
        end
        if ARGV[4] == '1' then redis.call('SET', KEYS[2], ARGV[1]) end
        return 1
        """

    /// The flush's rows as (table, JSON array) entries of at most `rowsPerEntry` rows.
    static func entries(_ b: FlushBatch) -> [(String, String)] {
        func time(_ t: UInt32?) -> String { t.map(String.init) ?? "null" }
        func ip(_ bytes: [UInt8]) -> String {
            if bytes.count == 4 { return JSONText.quoted("\(IPv4Address(bytes[0], bytes[1], bytes[2], bytes[3]))") }
            return JSONText.quoted(IPv6Address(bytes).map { "\($0)" } ?? "")
        }
        var out: [(String, String)] = []
        func add(_ table: String, _ rows: [String]) {
            for start in stride(from: 0, to: rows.count, by: rowsPerEntry) {
                out.append((table, "[" + rows[start..<min(start + rowsPerEntry, rows.count)].joined(separator: ",") + "]"))
            }
        }
        add(
            "history",
            b.history.map { h in
                "{\"user_id\":\(h.user),\"torrent_id\":\(h.torrent),\"agent\":\(JSONText.quoted(h.agent)),\"uploaded\":\(h.uploaded),"
                    + "\"actual_uploaded\":\(h.actualUploaded),\"client_uploaded\":\(h.clientUploaded),\"downloaded\":\(h.downloaded),"
                    + "\"actual_downloaded\":\(h.actualDownloaded),\"client_downloaded\":\(h.clientDownloaded),\"seeder\":\(h.seeder),"
                    + "\"active\":\(h.active),\"immune\":\(h.immune),\"created_at\":\(h.createdAt),\"updated_at\":\(h.updatedAt),"
                    + "\"completed_at\":\(time(h.completedAt))}"
            })
        add(
            "peers",
            b.peers.map { p in
                "{\"user_id\":\(p.user),\"torrent_id\":\(p.torrent),\"peer_id\":\"\(p.peerID.raw.hex)\",\"ip\":\(ip(p.ip)),"
                    + "\"port\":\(p.port),\"agent\":\(JSONText.quoted(p.agent)),\"uploaded\":\(p.uploaded),\"downloaded\":\(p.downloaded),"
                    + "\"left\":\(p.left),\"seeder\":\(p.seeder),\"active\":\(p.active),\"visible\":\(p.visible),"
                    + "\"created_at\":\(p.createdAt),\"updated_at\":\(p.updatedAt)}"
            })
        add(
            "torrents",
            b.torrentRows.map { t in
                "{\"torrent_id\":\(t.id),\"seeders\":\(t.seeders < 0 ? "null" : String(t.seeders)),"
                    + "\"leechers\":\(t.leechers < 0 ? "null" : String(t.leechers)),\"times_completed_delta\":\(t.completed),"
                    + "\"balance_delta\":\(t.balance)}"
            })
        add(
            "users",
            b.users.map { u in "{\"user_id\":\(u.user),\"uploaded_delta\":\(u.uploaded),\"downloaded_delta\":\(u.downloaded)}" })
        return out
    }
}
