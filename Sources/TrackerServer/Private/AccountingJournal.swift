import Foundation
import PrivateCore

#if canImport(Glibc)
    import Glibc
#endif

/// The accounting's journal: a directory of segment files (`segment-<first sequence>.log`,
/// mode 0600), each a run of `JournalRecord`s. Every entry is written before its announce is
/// answered, so a crash of the process loses none: the open segment is mapped shared and each
/// record copied into the map (the page cache holds it once copied, as after a `write`, without
/// a system call per announce); the file is allocated ahead in `growBytes` steps
/// (`posix_fallocate`, so a full disk fails an append rather than faulting the process) and cut
/// to its records when closed, and a crash leaves a zero tail that reading stops at. Where the
/// file system maps nothing, each record is one `write`. `fdatasync` runs every
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
    /// The open segment's shared map (`mapBytes` of address space; nil: written with `write`),
    /// and how much of the file is allocated for it.
    private var map: UnsafeMutableRawPointer?
    private var allocated = 0
    /// One record's encoding, reused.
    private var scratch: [UInt8] = []

    /// Address space mapped per open segment: a segment this full is closed and the next one
    /// started (256 MiB holds about 1.7 million entries; a flush starts one every `flush_ms`).
    /// 0: nothing mapped, each record one `write` (as where `mmap` fails; for tests).
    let mapBytes: Int
    /// How far ahead of its records the open segment's file is allocated (4 MiB, at most
    /// `mapBytes`).
    var growBytes: Int { min(4 << 20, mapBytes) }

    /// What the directory held at startup: the compact file's fold, and the entries after it.
    struct Replay {
        var fold: JournalFold?
        var entries: [(sequence: UInt64, entry: AccountEntry)] = []
        /// Intents no entry answers (their steps' outcomes are looked up in Redis), by token,
        /// and the highest token seen.
        var intents: [UInt64: AccountIntent] = [:]
        var lastToken: UInt64 = 0
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens `directory` (created if missing) and reads what it holds into `replay`: the newest
    /// compact file (older ones are superseded by it and deleted) and the whole records of every
    /// segment after it, in order; all of them are deleted after the next commit. A compact file
    /// that is not whole is an error (it was written aside and renamed, so only damage cuts it).
    init(_ directory: String, firstSequence: UInt64, maxPeerRows: Int, mapBytes: Int = 256 << 20, replay: inout Replay) throws(Failure) {
        (self.directory, self.mapBytes) = (directory, mapBytes == 0 ? 0 : max(4096, mapBytes))
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
        var segments: [(file: String, bytes: Int, used: Int)] = []
        var next = max(after + 1, firstSequence)
        // In the files' order (a segment's name is its first sequence): an intent is answered
        // by an entry after it (one still in flight is written again into each new segment).
        for name in names where name.hasPrefix("segment-") && name.hasSuffix(".log") {
            let file = directory + "/" + name
            let data = try Self.read(file)
            let (items, used) = JournalRecord.decodeItems(data)
            for item in items {
                switch item {
                case .entry(let sequence, let entry, let token):
                    if sequence > after { replay.entries.append((sequence, entry)) }
                    next = max(next, sequence + 1)
                    if let token {
                        replay.intents[token] = nil
                        replay.lastToken = max(replay.lastToken, token)
                    }
                case .intent(let i):
                    replay.intents[i.token] = i
                    replay.lastToken = max(replay.lastToken, i.token)
                }
            }
            segments.append((file, data.count, used))
        }
        // In sequence order, whatever the files' layout (a journal written by an older build
        // may have continued an earlier segment).
        replay.entries.sort { $0.sequence < $1.sequence }
        // The new segment starts after every entry held. A file of that name holds no entry (a
        // segment's entries start at its name's sequence, and `next` is past every one), only
        // intents written at its start: it is kept to its whole records, so nothing is ever
        // appended behind a crash's cut record, and the intents stay on disk throughout.
        let open = Self.segmentName(directory, next)
        for s in segments where s.file != open {
            closed.append(s.file)
            totalBytes += s.bytes
        }
        try startSegment(next, keep: segments.first { $0.file == open }?.used ?? 0)
        // Every intent not answered, again in the open segment (the older segments go with the
        // next commit).
        for i in replay.intents.values.sorted(by: { $0.token < $1.token }) {
            guard append(i, sequence: next) else { throw Failure(description: "cannot write \(path)") }
        }
    }

    static func segmentName(_ directory: String, _ sequence: UInt64) -> String {
        directory + "/segment-" + String(sequence, radix: 16).leftPadded(to: 16) + ".log"
    }

    private static func read(_ file: String) throws(Failure) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: file) else { throw Failure(description: "cannot read \(file)") }
        return [UInt8](data)
    }

    deinit { Self.release(fd, map, mapBytes, records: bytes, allocated: allocated) }

    /// Opens segment `sequence`, empty or cut to its first `keep` bytes, and maps it.
    private mutating func startSegment(_ sequence: UInt64, keep: Int = 0) throws(Failure) {
        let name = Self.segmentName(directory, sequence)
        let f = Glibc.open(name, O_RDWR | O_CREAT | O_CLOEXEC | (keep > 0 ? 0 : O_TRUNC), 0o600)
        guard f >= 0 else { throw Failure(description: "cannot open \(name): \(String(cString: strerror(errno)))") }
        guard keep == 0 || (ftruncate(f, off_t(keep)) == 0 && lseek(f, off_t(keep), SEEK_SET) == off_t(keep)) else {
            let reason = String(cString: strerror(errno))
            _ = Glibc.close(f)
            throw Failure(description: "cannot cut \(name): \(reason)")
        }
        (fd, path, bytes, allocated) = (f, name, keep, keep)
        totalBytes += keep
        guard mapBytes > 0 else { return map = nil }
        let m = mmap(nil, mapBytes, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0)
        map = m == UnsafeMutableRawPointer(bitPattern: -1) ? nil : m
    }

    /// Unmaps and closes the open segment, its file cut to its records; none is open after it
    /// (so a failed reopen never lists the closed one twice).
    private mutating func closeSegment() {
        Self.release(fd, map, mapBytes, records: bytes, allocated: allocated)
        (fd, map, allocated, path, bytes) = (-1, nil, 0, "", 0)
    }

    private static func release(_ fd: Int32, _ map: UnsafeMutableRawPointer?, _ mapBytes: Int, records: Int, allocated: Int) {
        guard fd >= 0 else { return }
        if let map { _ = munmap(map, mapBytes) }
        if allocated > records { _ = ftruncate(fd, off_t(records)) }
        _ = Glibc.close(fd)
    }

    /// Journals `e` with `sequence` (and the token of its step's intent, when not 0); false if
    /// it could not be written whole (counted by the caller as a journal error; the entry still
    /// counts).
    mutating func append(_ e: AccountEntry, sequence: UInt64, token: UInt64 = 0) -> Bool {
        scratch.removeAll(keepingCapacity: true)
        JournalRecord.encode(e, sequence: sequence, token: token, into: &scratch)
        return put(sequence)
    }

    /// Journals intent `i` (a segment it starts is named `sequence`, the next entry's).
    mutating func append(_ i: AccountIntent, sequence: UInt64) -> Bool {
        scratch.removeAll(keepingCapacity: true)
        JournalRecord.encode(i, into: &scratch)
        return put(sequence)
    }

    /// Writes the record in `scratch`.
    private mutating func put(_ sequence: UInt64) -> Bool {
        guard fd >= 0 || reopen(sequence) else { return false }
        let n = scratch.count
        guard let map else {
            let w = scratch.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if w > 0 { (bytes, totalBytes) = (bytes + w, totalBytes + w) }
            return w == n
        }
        if bytes + n > mapBytes {
            // A full map: this segment is closed and the record starts the next one.
            guard bytes > 0, rotateFull(sequence) else { return false }
            return put(sequence)
        }
        if bytes + n > allocated {
            // At least to the record's end (which is inside the map), at most to the map's.
            let grow = min(mapBytes - allocated, max(growBytes, bytes + n - allocated))
            guard posix_fallocate(fd, off_t(allocated), off_t(grow)) == 0 else { return false }
            allocated += grow
        }
        scratch.withUnsafeBytes { (map + bytes).copyMemory(from: $0.baseAddress!, byteCount: n) }
        (bytes, totalBytes) = (bytes + n, totalBytes + n)
        return true
    }

    /// After a failed rotation left no open segment, opens one starting at `sequence`.
    private mutating func reopen(_ sequence: UInt64) -> Bool {
        do { try startSegment(sequence) } catch { return false }
        return true
    }

    /// Closes a segment whose map is full (kept until a flush covers it) and opens the next.
    private mutating func rotateFull(_ sequence: UInt64) -> Bool {
        _ = fdatasync(fd)
        closed.append(path)
        closeSegment()
        return reopen(sequence)
    }

    /// A descriptor of the open segment for `fdatasync` outside the lock (the caller closes it).
    func syncHandle() -> Int32 { dup(fd) }

    /// Closes the open segment (when it holds anything) and starts one at `sequence`; returns
    /// the segments a flush taken now covers.
    mutating func rotate(nextSequence sequence: UInt64) -> [String] {
        if bytes > 0 {
            _ = fdatasync(fd)
            closed.append(path)
            closeSegment()
            // On failure the next append tries again (and fails, counted, until one opens).
            _ = reopen(sequence)
        } else if fd < 0 {
            _ = reopen(sequence)
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
