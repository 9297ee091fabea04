import CHiredis

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

// MARK: the one place hiredis's replies become Swift values

extension RedisValue {
    /// Copies a reply tree; the caller still owns (and frees) `r`.
    init(copying r: UnsafeMutablePointer<redisReply>) {
        let reply = r.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            self = .string(Self.bytes(reply.str, reply.len))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int(reply.integer))
        case REDIS_REPLY_ARRAY:
            self = .array((0..<Int(reply.elements)).map { RedisValue(copying: reply.element[$0]!) })
        case REDIS_REPLY_NIL:
            self = .null
        case REDIS_REPLY_STATUS:
            self = .status(String(decoding: Self.bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: Self.bytes(reply.str, reply.len), as: UTF8.self))
        default:
            self = .error("unexpected reply type \(reply.type)")
        }
    }

    private static func bytes(_ p: UnsafeMutablePointer<CChar>?, _ n: Int) -> [UInt8] {
        guard let p, n > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
}

/// Calls `body` with hiredis's argv form of `arguments` (pointers and lengths), valid during the
/// call. The arguments are laid out in one buffer, so this costs one allocation.
func withArgv<R>(
    _ arguments: [[UInt8]], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
) -> R {
    var flat = [UInt8]()
    flat.reserveCapacity(arguments.reduce(1) { $0 + $1.count })
    for a in arguments { flat += a }
    flat.append(0)
    let lengths = arguments.map(\.count)
    return flat.withUnsafeBufferPointer { storage in
        let base = UnsafeRawPointer(storage.baseAddress!).assumingMemoryBound(to: CChar.self)
        var offset = 0
        var pointers = lengths.map { n -> UnsafePointer<CChar>? in
            defer { offset += n }
            return base + offset
        }
        return pointers.withUnsafeMutableBufferPointer { p in
            lengths.withUnsafeBufferPointer { l in body(Int32(arguments.count), p.baseAddress!, l.baseAddress!) }
        }
    }
}

/// Commands in Redis's wire format, written by hiredis (`redisFormatCommandArgv`).
enum RedisCommand {
    static func encode(_ arguments: [[UInt8]]) -> [UInt8] {
        var target: UnsafeMutablePointer<CChar>?
        let n = withArgv(arguments) { argc, argv, lengths in redisFormatCommandArgv(&target, argc, argv, lengths) }
        guard let target, n > 0 else { preconditionFailure("redisFormatCommandArgv failed (out of memory)") }
        defer { redisFreeCommand(target) }
        return Array(UnsafeRawBufferPointer(start: target, count: Int(n)))
    }
}

/// hiredis's reply parser, fed with whatever bytes arrive: the sole owner of its `redisReader`.
/// Not thread-safe: it belongs to one channel, on one event loop.
final class RedisReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let r = redisReaderCreate() else { preconditionFailure("redisReaderCreate failed (out of memory)") }
        reader = r
    }

    deinit { redisReaderFree(reader) }

    func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisError) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        guard redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) == REDIS_OK else { throw error() }
    }

    /// The next complete reply, or nil until more bytes arrive. A protocol error throws.
    func next() throws(RedisError) -> RedisValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw error() }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return RedisValue(copying: reply.assumingMemoryBound(to: redisReply.self))
    }

    private func error() -> RedisError {
        let text = withUnsafeBytes(of: reader.pointee.errstr) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
        return RedisError("protocol error: \(text)")
    }
}
