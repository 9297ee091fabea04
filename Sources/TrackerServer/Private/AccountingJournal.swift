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
/// covered are deleted. While flushes fail (the sink is away), the compaction folds the closed
/// segments into one compact file (`compact-<last sequence>.log`, a `JournalFold`) once they
/// outgrow `accounting.journal_compact_mb` and the last compact file, so the journal grows
/// with the pending keys, not with the announces. Not thread-safe: `Accounting` owns it under
/// its lock; the compaction's reading and writing run outside it (`compact`).
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
    /// The compact file held (one of `closed`), and its bytes.
    private(set) var compactPath: String?
    private(set) var compactBytes = 0

    /// What the directory held at startup: the compact file's fold, and the entries after it.
    struct Replay {
        var fold: JournalFold?
        var entries: [(sequence: UInt64, entry: AccountEntry)] = []
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens `directory` (created if missing) and reads what it holds into `replay`: the newest
    /// compact file (older ones are superseded by it and deleted) and the whole records of every
    /// segment after it, in order; all of them are deleted after the next commit. A compact file
    /// that is not whole is an error (it was written aside and renamed, so only damage cuts it).
    init(_ directory: String, firstSequence: UInt64, maxPeerRows: Int, replay: inout Replay) throws(Failure) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure(description: "cannot create \(directory): \(error.localizedDescription)")
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        for name in names where name.hasPrefix("compact-") && name.hasSuffix(".tmp") { _ = unlink(directory + "/" + name) }
        let compacts = names.filter { $0.hasPrefix("compact-") && $0.hasSuffix(".log") }
        for old in compacts.dropLast() { _ = unlink(directory + "/" + old) }
        if let name = compacts.last {
            let file = directory + "/" + name
            let data = try Self.read(file)
            guard let fold = JournalFold.decode(data, maxPeerRows: maxPeerRows) else {
                throw Failure(description: "\(file) is damaged (not whole); move it aside to start without its entries")
            }
            replay.fold = fold
            (compactPath, compactBytes) = (file, data.count)
            closed.append(file)
            totalBytes += data.count
        }
        let after = replay.fold?.last ?? 0
        for name in names where name.hasPrefix("segment-") && name.hasSuffix(".log") {
            let file = directory + "/" + name
            let data = try Self.read(file)
            replay.entries += JournalRecord.decodeAll(data).records.filter { $0.sequence > after }
            closed.append(file)
            totalBytes += data.count
        }
        try startSegment(firstSequence)
    }

    private static func read(_ file: String) throws(Failure) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: file) else { throw Failure(description: "cannot read \(file)") }
        return [UInt8](data)
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
        if let c = compactPath, gone.contains(c) { (compactPath, compactBytes) = (nil, 0) }
        totalBytes = max(totalBytes, bytes)
    }

    /// Bytes of entries in the closed segments (the compact file's not counted).
    var closedEntryBytes: Int { max(0, totalBytes - bytes - compactBytes) }

    /// Folds `files` (closed segments, the compact file among them or not) into a new compact
    /// file in `directory`: written aside, synced, then renamed into place, so a crash leaves
    /// either the old files or the new one whole (and the replay skips what the newest covers).
    /// Reads and writes only; `compacted` then swaps the files. Returns its path, its bytes and
    /// the fold.
    static func compact(_ files: [String], compact: String?, directory: String, maxPeerRows: Int) throws(Failure) -> (
        path: String, bytes: Int, fold: JournalFold
    ) {
        var fold = JournalFold(maxPeerRows: maxPeerRows)
        if let c = compact, files.contains(c) {
            guard let f = JournalFold.decode(try read(c), maxPeerRows: maxPeerRows) else {
                throw Failure(description: "\(c) is damaged (not whole)")
            }
            fold = f
        }
        for file in files where file != compact {
            let after = fold.last ?? 0
            for (sequence, entry) in JournalRecord.decodeAll(try read(file)).records where sequence > after {
                fold.add(entry, sequence: sequence)
            }
        }
        let name = directory + "/compact-" + String(fold.last ?? 0, radix: 16).leftPadded(to: 16)
        let bytes = fold.encode()
        let f = Glibc.open(name + ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard f >= 0 else { throw Failure(description: "cannot open \(name).tmp: \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { Glibc.write(f, $0.baseAddress, $0.count) }
        let synced = fdatasync(f) == 0
        _ = Glibc.close(f)
        guard written == bytes.count, synced, rename(name + ".tmp", name + ".log") == 0 else {
            let reason = String(cString: strerror(errno))
            _ = unlink(name + ".tmp")
            throw Failure(description: "cannot write \(name).log: \(reason)")
        }
        let dir = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            _ = Glibc.close(dir)
        }
        return (name + ".log", bytes.count, fold)
    }

    /// Swaps `files` for the compact file `path` of `size` bytes that folds them (`compact`).
    mutating func compacted(_ files: [String], into path: String, bytes size: Int) {
        for file in files {
            var st = stat()
            if file == compactPath {
                totalBytes -= compactBytes
            } else if stat(file, &st) == 0 {
                totalBytes -= Int(st.st_size)
            }
            if file != path { _ = unlink(file) }
        }
        let gone = Set(files)
        closed = [path] + closed.filter { !gone.contains($0) && $0 != path }
        (compactPath, compactBytes) = (path, size)
        totalBytes = max(totalBytes + size, bytes + size)
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
