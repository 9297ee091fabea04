import CHiredis

#if canImport(Glibc)
    import Glibc
#endif

/// A Redis reply, copied out of hiredis's reply tree (binary-safe).
public enum RedisValue: Equatable, Sendable {
    case string([UInt8])
    case integer(Int)
    case array([RedisValue])
    case null
    case status(String)
    /// An error reply from Redis (`WRONGTYPE ...`, `NOSCRIPT ...`); the connection stays usable.
    case error(String)

    public var integer: Int? { if case .integer(let v) = self { v } else { nil } }
    public var bytes: [UInt8]? { if case .string(let v) = self { v } else { nil } }
    public var array: [RedisValue]? { if case .array(let v) = self { v } else { nil } }
}

/// A failure of the connection itself (refused, timed out, closed, protocol error). After one,
/// the connection is unusable and must be replaced.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Where a Redis server listens.
public enum RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }
}

/// One blocking connection to Redis through hiredis: the sole owner of its `redisContext`,
/// freed in `deinit`. Not thread-safe: a connection belongs to one thread at a time, and
/// blocking calls never run on an event loop.
public final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    public let endpoint: RedisEndpoint

    /// Connects; `timeout` bounds the connect and, afterwards, each command.
    public init(_ endpoint: RedisEndpoint, timeout: Duration) throws(RedisError) {
        self.endpoint = endpoint
        let tv = Self.timeval(timeout)
        let made: UnsafeMutablePointer<redisContext>? =
            switch endpoint {
            case .tcp(let host, let port): redisConnectWithTimeout(host, Int32(port), tv)
            case .unix(let path): redisConnectUnixWithTimeout(path, tv)
            }
        guard let made else { throw RedisError("\(endpoint): cannot allocate a Redis context") }
        if made.pointee.err != 0 {
            let why = Self.errorText(made)
            redisFree(made)
            throw RedisError("\(endpoint): \(why)")
        }
        context = made
        guard redisSetTimeout(context, tv) == REDIS_OK else { throw RedisError("\(endpoint): cannot set the command timeout") }
    }

    deinit { redisFree(context) }

    /// Sends one command (each argument binary-safe) and waits for its reply. Error replies are
    /// values; a broken connection throws.
    public func command(_ arguments: [[UInt8]]) throws(RedisError) -> RedisValue {
        let count = arguments.count
        var lengths = arguments.map(\.count)
        let reply: UnsafeMutableRawPointer? = arguments.withPointers { pointers in
            redisCommandArgv(context, Int32(count), pointers, &lengths)
        }
        guard let reply else { throw RedisError("\(endpoint): \(Self.errorText(context))") }
        defer { freeReplyObject(reply) }
        return Self.value(reply.assumingMemoryBound(to: redisReply.self))
    }

    /// `command` with text arguments.
    public func command(_ arguments: String...) throws(RedisError) -> RedisValue {
        try command(arguments.map { Array($0.utf8) })
    }

    // MARK: the one place hiredis's state becomes Swift values

    private static func value(_ r: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let reply = r.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .string(bytes(reply.str, reply.len))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(reply.integer))
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(reply.elements)).map { value(reply.element[$0]!) })
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(reply.str, reply.len), as: UTF8.self))
        default:
            return .error("unexpected reply type \(reply.type)")
        }
    }

    private static func bytes(_ p: UnsafeMutablePointer<CChar>?, _ n: Int) -> [UInt8] {
        guard let p, n > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    private static func errorText(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: c.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func timeval(_ d: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = d.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}

extension Array where Element == [UInt8] {
    /// Calls `body` with a C array of pointers to each element's bytes, valid during the call.
    fileprivate func withPointers<R>(_ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> R) -> R {
        var storage = [UnsafeMutablePointer<CChar>]()
        storage.reserveCapacity(count)
        defer { storage.forEach { $0.deallocate() } }
        for element in self {
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: Swift.max(1, element.count))
            element.withUnsafeBytes { raw in
                if let base = raw.baseAddress { UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: raw.count) }
            }
            storage.append(p)
        }
        var pointers = storage.map { UnsafePointer<CChar>?($0) }
        return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }
}
