import CHiredis
import CSquallRedisShims

#if canImport(Glibc)
    import Glibc
#endif

/// One blocking connection to Redis through hiredis: the sole owner of its `redisContext`,
/// freed in `deinit`. Not thread-safe: a connection belongs to one thread at a time, and
/// blocking calls never run on an event loop.
public final class BlockingRedisConnection {
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
        // The reader that bounds array headers (see `RedisReader`), for this connection too.
        if let bounded = squall_redis_reader_create(RedisReader.maxElements) {
            redisReaderFree(made.pointee.reader)
            made.pointee.reader = bounded
        }
        context = made
        guard redisSetTimeout(context, tv) == REDIS_OK else { throw RedisError("\(endpoint): cannot set the command timeout") }
    }

    deinit { redisFree(context) }

    /// Bounds each command from now on (a blocking read such as `XREAD BLOCK` needs more than
    /// its block time).
    public func setTimeout(_ timeout: Duration) throws(RedisError) {
        guard redisSetTimeout(context, Self.timeval(timeout)) == REDIS_OK else {
            throw RedisError("\(endpoint): cannot set the command timeout")
        }
    }

    /// Sends one command (each argument binary-safe) and waits for its reply. Error replies are
    /// values; a broken connection throws.
    public func command(_ arguments: [[UInt8]]) throws(RedisError) -> RedisValue {
        let reply: UnsafeMutableRawPointer? = RedisArguments(arguments).withArgv { argc, argv, lengths in
            redisCommandArgv(context, argc, argv, lengths)
        }
        guard let reply else { throw RedisError("\(endpoint): \(Self.errorText(context))") }
        defer { freeReplyObject(reply) }
        return RedisValue(copying: reply.assumingMemoryBound(to: redisReply.self))
    }

    /// `command` with text arguments.
    public func command(_ arguments: String...) throws(RedisError) -> RedisValue {
        try command(arguments.map { Array($0.utf8) })
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
