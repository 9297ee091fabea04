import NIOCore
import NIOEmbedded
import Testing

@testable import RedisStore

/// The pipeline handler's bookkeeping on an embedded channel (no Redis: what is checked here is
/// that every command's callback runs exactly once, whatever the connection does around it).
@Suite struct RedisPipelineHandlerTests {
    final class Calls: @unchecked Sendable {
        var results: [Result<RedisValue, RedisError>] = []
    }

    static func ping() -> RedisArguments { RedisArguments([Array("PING".utf8)]) }

    /// A handler on an embedded channel with one command sent, and where its results go.
    static func handlerWithACommandSent() throws -> (EmbeddedChannel, RedisPipelineHandler, Calls) {
        let channel = EmbeddedChannel()
        let handler = RedisPipelineHandler(timeout: .seconds(1))
        try channel.pipeline.syncOperations.addHandler(handler)
        let calls = Calls()
        handler.send(ping()) { calls.results.append($0) }
        return (channel, handler, calls)
    }

    /// Regression: a Redis killed under load closes the connection, and announces sent between
    /// channelInactive and the handler's removal (the link still thinks it is ready until the
    /// channel's close future completes, a loop tick later) were queued on the dead connection
    /// and never answered: their timeout timer found no context and gave up.
    @Test func aCommandSentAfterTheConnectionWentInactiveFailsAtOnce() throws {
        let (channel, handler, calls) = try Self.handlerWithACommandSent()
        channel.pipeline.fireChannelInactive()
        #expect(calls.results.count == 1, "the command in flight fails with the connection")
        handler.send(Self.ping()) { calls.results.append($0) }
        #expect(calls.results.count == 2, "a command after the loss fails at once")
        #expect(calls.results.allSatisfy { if case .failure = $0 { true } else { false } })
        _ = try? channel.finish()
        #expect(calls.results.count == 2, "and nothing is answered twice")
    }

    @Test func aClosedConnectionFailsWhatWaitsAndWhatComesAfter() throws {
        let (channel, handler, calls) = try Self.handlerWithACommandSent()
        try channel.close().wait()
        #expect(calls.results.count == 1)
        handler.send(Self.ping()) { calls.results.append($0) }
        #expect(calls.results.count == 2)
        #expect(calls.results.allSatisfy { if case .failure = $0 { true } else { false } })
    }

    @Test func repliesAnswerCommandsInOrder() throws {
        let (channel, handler, calls) = try Self.handlerWithACommandSent()
        handler.send(Self.ping()) { calls.results.append($0) }
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n:7\r\n"))
        #expect(calls.results.count == 2)
        #expect((try? calls.results[0].get()) == .status("PONG") && (try? calls.results[1].get()) == .integer(7))
        _ = try? channel.finish()
    }
}

/// hiredis's reader, as Squall builds it: an array header announcing more elements than any
/// reply could need is a protocol error, not an allocation of that many pointers (found by
/// `make fuzz`: 15 bytes made hiredis 0.14 ask for 16 GB).
@Suite struct RedisReaderBoundsTests {
    func read(_ text: String) throws -> [RedisValue] {
        let reader = RedisReader()
        try Array(text.utf8).withUnsafeBytes { try reader.feed($0) }
        var out: [RedisValue] = []
        while let v = try reader.next() { out.append(v) }
        return out
    }

    @Test func aHugeArrayHeaderIsAProtocolError() {
        #expect(throws: RedisError.self) { try read("*2147483647\r\n") }
        #expect(throws: RedisError.self) { try read("*\(RedisReader.maxElements + 1)\r\n") }
        #expect(throws: RedisError.self) { try read("*2\r\n*2000000\r\n") }
    }

    @Test func repliesUnderTheBoundReadAsBefore() throws {
        #expect(
            try read("*2\r\n$3\r\nabc\r\n*2\r\n:-7\r\n$-1\r\n") == [.array([.string(Array("abc".utf8)), .array([.integer(-7), .null])])])
        #expect(try read("+OK\r\n-ERR no\r\n*0\r\n*-1\r\n") == [.status("OK"), .error("ERR no"), .array([]), .null])
        let big = "*\(RedisReader.maxElements)\r\n" + String(repeating: ":1\r\n", count: RedisReader.maxElements)
        #expect(try read(big).first?.array?.count == RedisReader.maxElements)
    }
}
