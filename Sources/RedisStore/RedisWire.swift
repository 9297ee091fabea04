import CHiredis
import CSquallRedisShims

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

/// The arguments of one command, laid out in one buffer (binary-safe), so building a command
/// of many arguments costs two allocations rather than one per argument.
struct RedisArguments: Sendable {
    private(set) var bytes: [UInt8] = []
    private(set) var ends: [Int] = []

    init() {}

    init(_ arguments: [[UInt8]]) {
        bytes.reserveCapacity(arguments.reduce(0) { $0 + $1.count })
        ends.reserveCapacity(arguments.count)
        for a in arguments { append(a) }
    }

    var count: Int { ends.count }

    mutating func append(_ argument: [UInt8]) {
        bytes += argument
        ends.append(bytes.count)
    }

    mutating func append(_ argument: String) {
        bytes += argument.utf8
        ends.append(bytes.count)
    }

    /// `n` (not negative) in decimal, written in place without a String.
    mutating func append(decimal n: Int) {
        precondition(n >= 0, "negative arguments are written as strings")
        var digits = 1
        var rest = n / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var v = n
        bytes.withUnsafeMutableBufferPointer { b in
            for i in stride(from: start + digits - 1, through: start, by: -1) {
                b[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
        }
        ends.append(bytes.count)
    }

    /// `v` as 4 big-endian bytes, as the scripts read times and key digests (`struct.unpack('>I')`).
    mutating func append(bigEndian v: UInt32) {
        bytes += [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
        ends.append(bytes.count)
    }

    mutating func append(contentsOf other: RedisArguments) {
        let base = bytes.count
        bytes += other.bytes
        ends += other.ends.lazy.map { $0 + base }
    }

    /// Calls `body` with hiredis's argv form (pointers and lengths), valid during the call.
    func withArgv<R>(_ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        var lengths = [Int](repeating: 0, count: ends.count)
        var start = 0
        for (i, end) in ends.enumerated() {
            lengths[i] = end - start
            start = end
        }
        return bytes.withUnsafeBufferPointer { storage in
            // A non-nil base even for an empty buffer: hiredis reads zero bytes from it.
            let base = UnsafeRawPointer(storage.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self)
            var pointers = [UnsafePointer<CChar>?](repeating: nil, count: ends.count)
            var offset = 0
            for i in 0..<ends.count {
                pointers[i] = base + offset
                offset = ends[i]
            }
            return pointers.withUnsafeMutableBufferPointer { p in
                lengths.withUnsafeBufferPointer { l in body(Int32(ends.count), p.baseAddress!, l.baseAddress!) }
            }
        }
    }
}

/// hiredis's reply parser, fed with whatever bytes arrive: the sole owner of its `redisReader`.
/// Not thread-safe: it belongs to one channel, on one event loop.
final class RedisReader {
    private let reader: UnsafeMutablePointer<redisReader>

    /// The most elements one array reply may announce: far above any reply Squall asks for
    /// (the rows script's chunks, scrapes, `CLUSTER SLOTS`), far below what a rogue header could
    /// make hiredis allocate.
    static let maxElements = 1 << 20

    init() {
        guard let r = squall_redis_reader_create(Self.maxElements) else { preconditionFailure("redisReaderCreate failed (out of memory)") }
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
