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
