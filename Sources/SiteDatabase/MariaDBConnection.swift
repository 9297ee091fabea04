import CMariaDB
import Glibc

/// Why a database call failed: the server's own message (it never holds the password), or ours.
public struct DatabaseError: Error, Sendable, CustomStringConvertible {
    public var code: UInt32
    public var message: String
    public var description: String { code == 0 ? message : "\(message) (error \(code))" }
    init(_ message: String, code: UInt32 = 0) { (self.message, self.code) = (message, code) }
}

/// One connection through MariaDB Connector/C (Debian's libmariadb). Blocking: callers run it
/// on a thread of their own, never on an event loop. The one owner of its `MYSQL` handle, which
/// it closes when released; results are copied out and freed inside `query`.
///
/// Each session is set as UNIT3D-Announce's driver sets it: `time_zone='+00:00'` (every time
/// is UTC), utf8mb4, and the server's `sql_mode` with `PIPES_AS_CONCAT,NO_ENGINE_SUBSTITUTION`.
public final class MariaDBConnection {
    private let handle: UnsafeMutablePointer<MYSQL>

    /// One row of a result: each column's bytes, nil for SQL NULL.
    public typealias Row = [[UInt8]?]

    private static let libraryReady: Bool = mysql_server_init(0, nil, nil) == 0

    /// Connects to `database` on `host`:`port`, or through the unix socket `socket` when given.
    public init(
        host: String, port: Int, socket: String?, user: String, password: String?, database: String, timeoutSeconds: UInt32 = 10
    ) throws(DatabaseError) {
        guard Self.libraryReady, let h = mysql_init(nil) else { throw DatabaseError("cannot initialise the MariaDB client library") }
        handle = h
        var timeout = timeoutSeconds
        _ = mysql_options(h, MYSQL_OPT_CONNECT_TIMEOUT, &timeout)
        _ = mysql_options(h, MYSQL_OPT_READ_TIMEOUT, &timeout)
        _ = mysql_options(h, MYSQL_OPT_WRITE_TIMEOUT, &timeout)
        _ = mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        _ = mysql_options(
            h, MYSQL_INIT_COMMAND, "SET time_zone='+00:00', sql_mode=CONCAT(@@sql_mode, ',PIPES_AS_CONCAT,NO_ENGINE_SUBSTITUTION')")
        let connected = password.withOptionalCString { password in
            socket.withOptionalCString { socketPath in
                mysql_real_connect(
                    h, socket == nil ? host : "localhost", user, password, database, UInt32(socket == nil ? port : 0), socketPath, 0)
            }
        }
        // On a throw here `deinit` still runs (every property is set) and closes the handle.
        guard connected != nil else { throw DatabaseError(String(cString: mysql_error(h)), code: mysql_errno(h)) }
    }

    deinit { mysql_close(handle) }

    /// Runs `sql` (text protocol) and returns every row of its result (none for a statement
    /// without one). Binary columns come back byte for byte.
    public func query(_ sql: String) throws(DatabaseError) -> [Row] {
        let status = sql.withCString { mysql_real_query(handle, $0, UInt(sql.utf8.count)) }
        guard status == 0 else { throw lastError() }
        guard let result = mysql_store_result(handle) else {
            if mysql_field_count(handle) == 0 { return [] }
            throw lastError()
        }
        defer { mysql_free_result(result) }
        let columns = Int(mysql_num_fields(result))
        var rows: [Row] = []
        rows.reserveCapacity(Int(mysql_num_rows(result)))
        while let row = mysql_fetch_row(result) {
            guard let lengths = mysql_fetch_lengths(result) else { throw lastError() }
            var out: Row = []
            out.reserveCapacity(columns)
            for c in 0..<columns {
                if let p = row[c] {
                    out.append(Array(UnsafeRawBufferPointer(start: p, count: Int(lengths[c]))))
                } else {
                    out.append(nil)
                }
            }
            rows.append(out)
        }
        return rows
    }

    /// Whether the server runs an array-bound statement in one round trip (MariaDB 10.2 and
    /// later; MySQL does not).
    public var supportsBulk: Bool { squall_mariadb_bulk_supported(handle) != 0 }

    /// One column of a bulk statement: a value for each row.
    public enum BulkColumn {
        case unsigned([UInt64])
        case bytes([[UInt8]])
        /// Whole UTC seconds since 1970 (the session's time zone is `+00:00`); nil for NULL.
        case time([UInt32?])

        var count: Int {
            switch self {
            case .unsigned(let v): v.count
            case .bytes(let v): v.count
            case .time(let v): v.count
            }
        }
    }

