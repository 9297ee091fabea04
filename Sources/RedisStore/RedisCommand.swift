import CHiredis
import NIOCore

/// Commands in Redis's wire format, written by hiredis (`redisFormatSdsCommandArgv`: its own
/// formatter, where `redisFormatCommandArgv` calls `sprintf` for every argument's length).
enum RedisCommand {
    /// Appends the command to `buffer`.
    static func encode(_ arguments: RedisArguments, into buffer: inout ByteBuffer) {
        var target: sds?
        let n = arguments.withArgv { argc, argv, lengths in redisFormatSdsCommandArgv(&target, argc, argv, lengths) }
        guard let target, n > 0 else { preconditionFailure("redisFormatSdsCommandArgv failed (out of memory)") }
        defer { redisFreeSdsCommand(target) }
        buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(n)))
    }
}
