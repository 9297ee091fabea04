public import NIOCore

/// Where a TLS listener gets its certificates: read once per new connection, replaced whole
/// on reload, so connections already open keep the set they started with.
public protocol TLSContextProvider: Sendable {
    var current: TLSContextSet { get }
}

/// Terminates TLS on one connection: ciphertext from the socket in, plaintext to the next
/// handler; plaintext from the next handler out as ciphertext. Closes the connection, sending
/// nothing, when the handshake fails or does not finish within `handshakeTimeout` (plaintext
/// HTTP sent to the TLS port is answered with a 400 that says so). A close_notify from the
/// client reaches the next handler as `ChannelEvent.inputClosed`, so a request right before it
/// is still answered; the close that follows sends Squall's own close_notify.
public final class TLSServerHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Where the connection stands; each event is handled by what the state allows.
    enum State: Equatable {
        /// Nothing received yet: the first byte tells TLS from plain HTTP.
        case awaitingFirstByte
        case handshaking
        /// Application data both ways.
        case established
        /// The client sent close_notify: no more input, replies may still go out.
        case inputClosed
        /// Closing: nothing more is read or written.
        case closing
    }

    private let provider: any TLSContextProvider
    private let handshakeTimeout: TimeAmount
    private let onHandshakeFailure: (@Sendable (String) -> Void)?
    private var connection: TLSConnection?
    private var timeout: Scheduled<Void>?
    private(set) var state = State.awaitingFirstByte
    /// Whether replies may still be encrypted and sent.
    private var canWrite: Bool { state == .established || state == .inputClosed }
    private var producedPlaintext = false

    /// `onHandshakeFailure` hears of every handshake that fails or times out, with OpenSSL's reason.
    public init(provider: any TLSContextProvider, handshakeTimeout: TimeAmount, onHandshakeFailure: (@Sendable (String) -> Void)? = nil) {
        self.provider = provider
        self.handshakeTimeout = handshakeTimeout
        self.onHandshakeFailure = onHandshakeFailure
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        connection = try? TLSConnection(contexts: provider.current)
        let channel = context.channel
        let failed = onHandshakeFailure
        timeout = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            failed?("handshake timeout")
            channel.close(promise: nil)
        }
        if connection == nil {
            state = .closing
            context.close(promise: nil)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        connection = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection else { return }
        let incoming = unwrapInboundIn(data)
        switch state {
        case .closing, .inputClosed:
            return
        case .awaitingFirstByte:
            guard let first = incoming.getInteger(at: incoming.readerIndex, as: UInt8.self) else { return }
            // A TLS connection starts with a handshake record (0x16); an upper-case ASCII letter
            // is an HTTP method: someone used http:// with the TLS port. Say so, as nginx does.
            if first >= UInt8(ascii: "A"), first <= UInt8(ascii: "Z") { return answerPlainHTTP(context) }
            state = .handshaking
        case .handshaking, .established:
            break
        }
        incoming.withUnsafeReadableBytes { connection.feed($0) }
        if state == .handshaking {
            switch connection.handshake() {
            case .done:
                state = .established
                timeout?.cancel()
                timeout = nil
            case .needMoreInput:
                flushOutput(context)
                return
            case .closedByPeer:
                return fail(context, "closed during the handshake")
            case .failed(let reason):
                return fail(context, reason)
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

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A FIN before the handshake finished leaves nothing to answer.
        if case .some(.inputClosed) = event as? ChannelEvent, state != .established {
            if state != .inputClosed { fail(context, nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
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
            guard state == .established else { return }
            state = .inputClosed
            if producedPlaintext {
                producedPlaintext = false
                context.fireChannelReadComplete()
            }
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        case .failed:
            fail(context, nil)
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let connection, canWrite else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let plaintext = unwrapOutboundIn(data)
        // Ciphertext is taken out after every chunk, so the output BIO never has to hold a
        // whole large reply.
        var out = context.channel.allocator.buffer(capacity: plaintext.readableBytes + 64)
        let ok = plaintext.withUnsafeReadableBytes { bytes in
            connection.write(bytes, chunk: TLSConnection.drainChunk) { Self.take(from: connection, into: &out) }
        }
        guard ok else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            fail(context, nil)
            return
        }
        context.write(wrapOutboundOut(out), promise: promise)
    }

    /// Moves every byte of ciphertext `connection` holds to the end of `out`.
    private static func take(from connection: TLSConnection, into out: inout ByteBuffer) {
        while connection.pendingOutput > 0 {
            let n = out.writeWithUnsafeMutableBytes(minimumWritableBytes: max(1, connection.pendingOutput)) {
                connection.takeOutput(into: $0)
            }
            if n == 0 { break }
        }
    }

    public func flush(context: ChannelHandlerContext) {
        context.flush()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all {
            if canWrite, let connection {
                connection.shutdown()
                flushOutput(context)
            }
            state = .closing
        }
        context.close(mode: mode, promise: promise)
    }

    // MARK: -

    private func writeOutput(_ context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard let connection else {
            promise?.succeed()
            return
        }
        var out = context.channel.allocator.buffer(capacity: connection.pendingOutput)
        Self.take(from: connection, into: &out)
        context.write(wrapOutboundOut(out), promise: promise)
    }

    private func flushOutput(_ context: ChannelHandlerContext) {
        guard let connection, connection.pendingOutput > 0 else { return }
        writeOutput(context, promise: nil)
        context.flush()
    }

    private func answerPlainHTTP(_ context: ChannelHandlerContext) {
        state = .closing
        timeout?.cancel()
        let body = "400 Bad Request: plain HTTP was sent to an HTTPS port; use https://\n"
        var out = context.channel.allocator.buffer(capacity: 160)
        out.writeString(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n")
        out.writeString(body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Closes without a close_notify; a failure before the connection was established is reported.
    private func fail(_ context: ChannelHandlerContext, _ reason: String?) {
        if state == .handshaking || state == .awaitingFirstByte { onHandshakeFailure?(reason ?? "handshake failed") }
        state = .closing
        timeout?.cancel()
        context.close(promise: nil)
    }
}

// Touched only on its channel's event loop, as NIO handlers are: never sent elsewhere.
@available(*, unavailable)
extension TLSServerHandler: Sendable {}