    /// Runs `sql`, a statement of one row of `?` placeholders, once for each row of `columns`
    /// in one COM_STMT_BULK_EXECUTE (Connector/C's array binding: no SQL text per row for the
    /// server to parse). Every column holds the same number of rows; requires `supportsBulk`.
    /// The statement and every buffer bound to it live only inside this call.
    public func bulk(_ sql: String, _ columns: [BulkColumn]) throws(DatabaseError) {
        let rows = columns.first?.count ?? 0
        guard rows > 0 else { return }
        guard columns.allSatisfy({ $0.count == rows }) else { throw DatabaseError("bulk columns of different lengths") }
        guard let stmt = mysql_stmt_init(handle) else { throw lastError() }
        defer { mysql_stmt_close(stmt) }
        func stmtError() -> DatabaseError {
            DatabaseError(String(cString: mysql_stmt_error(stmt)), code: mysql_stmt_errno(stmt))
        }
        guard sql.withCString({ mysql_stmt_prepare(stmt, $0, UInt(sql.utf8.count)) }) == 0 else { throw stmtError() }
        guard Int(mysql_stmt_param_count(stmt)) == columns.count else { throw DatabaseError("bulk statement and columns disagree") }

        var storage = BulkStorage()
        defer { storage.release() }
        var binds = [MYSQL_BIND](repeating: MYSQL_BIND(), count: columns.count)
        for (i, column) in columns.enumerated() {
            switch column {
            case .unsigned(let values):
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
                binds[i].is_unsigned = 1
                binds[i].buffer = UnsafeMutableRawPointer(storage.copy(values))
            case .bytes(let values):
                // Variable-length columns bind an array of pointers and an array of lengths.
                let total = values.reduce(0) { $0 + $1.count }
                let bytes = storage.allocate(UInt8.self, Swift.max(1, total))
                let pointers = storage.allocate(UnsafeMutableRawPointer?.self, rows)
                let lengths = storage.allocate(UInt.self, rows)
                var offset = 0
                for (r, value) in values.enumerated() {
                    value.withUnsafeBufferPointer { src in
                        if let base = src.baseAddress { (bytes + offset).initialize(from: base, count: src.count) }
                    }
                    pointers[r] = UnsafeMutableRawPointer(bytes + offset)
                    lengths[r] = UInt(value.count)
                    offset += value.count
                }
                binds[i].buffer_type = MYSQL_TYPE_BLOB
                binds[i].buffer = UnsafeMutableRawPointer(pointers)
                binds[i].length = lengths
            case .time(let values):
                // MYSQL_TIME is bound as an array of pointers too (it has no fixed pack length).
                let times = storage.allocate(MYSQL_TIME.self, rows)
                let pointers = storage.allocate(UnsafeMutablePointer<MYSQL_TIME>?.self, rows)
                let indicators = storage.allocate(CChar.self, rows)
                for (r, value) in values.enumerated() {
                    times[r] = Self.utc(value ?? 0)
                    pointers[r] = times + r
                    indicators[r] = CChar(value == nil ? STMT_INDICATOR_NULL.rawValue : STMT_INDICATOR_NONE.rawValue)
                }
                binds[i].buffer_type = MYSQL_TYPE_DATETIME
                binds[i].buffer = UnsafeMutableRawPointer(pointers)
                binds[i].u.indicator = indicators
            }
        }
        guard squall_mariadb_set_array_size(stmt, UInt32(rows)) == 0 else { throw stmtError() }
        let bound = binds.withUnsafeMutableBufferPointer { mysql_stmt_bind_param(stmt, $0.baseAddress) }
        guard bound == 0 else { throw stmtError() }
        guard mysql_stmt_execute(stmt) == 0 else { throw stmtError() }
    }

    /// `unix` seconds as a UTC calendar time (the C library's `gmtime_r`).
    static func utc(_ unix: UInt32) -> MYSQL_TIME {
        var seconds = time_t(unix)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var t = MYSQL_TIME()
        (t.year, t.month, t.day) = (UInt32(parts.tm_year + 1900), UInt32(parts.tm_mon + 1), UInt32(parts.tm_mday))
        (t.hour, t.minute, t.second) = (UInt32(parts.tm_hour), UInt32(parts.tm_min), UInt32(parts.tm_sec))
        t.time_type = MYSQL_TIMESTAMP_DATETIME
        return t
    }

    private func lastError() -> DatabaseError { DatabaseError(String(cString: mysql_error(handle)), code: mysql_errno(handle)) }
}

@available(*, unavailable)
extension MariaDBConnection: Sendable {}

/// The buffers one bulk call binds: allocated by it, released when it returns.
private struct BulkStorage {
    private var blocks: [UnsafeMutableRawPointer] = []

    mutating func allocate<T>(_: T.Type, _ count: Int) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(1, count))
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    mutating func copy<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
        let p = allocate(T.self, values.count)
        values.withUnsafeBufferPointer { if let base = $0.baseAddress { p.initialize(from: base, count: $0.count) } }
        return p
    }

    func release() { for b in blocks { b.deallocate() } }
}

extension Optional where Wrapped == String {
    fileprivate func withOptionalCString<R>(_ body: (UnsafePointer<CChar>?) -> R) -> R {
        switch self {
        case .some(let s): s.withCString { body($0) }
        case .none: body(nil)
        }
    }
}
