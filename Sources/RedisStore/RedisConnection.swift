import NIOCore
import NIOPosix

/// A Lua script Squall runs with `EVALSHA`.
struct RedisScript: Sendable {
    let name: String
    let source: String
}

/// One connection to one Redis server, owned by one event loop: every call happens on that
/// loop and completes on it, so an announce never changes thread to reach Redis. Commands sent
/// while it connects wait (at most `maxQueued` of them); after a failure it stays down for a
/// backoff (50 ms doubling to 2 s) during which commands fail at once, then reconnects on the
/// next command. Each connection authenticates, selects its database and loads the scripts
/// before carrying commands.
final class RedisConnection: Sendable {
    typealias Callback = RedisPipelineHandler.Callback
    let loop: any EventLoop
    let endpoint: RedisEndpoint
    private let options: RedisOptions
    private let scripts: [RedisScript]
    private static let maxQueued = 4096
    private static let firstBackoff = TimeAmount.milliseconds(50)
    private static let maxBackoff = TimeAmount.seconds(2)

    private enum State {
        case down(retryAt: NIODeadline, reason: String)
        case connecting
        case ready(RedisPipelineHandler)
    }
    /// What changes as the connection comes and goes: touched only on `loop` (checked).
    private struct Mutable {
        var state: State = .down(retryAt: .distantPast, reason: "not connected")
        var queued: [(command: RedisArguments, callback: Callback)] = []
        var backoff = RedisConnection.firstBackoff
        var shas: [String: [UInt8]] = [:]
    }
    private let mutable: NIOLoopBoundBox<Mutable>
    /// The store's sample hints for the torrents this connection carries (on `loop` only).
    let hints: NIOLoopBoundBox<SampleHints>

    init(endpoint: RedisEndpoint, options: RedisOptions, scripts: [RedisScript], loop: any EventLoop) {
        self.endpoint = endpoint
        self.options = options
        self.scripts = scripts
        self.loop = loop
        mutable = NIOLoopBoundBox.makeBoxSendingValue(Mutable(), eventLoop: loop)
        hints = NIOLoopBoundBox.makeBoxSendingValue(SampleHints(), eventLoop: loop)
    }

    /// Runs `body` on this link's loop: inline when already there.
    func onLoop(_ body: @escaping @Sendable () -> Void) {
        if loop.inEventLoop { body() } else { loop.execute(body) }
    }

    func command(_ arguments: [[UInt8]], _ callback: @escaping Callback) {
        send(RedisArguments(arguments), callback)
    }

    func command(_ arguments: RedisArguments, _ callback: @escaping Callback) {
        send(arguments, callback)
    }

