import CMariaDB

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

    private func lastError() -> DatabaseError { DatabaseError(String(cString: mysql_error(handle)), code: mysql_errno(handle)) }
}

@available(*, unavailable)
extension MariaDBConnection: Sendable {}

extension Optional where Wrapped == String {
    fileprivate func withOptionalCString<R>(_ body: (UnsafePointer<CChar>?) -> R) -> R {
        switch self {
        case .some(let s): s.withCString { body($0) }
        case .none: body(nil)
        }
    }
}
