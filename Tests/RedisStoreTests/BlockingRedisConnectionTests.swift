import RedisStore
import Testing
import TrackerTestSupport

/// The hiredis boundary against a real redis-server.
@Suite struct RedisConnectionTests {
    @Test func repliesOfEveryTypeAreCopiedOut() throws {
        let server = try RedisServer()
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(2))
        #expect(try c.command("PING") == .status("PONG"))
        #expect(try c.command("SET", "k", "v") == .status("OK"))
        #expect(try c.command("GET", "k") == .string(Array("v".utf8)))
        #expect(try c.command("GET", "missing") == .null)
        #expect(try c.command("INCRBY", "n", "41") == .integer(41))
        #expect(try c.command("RPUSH", "l", "a", "b") == .integer(2))
        #expect(try c.command("LRANGE", "l", "0", "-1") == .array([.string([0x61]), .string([0x62])]))
        // Error replies are values, and the connection goes on working.
        guard case .error(let message) = try c.command("INCR", "l") else {
            Issue.record("no error reply")
            return
        }
        #expect(message.hasPrefix("WRONGTYPE"))
        #expect(
            try c.command("EVAL", "return {1, 'two', {3}}", "0")
                == .array([.integer(1), .string(Array("two".utf8)), .array([.integer(3)])]))
    }

    @Test func keysAndValuesAreBinarySafe() throws {
        let server = try RedisServer()
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(2))
        let key: [UInt8] = [0, 0xFF, 0x7B, 0x7D, 0x0D, 0x0A, 0x20, 0]
        let value = (0...255).map(UInt8.init)
        #expect(try c.command([Array("SET".utf8), key, value]) == .status("OK"))
        #expect(try c.command([Array("GET".utf8), key]) == .string(value))
        #expect(try c.command([Array("STRLEN".utf8), key]) == .integer(256))
        #expect(try c.command([Array("SET".utf8), [], []]) == .status("OK"), "empty key and value")
        #expect(try c.command([Array("GET".utf8), []]) == .string([]))
    }

    @Test func unixSocketsWork() throws {
        let server = try RedisServer()
        let c = try BlockingRedisConnection(.unix(path: server.socketPath), timeout: .seconds(2))
        #expect(try c.command("PING") == .status("PONG"))
    }

    @Test func failuresNameTheServerAndTheReason() throws {
        let port = try FreePort.next()
        do {
            _ = try BlockingRedisConnection(.tcp(host: "127.0.0.1", port: port), timeout: .seconds(1))
            Issue.record("connected to nothing")
        } catch {
            #expect(error.description.hasPrefix("127.0.0.1:\(port): "), "\(error)")
            #expect(error.description.contains("refused"), "\(error)")
        }
        // A server that goes away mid-connection: the next command throws.
        let server = try RedisServer()
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(1))
        #expect(try c.command("PING") == .status("PONG"))
        server.stop()
        #expect(throws: RedisError.self) { try c.command("PING") }
    }

    @Test func aCommandThatTakesTooLongTimesOut() throws {
        let server = try RedisServer()
        let c = try BlockingRedisConnection(server.endpoint, timeout: .milliseconds(200))
        // DEBUG SLEEP holds the server for longer than the command timeout.
        #expect(throws: RedisError.self) { try c.command("DEBUG", "SLEEP", "1") }
    }
}
