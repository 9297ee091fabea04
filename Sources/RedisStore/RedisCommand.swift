import CHiredis
import NIOCore

/// Commands in Redis's wire format, written by hiredis (`redisFormatCommandArgv`).
enum RedisCommand {
    /// Appends the command to `buffer`.
    static func encode(_ arguments: RedisArguments, into buffer: inout ByteBuffer) {
        var target: UnsafeMutablePointer<CChar>?
        let n = arguments.withArgv { argc, argv, lengths in redisFormatCommandArgv(&target, argc, argv, lengths) }
        guard let target, n > 0 else { preconditionFailure("redisFormatCommandArgv failed (out of memory)") }
        defer { redisFreeCommand(target) }
        buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(n)))
    }
}