    /// `EVALSHA`; after `NOSCRIPT` (someone flushed the script cache) the script is sent whole
    /// with `EVAL`, which loads it again. `tail` is the key count, the keys and the arguments.
    func eval(_ script: RedisScript, tail: RedisArguments, _ callback: @escaping Callback) {
        guard let sha = mutable.value.shas[script.name] else {
            command(Self.prefixed(["EVAL", script.source], tail), callback)
            return
        }
        var evalsha = RedisArguments()
        evalsha.append("EVALSHA")
        evalsha.append(sha)
        evalsha.append(contentsOf: tail)
        command(evalsha) { result in
            if case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT") {
                self.command(Self.prefixed(["EVAL", script.source], tail), callback)
            } else {
                callback(result)
            }
        }
    }

    func eval(_ script: RedisScript, keys: [[UInt8]], arguments: [[UInt8]], _ callback: @escaping Callback) {
        eval(script, tail: RedisArguments([Array(String(keys.count).utf8)] + keys + arguments), callback)
    }

    private static func prefixed(_ head: [String], _ tail: RedisArguments) -> RedisArguments {
        var a = RedisArguments()
        for h in head { a.append(h) }
        a.append(contentsOf: tail)
        return a
    }

    func send(_ command: RedisArguments, _ callback: @escaping Callback) {
        loop.preconditionInEventLoop()
        switch mutable.value.state {
        case .ready(let handler):
            handler.send(command, callback)
        case .connecting:
            guard mutable.value.queued.count < Self.maxQueued else {
                callback(.failure(RedisError("\(endpoint): too many commands waiting for a connection")))
                return
            }
            mutable.value.queued.append((command, callback))
        case .down(let retryAt, let reason):
            guard NIODeadline.now() >= retryAt else {
                callback(.failure(RedisError("\(endpoint): \(reason)")))
                return
            }
            mutable.value.queued.append((command, callback))
            connect()
        }
    }

    /// Closes the connection, if any (commands waiting on it fail).
    func close() {
        onLoop {
            if case .ready(let handler) = self.mutable.value.state { handler.close() }
        }
    }

    private func connect() {
        mutable.value.state = .connecting
        let handler = RedisPipelineHandler(timeout: options.timeout.timeAmount)
        let bound = NIOLoopBound(handler, eventLoop: loop)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(options.connectTimeout.timeAmount)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(bound.value) }
            }
        let connected: EventLoopFuture<any Channel> =
            switch endpoint {
            case .tcp(let host, let port):
                // An address needs no resolver (NIO's runs getaddrinfo on a shared dispatch queue).
                if let address = try? SocketAddress(ipAddress: host, port: port) {
                    bootstrap.connect(to: address)
                } else {
                    bootstrap.connect(host: host, port: port)
                }
            case .unix(let path): bootstrap.connect(unixDomainSocketPath: path)
            }
        connected.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                channel.closeFuture.assumeIsolated().whenComplete { _ in self.lost(handler) }
                self.handshake(handler)
            case .failure(let error):
                self.failed("\(error)")
            }
        }
    }

    /// AUTH, SELECT and SCRIPT LOAD, pipelined; the queued commands go once all succeeded.
    private func handshake(_ handler: RedisPipelineHandler) {
        var steps: [(name: String, command: [[UInt8]])] = []
        if let password = options.password {
            steps.append(
                ("authentication", [Array("AUTH".utf8)] + (options.username.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)]))
        }
        if options.database != 0 {
            steps.append(("SELECT \(options.database)", [Array("SELECT".utf8), Array(String(options.database).utf8)]))
        }
        for s in scripts { steps.append(("loading script \(s.name)", [Array("SCRIPT".utf8), Array("LOAD".utf8), Array(s.source.utf8)])) }
        var remaining = steps.count
        var problem: String?
        let finish = {
            if let problem {
                handler.close()
                self.failed(problem)
                return
            }
            self.mutable.value.state = .ready(handler)
            self.mutable.value.backoff = Self.firstBackoff
            let queued = self.mutable.value.queued
            self.mutable.value.queued = []
            for q in queued { handler.send(q.command, q.callback) }
        }
        if steps.isEmpty { return finish() }
        for step in steps {
            handler.send(RedisArguments(step.command)) { result in
                switch result {
                case .success(.error(let message)): problem = problem ?? "\(step.name) failed: \(message)"
                case .failure(let error): problem = problem ?? "\(error)"
                case .success(let value):
                    if step.name.hasPrefix("loading script"), let sha = value.bytes,
                        let name = self.scripts.first(where: { step.name == "loading script \($0.name)" })?.name
                    {
                        self.mutable.value.shas[name] = sha
                    }
                }
                remaining -= 1
                if remaining == 0 { finish() }
            }
        }
    }

    private func lost(_ handler: RedisPipelineHandler) {
        // Only the current connection's loss matters; a failed handshake already moved on.
        guard case .ready(let current) = mutable.value.state, current === handler else { return }
        mutable.value.state = .down(retryAt: .now(), reason: "connection lost")
    }

    private func failed(_ reason: String) {
        mutable.value.state = .down(retryAt: .now() + mutable.value.backoff, reason: reason)
        mutable.value.backoff = min(mutable.value.backoff * 2, Self.maxBackoff)
        let queued = mutable.value.queued
        mutable.value.queued = []
        for q in queued { q.callback(.failure(RedisError("\(endpoint): \(reason)"))) }
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
