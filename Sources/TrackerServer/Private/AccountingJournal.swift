import Foundation
import PrivateCore

#if canImport(Glibc)
    import Glibc
#endif

/// The accounting's journal: a directory of segment files (`segment-<first sequence>.log`,
/// mode 0600), each a run of `JournalRecord`s. Every entry is written (one `write`) before its
/// announce is answered, so a crash of the process loses none; `fdatasync` runs every
/// `accounting.fsync_ms`, which bounds what a power failure may lose. A flush closes the
/// segment being written and opens the next; once the flush is committed, the segments it
/// covered are deleted. Not thread-safe: `Accounting` owns it under its lock.
struct AccountingJournal: ~Copyable {
    let directory: String
    private(set) var fd: Int32 = -1
    private(set) var path = ""
    /// Bytes in the open segment.
    private(set) var bytes = 0
    /// Closed segments whose entries are not committed yet.
    private(set) var closed: [String] = []
    /// Bytes in every segment held.
    private(set) var totalBytes = 0

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens `directory` (created if missing) and reads every segment in it into `records`:
    /// their whole records, in order; the segments are deleted after the next commit.
    init(_ directory: String, firstSequence: UInt64, records: inout [(sequence: UInt64, entry: AccountEntry)]) throws(Failure) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure(description: "cannot create \(directory): \(error.localizedDescription)")
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") }.sorted()
        for name in names {
            let file = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: file) else {
                throw Failure(description: "cannot read \(file)")
            }
            records += JournalRecord.decodeAll([UInt8](data)).records
            closed.append(file)
            totalBytes += data.count
        }
        try startSegment(firstSequence)
    }

    deinit { if fd >= 0 { _ = Glibc.close(fd) } }

    private mutating func startSegment(_ sequence: UInt64) throws(Failure) {
        let name = directory + "/segment-" + String(sequence, radix: 16).leftPadded(to: 16) + ".log"
        let f = Glibc.open(name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard f >= 0 else { throw Failure(description: "cannot open \(name): \(String(cString: strerror(errno)))") }
        (fd, path, bytes) = (f, name, 0)
    }

    /// Writes `record` whole; false if the file took it only in part or not at all.
    mutating func append(_ record: [UInt8]) -> Bool {
        let n = record.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            bytes += n
            totalBytes += n
        }
        return n == record.count
    }

    /// A descriptor of the open segment for `fdatasync` outside the lock (the caller closes it).
    func syncHandle() -> Int32 { dup(fd) }

    /// Closes the open segment (when it holds anything) and starts one at `sequence`; returns
    /// the segments a flush taken now covers.
    mutating func rotate(nextSequence sequence: UInt64) -> [String] {
        if bytes > 0 {
            _ = fdatasync(fd)
            _ = Glibc.close(fd)
            closed.append(path)
            fd = -1
            do {
                try startSegment(sequence)
            } catch {
                // Appends fail (and are counted) until the next rotation opens a segment.
                (path, bytes) = ("", 0)
            }
        } else if fd < 0 {
            try? startSegment(sequence)
        }
        return closed
    }

    /// Deletes `segments` (their entries are committed).
    mutating func committed(_ segments: [String]) {
        let gone = Set(segments)
        for s in segments {
            var st = stat()
            if stat(s, &st) == 0 { totalBytes -= Int(st.st_size) }
            _ = unlink(s)
        }
        closed.removeAll { gone.contains($0) }
        totalBytes = max(totalBytes, bytes)
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
