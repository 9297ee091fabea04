import CSquallSockets
import NIOCore
import NIOPosix
import Synchronization
import TrackerCore
import TrackerProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// Accepts plain-HTTP connections on threads of its own and answers a client that connects for
/// one request without building a NIO channel for it.
///
/// Many clients open a connection per announce and ask to close it. A NIO channel costs such a
/// connection more than its announce does (allocating the channel and its pipeline, promises,
/// and six more system calls: `getsockname`, `getpeername`, three `epoll_ctl` to register and one
/// to deregister). Here each connection is `accept4`, `read`, `write`, `close`: the listening
/// socket defers accepting until the request's bytes are there (`TCP_DEFER_ACCEPT`), so the read
/// finds them. Every other connection (keep-alive, a head not complete in the first read, a
/// body, a reply the socket did not take in one write) is handed to an event loop as a NIO
/// channel, with what was read or what is left to write, and `TrackerConnectionHandler` serves it
/// as it serves every other connection. Departure from NIO: accepting happens outside its
/// `ServerSocketChannel`; measured in Benchmarks/ (the close rows) and explained in the README.
///
/// Threads block in `accept4` (dedicated threads, never an event loop's); `stop` wakes them.
final class HTTPAcceptor: Sendable {
    private let socket: ListeningSocket
    private let loops: [any EventLoop]
    private let router: TrackerRouter
    /// At start: sizes the read buffers (`http.max_header_bytes` changes with a restart only).
    /// Each connection takes the limits in force when it is accepted.
    private let limits: ConnectionLimits
    private let registry: ConnectionRegistry
    private let pool: NIOThreadPool
    /// Requests the fast path routed whose reply is not written yet (the Redis store answers
    /// later, from an event loop).
    private let pending = Atomic<Int>(0)
    /// Connections start with a PROXY protocol header, from `trusted_proxies` only.
    private let proxyProtocol: Bool
    /// A `metrics.listen` listener: `/metrics`, `/health` and `/ready` only.
    private let metricsOnly: Bool

    var bound: SocketAddress { socket.bound }

    init(
        socket: ListeningSocket, loops: [any EventLoop], router: TrackerRouter, limits: ConnectionLimits, registry: ConnectionRegistry,
        proxyProtocol: Bool = false, metricsOnly: Bool = false
    ) {
        self.proxyProtocol = proxyProtocol
        self.metricsOnly = metricsOnly
        self.socket = socket
        self.loops = loops
        self.router = router
        self.limits = limits
        self.registry = registry
        self.pool = NIOThreadPool(numberOfThreads: loops.count)
    }

    /// Starts one accepting thread per event loop; each hands its connections to its own loop.
    func start() {
        pool.start()
        for i in loops.indices {
            pool.submit { [self] state in
                guard case .active = state else { return }
                acceptLoop(loop: loops[i])
            }
        }
    }

    /// Stops accepting, waits for the threads to leave, then for replies still being answered
    /// (until `deadline`). Connections already handed to event loops are the registry's.
    func stop(deadline: NIODeadline) async {
        socket.wake()
        try? await pool.shutdownGracefully()
        socket.close()
        while pending.load(ordering: .acquiring) > 0, NIODeadline.now() < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    // MARK: the accepting thread

    private func acceptLoop(loop: any EventLoop) {
        // As much as a connection may buffer unanswered, so that a request refused for its size
        // is usually read whole: closing with bytes unread would reset the connection and the
        // client could lose the reply.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(limits.maxBufferedBytes, 16 * 1024), alignment: 16)
        defer { buffer.deallocate() }
        let flags = CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        var starved = false
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = squall_accept4(socket.descriptor, &storage, &length, flags)
            if fd < 0 {
                let code = errno
                switch code {
                case EINTR, ECONNABORTED, EAGAIN, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: let connections close before trying again.
                    if !starved {
                        router.logger.warning(
                            "cannot accept HTTP connections", metadata: ["error": "\(IOError(errnoCode: code, reason: "accept4"))"])
                        starved = true
                    }
                    usleep(10_000)
                    continue
                default:
                    // EINVAL once `stop` shut the socket down.
                    return
                }
            }
            starved = false
            let remote = PeerAddress(storage)
            // The configuration in force when it was accepted holds for the connection's life.
            let current = router.live.current
            let trusted = current.config.trustedProxies
            if proxyProtocol, !trusted.trusts(remote) {
                router.metrics.refused(.untrustedProxy)
                _ = Glibc.close(fd)
                continue
            }
            let source = remote.flatMap(trusted.sourceKey)
            if let refusal = registry.admit(source) {
                router.metrics.refused(refusal)
                _ = Glibc.close(fd)
                continue
            }
            serve(fd, remote: remote, source: source, limits: current.limits, loop: loop, buffer: buffer)
        }
    }

