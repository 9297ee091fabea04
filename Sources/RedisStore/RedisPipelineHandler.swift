import NIOCore

/// The bytes of one Redis connection, on its event loop: commands go out as they come
/// (pipelined), replies are parsed by hiredis's reader and matched to callbacks in order.
///
/// A command not answered within `timeout` fails every waiting command and closes the
/// connection: replies are matched by position, so a late reply cannot be skipped.
final class RedisPipelineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    typealias Callback = (Result<RedisValue, RedisError>) -> Void

    private struct Waiting {
        var callback: Callback
        var deadline: NIODeadline
    }

    private let reader = RedisReader()
    private let timeout: TimeAmount
    private var waiting = CircularBuffer<Waiting>(initialCapacity: 64)
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var flushScheduled = false
    private var outgoing: ByteBuffer?
    private var failure: RedisError?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        connectionEnded()
    }

    /// Queues `command`. Commands sent during one event-loop tick are formatted into one buffer
    /// and written once at the end of the tick, so the announces read in one tick reach Redis
    /// in one write. Call on the channel's loop.
    func send(_ command: RedisArguments, _ callback: @escaping Callback) {
        guard let context, failure == nil else {
            callback(.failure(failure ?? RedisError("connection closed")))
            return
        }
        waiting.append(Waiting(callback: callback, deadline: .now() + timeout))
        if outgoing == nil { outgoing = context.channel.allocator.buffer(capacity: 4096) }
        RedisCommand.encode(command, into: &outgoing!)
        if timer == nil { armTimer(context) }
        if !flushScheduled {
            flushScheduled = true
            context.eventLoop.assumeIsolated().execute {
                self.flushScheduled = false
                guard let context = self.context, let bytes = self.outgoing else { return }
                self.outgoing = nil
                context.writeAndFlush(self.wrapOutboundOut(bytes), promise: nil)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            try buffer.withUnsafeReadableBytes { try reader.feed($0) }
            while let value = try reader.next() {
                guard let first = waiting.popFirst() else { throw RedisError("reply with no command waiting") }
                first.callback(.success(value))
            }
        } catch {
            fail(context, error as? RedisError ?? RedisError("\(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connectionEnded()
        context.fireChannelInactive()
    }

    /// The connection is gone: what waits fails, and so does every later `send`. The link keeps
    /// sending here until the channel's close future completes, a loop tick after this, and a
    /// command queued on a dead connection would never be answered (no reply, and no context
    /// left for its timeout).
    private func connectionEnded() {
        if failure == nil { failure = RedisError("connection closed") }
        failAll(failure!)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, RedisError("\(error)"))
    }

    private func armTimer(_ context: ChannelHandlerContext) {
        guard let first = waiting.first else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: first.deadline) {
            self.timer = nil
            guard let context = self.context, let head = self.waiting.first else { return }
            if head.deadline <= .now() {
                self.fail(context, RedisError("no reply within \(self.timeout.nanoseconds / 1_000_000) ms"))
            } else {
                self.armTimer(context)
            }
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ error: RedisError) {
        if failure == nil { failure = error }
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        outgoing = nil
        timer?.cancel()
        timer = nil
        while let w = waiting.popFirst() { w.callback(.failure(error)) }
    }
}

extension RedisPipelineHandler {
    /// Closes the connection; waiting commands fail.
    func close() {
        guard let context else { return }
        fail(context, RedisError("connection closed"))
    }
}

// Touched only on its channel's event loop, as NIO handlers are: never sent elsewhere.
@available(*, unavailable)
extension RedisPipelineHandler: Sendable {}
