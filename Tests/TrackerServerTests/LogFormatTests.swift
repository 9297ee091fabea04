import Foundation
import Logging
import Testing

@testable import TrackerServer

#if canImport(Glibc)
    import Glibc
#endif

/// `log_format`: journald's priorities, one JSON object per line, and `auto`'s choice.
@Suite struct LogFormatTests {
    static let time = Date(timeIntervalSince1970: 1_796_400_000.25)

    @Test func jsonIsOneObjectPerLine() throws {
        let line = FormattedLogHandler.line(
            format: .json, level: .warning, message: "store \"down\"\nagain", metadata: ["failed": "3", "level": "spoof", "a": "x<y"],
            label: "squall", source: "TrackerServer", time: Self.time)
        #expect(line.hasSuffix("}\n") && line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["message"] == "store \"down\"\nagain" && object["level"] == "warning" && object["failed"] == "3")
        #expect(object["time"] == "2026-12-04T16:00:00.250Z" && object["logger"] == "squall" && object["source"] == "TrackerServer")
        #expect(object["a"] == "x<y", "a metadata value is a string")
    }

    @Test func journaldLinesCarryThePriorityAndNoTimestamp() {
        let expected: [(Logger.Level, Int)] = [
            (.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
        ]
        for (level, priority) in expected {
            let line = FormattedLogHandler.line(
                format: .journald, level: level, message: "ready", metadata: ["store": "memory", "announce": "http://[::]:6969/announce"],
                label: "squall", source: "TrackerServer", time: Self.time)
            #expect(line == "<\(priority)>ready announce=http://[::]:6969/announce store=memory\n")
        }
        // A newline would start a second journal entry.
        let two = FormattedLogHandler.line(
            format: .journald, level: .error, message: "a\nb", metadata: [:], label: "squall", source: "x", time: Self.time)
        #expect(two == "<3>a\\nb\n")
    }

    @Test func autoIsJournaldOnlyWhenStandardErrorIsTheJournalsStream() throws {
        let path = NSTemporaryDirectory() + "squall-journal-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        defer { unlink(path) }
        let fd = open(path, O_WRONLY)
        defer { close(fd) }
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        let stream = "\(st.st_dev):\(st.st_ino)"
        #expect(LogFormat.auto.resolved(environment: ["JOURNAL_STREAM": stream], descriptor: fd) == .journald)
        #expect(LogFormat.auto.resolved(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"], descriptor: fd) == .text)
        #expect(LogFormat.auto.resolved(environment: [:], descriptor: fd) == .text)
        #expect(LogFormat.json.resolved(environment: ["JOURNAL_STREAM": stream], descriptor: fd) == .json)
    }
}
