public import NIOCore

/// Where a TLS listener gets its certificates: read once per new connection, replaced whole
/// on reload, so connections already open keep the set they started with.
public protocol TLSContextProvider: Sendable {
    var current: TLSContextSet { get }
}

/// Terminates TLS on one connection: ciphertext from the socket in, plaintext to the next
/// handler; plaintext from the next handler out as ciphertext. Closes the connection, sending
/// nothing, when the handshake fails or does not finish within `handshakeTimeout` (plaintext
/// HTTP sent to the TLS port fails the handshake).
public final class TLSServerHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let provider: any TLSContextProvider
    private let handshakeTimeout: TimeAmount
    private var connection: TLSConnection?
    private var timeout: Scheduled<Void>?
    private var closing = false
    private var producedPlaintext = false
    private var sawFirstByte = false

    public init(provider: any TLSContextProvider, handshakeTimeout: TimeAmount) {
        self.provider = provider
        self.handshakeTimeout = handshakeTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        connection = try? TLSConnection(contexts: provider.current)
        let channel = context.channel
        timeout = context.eventLoop.scheduleTask(in: handshakeTimeout) { channel.close(promise: nil) }
        if connection == nil { context.close(promise: nil) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        connection = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection, !closing else { return }
        let incoming = unwrapInboundIn(data)
        if !sawFirstByte, let first = incoming.getInteger(at: incoming.readerIndex, as: UInt8.self) {
            sawFirstByte = true
            // A TLS connection starts with a handshake record (0x16); an upper-case ASCII letter
            // is an HTTP method: someone used http:// with the TLS port. Say so, as nginx does.
            if first >= UInt8(ascii: "A"), first <= UInt8(ascii: "Z") {
                answerPlainHTTP(context)
                return
            }
        }
        incoming.withUnsafeReadableBytes { connection.feed($0) }
        if !connection.handshakeComplete {
            switch connection.handshake() {
            case .done:
                timeout?.cancel()
                timeout = nil
            case .needMoreInput:
                flushOutput(context)
                return
            case .closedByPeer, .failed:
                fail(context)
                return
            }
        }
        readPlaintext(context, connection)
        flushOutput(context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if producedPlaintext {
            producedPlaintext = false
            context.fireChannelReadComplete()
        }
    }

    /// Decrypts everything the ciphertext so far holds into one buffer and hands it on.
    private func readPlaintext(_ context: ChannelHandlerContext, _ connection: TLSConnection) {
        var buffer = context.channel.allocator.buffer(capacity: 4096)
        var progress = TLSConnection.Progress.done
        while progress == .done {
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 4096) { raw in
                let r = connection.read(into: raw)
                progress = r.progress
                return r.count
            }
        }
        if buffer.readableBytes > 0 {
            producedPlaintext = true
            context.fireChannelRead(wrapInboundOut(buffer))
        }
        switch progress {
        case .needMoreInput, .done:
            return
        case .closedByPeer:
            closing = true
            connection.shutdown()
            flushOutput(context)
            context.close(promise: nil)
        case .failed:
            fail(context)
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let connection, connection.handshakeComplete else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let plaintext = unwrapOutboundIn(data)
        let ok = plaintext.withUnsafeReadableBytes { connection.write($0) }
        guard ok else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            fail(context)
            return
        }
        writeOutput(context, promise: promise)
    }

    public func flush(context: ChannelHandlerContext) {
        context.flush()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all, !closing, let connection, connection.handshakeComplete {
            closing = true
            connection.shutdown()
            flushOutput(context)
        }
        context.close(mode: mode, promise: promise)
    }

    // MARK: -

    private func writeOutput(_ context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard let connection else {
            promise?.succeed()
            return
        }
        let pending = connection.pendingOutput
        var out = context.channel.allocator.buffer(capacity: pending)
        while connection.pendingOutput > 0 {
            let n = out.writeWithUnsafeMutableBytes(minimumWritableBytes: max(1, connection.pendingOutput)) {
                connection.takeOutput(into: $0)
            }
            if n == 0 { break }
        }
        context.write(wrapOutboundOut(out), promise: promise)
    }

    private func flushOutput(_ context: ChannelHandlerContext) {
        guard let connection, connection.pendingOutput > 0 else { return }
        writeOutput(context, promise: nil)
        context.flush()
    }

    private func answerPlainHTTP(_ context: ChannelHandlerContext) {
        closing = true
        timeout?.cancel()
        let body = "400 Bad Request: plain HTTP was sent to an HTTPS port; use https://\n"
        var out = context.channel.allocator.buffer(capacity: 160)
        out.writeString(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n")
        out.writeString(body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
    }

    private func fail(_ context: ChannelHandlerContext) {
        closing = true
        timeout?.cancel()
        context.close(promise: nil)
    }
}