    private func serve(
        _ fd: CInt, remote: PeerAddress?, source: SourceKey?, limits: ConnectionLimits, loop: any EventLoop,
        buffer: UnsafeMutableRawBufferPointer
    ) {
        // The header deadline runs from accept, wherever the connection ends up being served.
        var machine = ConnectionStateMachine(limits: limits, acceptedAt: .now())
        var n: Int
        repeat { n = read(fd, buffer.baseAddress, buffer.count) } while n < 0 && errno == EINTR
        if n == 0 { return close(fd, source) }
        if n < 0 {
            // Deferred accepting timed out before the client sent anything: let a loop wait.
            if errno == EAGAIN || errno == EWOULDBLOCK {
                router.metrics.connection(.onLoopWaiting)
                return handOff(fd, source, machine, proxyHeader: proxyProtocol ? ByteBuffer() : nil, to: loop)
            }
            return close(fd, source)
        }
        var bytes = UnsafeRawBufferPointer(rebasing: buffer[..<n])
        var remote = remote
        var proxied: PeerAddress?
        if proxyProtocol {
            switch ProxyHeader.parse(bytes) {
            case .invalid:
                router.metrics.closed(.proxyHeader)
                return close(fd, source)
            case .incomplete:
                router.metrics.connection(.onLoop)
                return handOff(fd, source, machine, proxyHeader: ByteBuffer(bytes: bytes), to: loop)
            case .header(let client, let consumed):
                if let client { (remote, proxied) = (client.address, client.address) }
                bytes = UnsafeRawBufferPointer(rebasing: bytes[consumed...])
            }
        }
        guard let remote, let head = machine.oneShot(bytes) else {
            router.metrics.connection(.onLoop)
            if !bytes.isEmpty { machine.received(ByteBuffer(bytes: bytes), now: .now()) }
            return handOff(fd, source, machine, proxied: proxied, to: loop)
        }
        pending.add(1, ordering: .relaxed)
        let routed = machine
        let route: @Sendable () -> Void = { [self, proxied] in
            router.route(head, remote: remote, transport: .http, metricsOnly: metricsOnly) { [self] reply in
                finish(fd, source, routed, reply, proxied: proxied, loop: loop)
                pending.subtract(1, ordering: .releasing)
            }
        }
        // A store in this process answers here, with no hop. A networked store's connections
        // belong to the loops: route on this thread's own loop, so the command goes out on that
        // loop's link (not spread over every loop's) and the reply comes back on the same loop.
        if router.storeCompletesInline { route() } else { loop.execute(route) }
    }

    /// Writes the reply and closes; what the socket does not take at once goes to an event loop.
    private func finish(
        _ fd: CInt, _ source: SourceKey?, _ routed: ConnectionStateMachine, _ reply: HTTPReply, proxied: PeerAddress?, loop: any EventLoop
    ) {
        var machine = routed
        guard case .write(let framing) = machine.replied(close: true, now: .now()) else { return close(fd, source) }
        var out = ByteBuffer(reply: reply, framing, allocator: ByteBufferAllocator())
        var written: Int
        repeat {
            written = out.withUnsafeReadableBytes { send(fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL)) }
        } while written < 0 && errno == EINTR
        if written < 0 {
            // EAGAIN: the socket took nothing yet. Anything else: the client is gone, so there is
            // nothing left to write.
            written = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : out.readableBytes
        }
        if written == out.readableBytes {
            router.metrics.connection(.atAccept)
            return close(fd, source)
        }
        out.moveReaderIndex(forwardBy: written)
        router.metrics.connection(.onLoopWriting)
        handOff(fd, source, machine, replying: out, proxied: proxied, to: loop)
    }

    private func close(_ fd: CInt, _ source: SourceKey?) {
        _ = Glibc.close(fd)
        registry.release(source)
    }

    /// Makes `fd` a NIO channel on `loop`, served by a `TrackerConnectionHandler` that goes on
    /// from `machine` (and first writes `replying`, when given), and then owns the connection's
    /// place in the registry. `proxyHeader`: the PROXY header is not read yet (these are its
    /// first bytes); `proxied`: the client one named.
    private func handOff(
        _ fd: CInt, _ source: SourceKey?, _ machine: ConnectionStateMachine, replying: ByteBuffer? = nil, proxyHeader: ByteBuffer? = nil,
        proxied: PeerAddress? = nil, to loop: any EventLoop
    ) {
        let (router, registry, timeout, metricsOnly) = (router, registry, machine.limits.headerTimeout, metricsOnly)
        let claim = ClaimFlag()
        ClientBootstrap(group: loop)
            .channelOption(.maxMessagesPerRead, value: 16)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                do {
                    if let proxyHeader {
                        try channel.pipeline.syncOperations.addHandler(
                            ProxyHeaderHandler(initial: proxyHeader, timeout: timeout, metrics: router.metrics))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        TrackerConnectionHandler(
                            router: router, registry: registry, source: source, machine: machine, replying: replying, proxied: proxied,
                            metricsOnly: metricsOnly))
                    claim.set()
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .withConnectedSocket(fd)
            .whenFailure { _ in
                // Before the handler took the connection's place, nobody else gives it back.
                if !claim.isSet { registry.release(source) }
            }
    }
}

/// Set once a handler has taken over a handed-off connection's place in the open count.
private final class ClaimFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
