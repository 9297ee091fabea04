/// The Lua scripts that make each store verb one round trip. KEYS of the per-torrent scripts
/// are a torrent's keys in the order `RedisKeys.torrent` gives them: ids, s, l, m, x, index,
/// totals, sources.
///
/// A peer's record is `RedisRecord.size(users:)` bytes (57 on an open tracker, 61 on a private
/// one: the scripts come in two layouts, `open` and `users`, and a Redis holds one of them),
/// kept in its slot of the string `s` or `l` (slot i at byte size·i; the counts are m's `s`
/// and `l`): peer_id (1-20), flags (21:
/// 1 IPv4, 2 IPv6, 4 download counted, 8 partial seed, 16 in s), IPv4 address and port
/// (22-27), IPv6 address and port (28-45), last announce over IPv4 (46-49) and over IPv6
/// (50-53), big-endian, the digest of the BEP 7 key the peer first announced with (54-57,
/// zeros: none) and, in the `users` layout, a private tracker's user (58-61). A peer's field
/// in the ids hash is its peer_id, followed by its user's 4 bytes unless they are zeros; m
/// counts a private torrent's peers per user in fields 'u' .. user.
///
/// Endpoints per source (an IPv4 address or an IPv6 /64) and torrent, for the per-source
/// quota, are counters in the string `sources` (`BITFIELD` u16, saturating), one chosen by the
/// first 24 bits of SHA-1(info_hash hex, family, source bytes) modulo the table's size: two
/// pairs may share a counter, so a count can be too high (never too low) when the table is
/// crowded; at 2^21 counters and a million peers, a quota of 16 or more is never reached by
/// strangers sharing a counter in practice.
/// An announce returns sampled records as they are stored: Squall, not Lua, decodes them and
/// drops endpoints past their time, so the script's work per sampled peer is one hash lookup.
struct RedisScripts: Sendable {
    /// The scripts for an open tracker's records (57 bytes, no user).
    static let open = RedisScripts(users: false)
    /// The scripts for a private tracker's records (61 bytes, with the user).
    static let users = RedisScripts(users: true)

    /// Bytes of a record in this layout.
    let recordSize: Int
    let announce: RedisScript
    let sweepTorrent: RedisScript
    let scrape: RedisScript
    let torrentRows: RedisScript
    let peerRows: RedisScript
    /// What each connection loads.
    var all: [RedisScript] { [announce, sweepTorrent, scrape, torrentRows, peerRows, Self.accountStep] }

    init(users: Bool) {
        let size = RedisRecord.size(users: users)
        recordSize = size
        let common = Self.common(size, users: users)
        announce = Self.announce(common, size, users: users)
        sweepTorrent = Self.sweepTorrent(common)
        scrape = Self.scrape
        torrentRows = Self.torrentRows
        peerRows = Self.peerRows(size)
    }

    /// Slots of the strings s and l. Both exist (maybe empty) and m holds 'd' for as long as the
    /// torrent exists, so every key of a torrent exists: Redis Cluster cannot run a multi-key
    /// script whose keys are partly missing while their slot migrates. Slots at or past the
    /// count hold zeros (a removed peer's record is zeroed), which readers skip.
    static func slots(_ size: Int, users: Bool) -> String {
        // A record's user (4 bytes, zeros on an open tracker).
        let user = users ? "string.sub(rec, 58, 61)" : #"'\0\0\0\0'"#
        return #"""
            local function size(where) return tonumber(redis.call('HGET', KEYS[4], where) or '0') end
            local function slots_key(where) if where == 's' then return KEYS[2] end return KEYS[3] end
            local function rec_at(where, slot) return redis.call('GETRANGE', slots_key(where), slot * \#(size), slot * \#(size) + \#(size - 1)) end
            local function rec_put(where, slot, rec) redis.call('SETRANGE', slots_key(where), slot * \#(size), rec) end
            -- A record's identity in the ids hash: its peer_id, and its user's 4 bytes unless 0 (an
            -- open tracker's fields stay 20 bytes).
            local function rec_user(rec) return \#(user) end
            local function rec_pid(rec)
              local u = rec_user(rec)
              if u == '\0\0\0\0' then return string.sub(rec, 1, 20) end
              return string.sub(rec, 1, 20) .. u
            end

            """#
    }

    /// Shared helpers: slots, removal, the expiry pass, dropping an empty torrent, the
    /// per-source counters. A script sets `q_hex` (the torrent's hex) and `q_cells` (counters in
    /// `sources`) before calling them.
    static func common(_ size: Int, users: Bool) -> String {
        slots(size, users: users) + #"""
            -- Peers holding an IPv4 ('4') or IPv6 ('6') endpoint, in the totals and the torrent's m.
            local function family(f, delta)
              redis.call('HINCRBY', KEYS[6], f, delta)
              redis.call('HINCRBY', KEYS[4], f, delta)
            end
            local q_hex, q_cells = '', 1
            -- A record's source for family f: '4' and the IPv4 address, or '6' and the IPv6 /64.
            local function rec_src(rec, f)
              if f == '4' then return '4' .. string.sub(rec, 22, 25) end
              return '6' .. string.sub(rec, 28, 35)
            end
            -- The count of src's endpoints in this torrent after adding delta (0: just read it).
            local function src_count(src, delta)
              local cell = '#' .. (tonumber(string.sub(redis.sha1hex(q_hex .. src), 1, 6), 16) % q_cells)
              if delta == 0 then return redis.call('BITFIELD', KEYS[7], 'GET', 'u16', cell)[1] end
              return redis.call('BITFIELD', KEYS[7], 'OVERFLOW', 'SAT', 'INCRBY', 'u16', cell, delta)[1]
            end
            -- The older of a record's endpoints' last announces; nil without an endpoint.
            local function oldest(rec)
              local flags, o = string.byte(rec, 21), nil
              if bit.band(flags, 1) ~= 0 then o = struct.unpack('>I', rec, 46) end
              if bit.band(flags, 2) ~= 0 then
                local s6 = struct.unpack('>I', rec, 50)
                if not o or s6 < o then o = s6 end
              end
              return o
            end
            -- The length (whole slots) of a records string that fills the allocation holding want
            -- bytes: Redis's allocator (jemalloc) rounds each allocation up to a size class, four
            -- per power of two, and a string's header and NUL take up to 10 bytes of it.
            local function fitted(want)
              local need = want + 10
              local base = 64
              while base * 2 < need do base = base * 2 end
              local step = base / 4
              local class = base + math.ceil((need - base) / step) * step
              local len = class - 6
              if len >= 65536 then len = class - 10 end
              return math.floor(len / \#(size)) * \#(size)
            end
            -- Strings up to 4 MB are rewritten whole by SET, which allocates exactly: SETRANGE past
            -- the end would let Redis double the allocation. Past 4 MB SETRANGE adds at most 1 MB.
            local function rewrite(where, keep, len)
              local key = slots_key(where)
              local head = ''
              if keep > 0 then head = redis.call('GETRANGE', key, 0, keep - 1) end
              redis.call('SET', key, head .. string.rep('\0', len - #head))
            end
            -- Room for count records in where's string, grown by an eighth at least (to the next size
            -- class or two).
            local function make_room(where, count)
              local have = redis.call('STRLEN', slots_key(where))
              if count * \#(size) <= have then return end
              local len = fitted(math.max(count, math.floor(have / \#(size) * 9 / 8), 8) * \#(size))
              if len <= 4194304 then
                rewrite(where, have, len)
              else
                redis.call('SETRANGE', slots_key(where), len - 1, '\0')
              end
            end
            -- Gives back what a string holds beyond twice what its records need (after a pass).
            local function trim(where)
              local n, have = size(where), redis.call('STRLEN', slots_key(where))
              local len = fitted(math.max(n + math.floor(n / 8), 8) * \#(size))
              if have > 4096 and have > 2 * len and have <= 4194304 then rewrite(where, n * \#(size), len) end
            end
            -- A record now at pos of where that the expiry pass in progress will not visit (the
            -- part of the string it has walked, or s while it walks l): its oldest announce still
            -- counts for the pass, which must end with a lower bound of them all.
            local function note_behind(where, pos, rec)
              local st = redis.call('HMGET', KEYS[4], 'c', 'w', 'o')
              if not st[1] then return end
              if (st[2] == 'l' and where == 's') or (st[2] == where and pos > tonumber(st[1])) then
                local o = oldest(rec)
                if o and (not st[3] or o < tonumber(st[3])) then redis.call('HSET', KEYS[4], 'o', o) end
              end
            end
            -- A new record takes a random slot and the record there moves to the end (an inside-out
            -- shuffle), and removal moves the last record into the hole: the slot order stays a
            -- uniformly random permutation, so any run of slots is a uniform sample.
            local function slot_add(where, pid, rec)
              local n = redis.call('HINCRBY', KEYS[4], where, 1) - 1
              make_room(where, n + 1)
              local j = math.random(0, n)
              if j ~= n then
                local moved = rec_at(where, j)
                rec_put(where, n, moved)
                redis.call('HSET', KEYS[1], rec_pid(moved), where .. n)
                note_behind(where, n, moved)
              end
              rec_put(where, j, rec)
              redis.call('HSET', KEYS[1], pid, where .. j)
              note_behind(where, j, rec)
              return j
            end
            local function slot_remove(where, slot)
              local last = redis.call('HINCRBY', KEYS[4], where, -1)
              if slot ~= last then
                local moved = rec_at(where, last)
                rec_put(where, slot, moved)
                redis.call('HSET', KEYS[1], rec_pid(moved), where .. slot)
              end
              rec_put(where, last, string.rep('\0', \#(size)))
            end
            local function remove_peer(pid, where, slot, rec)
              slot_remove(where, slot)
              redis.call('HDEL', KEYS[1], pid)
              -- A private tracker's peers per user in this torrent (m's 'u' .. user).
              local u = rec_user(rec)
              if u ~= '\0\0\0\0' and redis.call('HINCRBY', KEYS[4], 'u' .. u, -1) <= 0 then redis.call('HDEL', KEYS[4], 'u' .. u) end
              if bit.band(string.byte(rec, 21), 8) ~= 0 then redis.call('HINCRBY', KEYS[4], 'p', -1) end
              redis.call('HINCRBY', KEYS[6], 'p', -1)
              if where == 's' then redis.call('HINCRBY', KEYS[6], 's', -1) end
              local flags = string.byte(rec, 21)
              if bit.band(flags, 1) ~= 0 then
                family('4', -1)
                src_count(rec_src(rec, '4'), -1)
              end
              if bit.band(flags, 2) ~= 0 then
                family('6', -1)
                src_count(rec_src(rec, '6'), -1)
              end
            end
            -- A torrent left without peers leaves the index and the totals, and its keys go (an
            -- id left without its record goes with them).
            local function drop_if_empty(hex)
              if size('s') + size('l') > 0 then return false end
              if redis.call('ZREM', KEYS[5], hex) == 1 then redis.call('HINCRBY', KEYS[6], 't', -1) end
              redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
              return true
            end
            -- Drops family f's endpoint from the record at slot of where (the peer keeps its
            -- other one); returns the record as it is now stored.
            local function drop_endpoint(where, slot, rec, f)
              local flag = 1
              if f == '6' then flag = 2 end
              family(f, -1)
              src_count(rec_src(rec, f), -1)
              rec = string.sub(rec, 1, 20) .. string.char(string.byte(rec, 21) - flag) .. string.sub(rec, 22)
              rec_put(where, slot, rec)
              return rec
            end
            -- Whether a record has an endpoint announced after cutoff.
            local function is_live(rec, cutoff)
              local flags = string.byte(rec, 21)
              return (bit.band(flags, 1) ~= 0 and struct.unpack('>I', rec, 46) > cutoff)
                or (bit.band(flags, 2) ~= 0 and struct.unpack('>I', rec, 50) > cutoff)
            end
            -- One bounded step of a torrent's expiry pass: at most limit slots, walking s from its
            -- top slot down, then l. Endpoints announced at or before cutoff go, and peers left
            -- without one; a slot whose record is not one Squall wrote (no endpoint, or its id
            -- points elsewhere) is dropped, and a count the string cannot hold is cut to what it
            -- holds. The pass keeps its place in m (c: next slot, w: which string) and the oldest
            -- announce among the records it kept or that arrived behind it (o). When it ends, the
            -- torrent's index score is that oldest announce and announces find it due (m's n) when
            -- it expires, 10 s on at the soonest; or it is dropped if empty. Returns removed,
            -- repaired, done.
            local function sweep_step(cutoff, limit, now, ttl, hex)
              local st = redis.call('HMGET', KEYS[4], 'c', 'w', 'o')
              local c, where, o = tonumber(st[1] or ''), st[2], tonumber(st[3] or '')
              if not c or (where ~= 's' and where ~= 'l') then c, where, o = nil, 's', nil end
              local removed, repaired, budget = 0, 0, limit
              while budget > 0 do
                local n = size(where)
                if not c then
                  local held = math.floor(redis.call('STRLEN', slots_key(where)) / \#(size))
                  if n > held then
                    redis.call('HSET', KEYS[4], where, held)
                    repaired = repaired + n - held
                    n = held
                  end
                  c = n - 1
                end
                if c > n - 1 then c = n - 1 end
                if c < 0 then
                  if where == 'l' then break end
                  where, c = 'l', nil
                else
                  local lo = math.max(0, c - budget + 1)
                  local chunk = redis.call('GETRANGE', slots_key(where), lo * \#(size), (c + 1) * \#(size) - 1)
                  for slot = c, lo, -1 do
                    local rec = string.sub(chunk, (slot - lo) * \#(size) + 1, (slot - lo) * \#(size) + \#(size))
                    local pid, flags = rec_pid(rec), string.byte(rec, 21)
                    local has4, has6 = bit.band(flags, 1) ~= 0, bit.band(flags, 2) ~= 0
                    local live4 = has4 and struct.unpack('>I', rec, 46) > cutoff
                    local live6 = has6 and struct.unpack('>I', rec, 50) > cutoff
                    if not live4 and not live6 then
                      local mine = (has4 or has6) and redis.call('HGET', KEYS[1], pid) == where .. slot
                      if mine then
                        remove_peer(pid, where, slot, rec)
                        removed = removed + 1
                      else
                        slot_remove(where, slot)
                        repaired = repaired + 1
                      end
                    else
                      if has4 and not live4 then
                        rec = drop_endpoint(where, slot, rec, '4')
                      elseif has6 and not live6 then
                        rec = drop_endpoint(where, slot, rec, '6')
                      end
                      local kept = oldest(rec)
                      if not o or kept < o then o = kept end
                    end
                  end
                  budget = budget - (c - lo + 1)
                  c = lo - 1
                end
              end
              if budget == 0 then
                redis.call('HSET', KEYS[4], 'c', c or -1, 'w', where)
                if o then redis.call('HSET', KEYS[4], 'o', o) else redis.call('HDEL', KEYS[4], 'o') end
                return removed, repaired, false
              end
              redis.call('HDEL', KEYS[4], 'c', 'w', 'o')
              if drop_if_empty(hex) then return removed, repaired, true end
              trim('s')
              trim('l')
              -- The index score stays a lower bound of every endpoint's last announce, for the
              -- reaper; announces step again only 10 s after a pass at the soonest.
              local kept = o or now
              local due = kept + ttl
              if due < now + 10 then due = now + 10 end
              redis.call('HSET', KEYS[4], 'n', due)
              redis.call('ZADD', KEYS[5], 'XX', kept, hex)
              return removed, repaired, true
            end

            """#
    }

    /// ARGV: peer_id, family (4|6), address + port (6 or 18 bytes), role (0 leecher, 1 seeder,
    /// 2 partial), counts download (0|1), remove (0|1), numwant, now, now as 4 big-endian bytes,
    /// ttl, max peers, hex info_hash, seed, sample here (0|1), max torrents and max peers of
    /// this totals hash (the bucket's share on a cluster), the key digest (4 bytes), the
    /// per-source quota (0: none), may create the torrent (0|1), counters in `sources`, the
    /// per-user quota (0: none), the user (4 bytes), may add a peer (0|1), then Squall's runs
    /// to read as triples: `s` or `l`, first byte, last byte. ARGV[1] is the peer's field in the
    /// ids hash (its peer_id, then its user's bytes unless zeros).
    /// Returns {seeders, leechers, downloaded, records, status, prev, run...}, or {'full'} (the
    /// torrent), {'full_torrents'} or {'full_peers'} (the tracker) for a new peer, {'quota'}
    /// (the source's quota), {'no_new_torrent'}, {'no_new_peer'} or {'user_quota'}; records are
    /// the records of the sample made here, concatenated; status is 1 when the announcer does
    /// not own the peer it names (nothing was changed) plus 2 when this announce created the
    /// torrent; prev is the string that held the named peer ('s' or 'l') and its record before
    /// the announce, or empty for a new peer; each run what one of Squall's runs read.
    ///
    /// Ownership is `PeerStore`'s: the key the peer first announced with, or the address an
    /// endpoint was recorded from; a peer whose endpoints have all expired starts afresh.
    ///
    /// Squall samples by itself when it knows the torrent's counts from an earlier reply: it
    /// picks runs of slots (`SampleHints`) and the script reads each with one `GETRANGE`, after
    /// the announce is recorded. Lua touches no record one by one, which is what a sampled peer
    /// cost most inside a script, and no extra command is sent.
    ///
    /// Expiry: when the torrent is due (m's `n`), the announce first takes one step (32 slots) of
    /// the torrent's expiry pass (`sweep_step`). The index score of a torrent is a lower bound of
    /// its endpoints' last announces: set when the torrent appears and at the end of each pass,
    /// since announces and removals can only raise the true value.
    static func announce(_ common: String, _ size: Int, users: Bool) -> RedisScript {
        RedisScript(
            name: "announce",
            source: common + #"""
                math.randomseed(tonumber(ARGV[13]))
                local pid, fam, ep, role = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
                local counts, remove = ARGV[5] == '1', ARGV[6] == '1'
                local numwant, now, nowb = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
                local ttl, maxpeers, hex = tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12]
                local key, quota, may_create = ARGV[17], tonumber(ARGV[18]), ARGV[19] == '1'
                local uquota, user, may_add = tonumber(ARGV[21]), ARGV[22], ARGV[23] == '1'
                q_hex, q_cells = hex, tonumber(ARGV[20])
                local cutoff = now - ttl
                -- m's 'n' is when the torrent's oldest endpoint can first expire (a lower bound:
                -- announces and removals only push it later), so most announces skip the sweep.
                local meta = redis.call('HMGET', KEYS[4], 'd', 'n')
                local exists = meta[1] ~= false
                local downloaded = tonumber(meta[1] or '0')
                -- One bounded step of the expiry pass when the torrent is due.
                if exists and now >= tonumber(meta[2] or '0') then
                  local _ = sweep_step(cutoff, 32, now, ttl, hex)
                  local d = redis.call('HGET', KEYS[4], 'd')
                  exists, downloaded = d ~= false, tonumber(d or '0')
                end
                local id = redis.call('HGET', KEYS[1], pid)
                local where, slot, rec
                if id then
                  where, slot = string.sub(id, 1, 1), tonumber(string.sub(id, 2))
                  rec = slot and rec_at(where, slot)
                  -- An id whose slot holds another record (or none) is not this peer's.
                  if not rec or #rec ~= \#(size) or rec_pid(rec) ~= pid then
                    id, where, slot, rec = nil, nil, nil, nil
                  end
                end
                if rec then
                  -- Gone, only not swept yet: its peer_id starts a new peer.
                  if not is_live(rec, cutoff) then
                    remove_peer(pid, where, slot, rec)
                    id, where, slot, rec = nil, nil, nil, nil
                  end
                end
                -- What the peer was before this announce: which string held it, and its record.
                local prev = ''
                if rec then prev = where .. rec end
                -- Ownership: the peer's key, or the address this family's endpoint was recorded from.
                local owner, same, keyed, here = true, false, false, nil
                if rec then
                  local flags = string.byte(rec, 21)
                  if fam == '4' and bit.band(flags, 1) ~= 0 then
                    here, same = rec_src(rec, '4'), string.sub(rec, 22, 25) == string.sub(ep, 1, 4)
                  elseif fam == '6' and bit.band(flags, 2) ~= 0 then
                    here, same = rec_src(rec, '6'), string.sub(rec, 28, 43) == string.sub(ep, 1, 16)
                  end
                  keyed = key ~= '\0\0\0\0' and key == string.sub(rec, 54, 57)
                  owner = same or keyed
                end
                local src = fam .. string.sub(ep, 1, 4)
                if fam == '6' then src = fam .. string.sub(ep, 1, 8) end
                if remove then
                  local status = 0
                  if rec and not owner then
                    status = 1
                  elseif rec and keyed then
                    remove_peer(pid, where, slot, rec)
                  elseif rec then
                    -- From the recorded address without the key: this endpoint goes; the peer stays
                    -- if its other one is live.
                    local other_bit, other_at = 2, 50
                    if fam == '6' then other_bit, other_at = 1, 46 end
                    if bit.band(string.byte(rec, 21), other_bit) ~= 0 and struct.unpack('>I', rec, other_at) > cutoff then
                      drop_endpoint(where, slot, rec, fam)
                    else
                      remove_peer(pid, where, slot, rec)
                    end
                  end
                  local reply = {size('s'), size('l'), downloaded, '', status, prev}
                  drop_if_empty(hex)
                  return reply
                end
                local want = 'l'
                if role == '1' then want = 's' end
                local status = 0
                if not owner then
                  status = 1
                else
                  local flags = 0
                  if not rec then
                    if size('s') + size('l') >= maxpeers then return {'full'} end
                    -- The tracker's caps, read from the totals it keeps, only when a peer is new.
                    local totals = redis.call('HMGET', KEYS[6], 't', 'p')
                    if tonumber(totals[2] or '0') >= tonumber(ARGV[16]) then return {'full_peers'} end
                    if not exists then
                      if tonumber(totals[1] or '0') >= tonumber(ARGV[15]) and not redis.call('ZSCORE', KEYS[5], hex) then
                        return {'full_torrents'}
                      end
                      if not may_create then return {'no_new_torrent'} end
                    end
                    if not may_add then return {'no_new_peer'} end
                    if uquota > 0 and tonumber(redis.call('HGET', KEYS[4], 'u' .. user) or '0') >= uquota then return {'user_quota'} end
                    if quota > 0 and src_count(src, 0) >= quota then return {'quota'} end
                    if redis.call('ZADD', KEYS[5], 'NX', now, hex) == 1 then redis.call('HINCRBY', KEYS[6], 't', 1) end
                    if redis.call('HSETNX', KEYS[4], 'd', 0) == 1 then
                      redis.call('SET', KEYS[2], '', 'NX')
                      redis.call('SET', KEYS[3], '', 'NX')
                      -- No endpoint can expire before one announced now.
                      redis.call('HSET', KEYS[4], 'n', now + ttl)
                      status = 2
                    end
                    redis.call('HINCRBY', KEYS[6], 'p', 1)
                    if want == 's' then redis.call('HINCRBY', KEYS[6], 's', 1) end
                    if user ~= '\0\0\0\0' then redis.call('HINCRBY', KEYS[4], 'u' .. user, 1) end
                    rec = string.sub(pid, 1, 20) .. string.rep('\0', 33) .. key\#(users ? " .. user" : "")
                  else
                    if here ~= src and quota > 0 and src_count(src, 0) >= quota then return {'quota'} end
                    flags = string.byte(rec, 21)
                    if where ~= want then
                      slot_remove(where, slot)
                      if want == 's' then redis.call('HINCRBY', KEYS[6], 's', 1) else redis.call('HINCRBY', KEYS[6], 's', -1) end
                    end
                  end
                  if here ~= src then
                    if here then src_count(here, -1) end
                    src_count(src, 1)
                  end
                  local partial = bit.band(flags, 8) ~= 0
                  if role == '2' and not partial then
                    flags = flags + 8
                    redis.call('HINCRBY', KEYS[4], 'p', 1)
                  elseif role ~= '2' and partial then
                    flags = flags - 8
                    redis.call('HINCRBY', KEYS[4], 'p', -1)
                  end
                  -- Flag 16: the record lives in s (a seeder), so a sample read as bytes tells seeders apart.
                  if want == 's' then flags = bit.bor(flags, 16) elseif bit.band(flags, 16) ~= 0 then flags = flags - 16 end
                  if counts and bit.band(flags, 4) == 0 then
                    flags = flags + 4
                    downloaded = redis.call('HINCRBY', KEYS[4], 'd', 1)
                  end
                  if fam == '4' then
                    if bit.band(flags, 1) == 0 then family('4', 1) end
                    flags = bit.bor(flags, 1)
                    rec = string.sub(rec, 1, 20) .. string.char(flags) .. ep .. string.sub(rec, 28, 45) .. nowb .. string.sub(rec, 50, \#(size))
                  else
                    if bit.band(flags, 2) == 0 then family('6', 1) end
                    flags = bit.bor(flags, 2)
                    rec = string.sub(rec, 1, 20) .. string.char(flags) .. string.sub(rec, 22, 27) .. ep .. string.sub(rec, 46, 49) .. nowb .. string.sub(rec, 54, \#(size))
                  end
                  if id and where == want then
                    rec_put(want, slot, rec)
                  else
                    slot = slot_add(want, pid, rec)
                  end
                  where = want
                  redis.call('HSET', KEYS[4], 'a', now)
                end

                -- A uniform sample of k of the other candidates (Floyd), O(numwant); the peer the
                -- announce names is never one of them.
                local ns, nl = size('s'), size('l')
                local with_seeders = role == '0'
                local total, self_at = nl, -1
                if with_seeders then total = ns + nl end
                if where == 's' and with_seeders then
                  self_at = slot
                elseif where == 'l' and with_seeders then
                  self_at = ns + slot
                elseif where == 'l' then
                  self_at = slot
                end
                local m = total
                if self_at >= 0 then m = m - 1 end
                local k = math.min(numwant, m)
                if ARGV[14] ~= '1' then k = 0 end
                local out = {}
                if k > 0 then
                  local chosen = {}
                  for j = m - k, m - 1 do
                    local t = math.random(0, j)
                    if chosen[t] then t = j end
                    chosen[t] = true
                    local p = t
                    if self_at >= 0 and p >= self_at then p = p + 1 end
                    if with_seeders and p < ns then out[#out + 1] = rec_at('s', p)
                    elseif with_seeders then out[#out + 1] = rec_at('l', p - ns)
                    else out[#out + 1] = rec_at('l', p) end
                  end
                end
                -- Squall's runs go back as elements of their own: Redis's Lua hashes every byte of
                -- every string it makes, so joining them here would cost as much again.
                local reply = {ns, nl, downloaded, table.concat(out), status, prev}
                for i = 24, #ARGV, 3 do
                  reply[#reply + 1] = redis.call('GETRANGE', slots_key(ARGV[i]), ARGV[i + 1], ARGV[i + 2])
                end
                return reply
                """#)
    }

    /// ARGV: cutoff, hex, limit, now, ttl, counters in `sources`. One bounded step of the
    /// reaper on one torrent: `sweep_step` with at most `limit` slots. Returns {removed, more
    /// (0|1), repaired}: call again while `more` is 1.
    static func sweepTorrent(_ common: String) -> RedisScript {
        RedisScript(
            name: "sweep",
            source: common + #"""
                local cutoff, limit, now, ttl = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
                q_hex, q_cells = ARGV[2], tonumber(ARGV[6])
                local removed, repaired, done = sweep_step(cutoff, limit, now, ttl, ARGV[2])
                local more = 1
                if done then more = 0 end
                return {removed, more, repaired}
                """#)
    }

    /// KEYS: m of each torrent in turn. Returns {seeders, leechers, downloaded, partial
    /// seeds} per torrent, flattened: a whole scrape in one round trip.
    static let scrape = RedisScript(
        name: "scrape",
        source: #"""
            local out = {}
            for i = 1, #KEYS do
              local m = redis.call('HMGET', KEYS[i], 's', 'l', 'd', 'p')
              for j = 1, 4 do out[#out + 1] = tonumber(m[j] or '0') end
            end
            return out
            """#)

    /// KEYS: one bucket's index. ARGV: first rank, count, and the text before and after a
    /// hash's hex in its m key (`RedisKeys.metaAround`). Returns {hex, seeders, leechers, downloaded, IPv4
    /// peers, IPv6 peers, last announce} per torrent, flattened: a chunk of the statistics
    /// table, read without touching any peer.
    static let torrentRows = RedisScript(
        name: "rows",
        source: #"""
            local first = tonumber(ARGV[1])
            local hexes = redis.call('ZRANGE', KEYS[1], first, first + tonumber(ARGV[2]) - 1)
            local out = {}
            for _, hex in ipairs(hexes) do
              local m = redis.call('HMGET', ARGV[3] .. hex .. ARGV[4], 's', 'l', 'd', '4', '6', 'a')
              out[#out + 1] = hex
              for i = 1, 6 do out[#out + 1] = tonumber(m[i] or '0') end
            end
            return out
            """#)

    /// KEYS: a torrent's s, l and m. ARGV: limit. Returns {seeder records, leecher records}, at
    /// most `limit` in all: the statistics' detail view (never the announce path).
    static func peerRows(_ size: Int) -> RedisScript {
        RedisScript(
            name: "peers",
            source: #"""
                local limit, got, out = tonumber(ARGV[1]), 0, {}
                local counts = redis.call('HMGET', KEYS[3], 's', 'l')
                for i = 1, 2 do
                  local k = math.min(tonumber(counts[i] or '0'), limit - got)
                  local recs = {}
                  if k > 0 then
                    local all = redis.call('GETRANGE', KEYS[i], 0, k * \#(size) - 1)
                    for j = 0, k - 1 do recs[#recs + 1] = string.sub(all, j * \#(size) + 1, j * \#(size) + \#(size)) end
                  end
                  got = got + #recs
                  out[i] = recs
                end
                return out
                """#)
    }

}

extension RedisScripts {
    /// Private mode's accounting step for one (user, torrent): KEYS[1] its hash (field `c`: the
    /// completion was counted; each peer_id, the only fields of 20 bytes: its baseline,
    /// `RedisPeerStore.baseline`'s 42 bytes; each instance's step field, never 20 bytes: the
    /// outcomes of its latest steps). ARGV: peer_id, uploaded and downloaded (16 lower-case hex
    /// digits, so comparing the strings compares the numbers: Lua's numbers are doubles, exact
    /// only to 2^53), now, seeder, active, started ('0'/'1'), the dedup window, the most peers
    /// kept, the hash's expiry, the active TTL, and the instance's step field, this step's
    /// token and the lowest token the instance still needs (16 hex digits each; no field: none
    /// kept). It keeps what `Counters.step` keeps (a stale announce, a lower counter inside the
    /// window without `started`, changes nothing), and returns the old baseline (or nil),
    /// whether this is the completion, and whether another peer is active; the same outcome,
    /// 59 bytes under the token (the record `RedisPeerStore.recordedSteps` reads), goes into the step field, which
    /// keeps those at or above the lowest token (at most 8), so that an instance that died
    /// before writing its entry can make it again (`RedisPeerStore.recordedSteps`).
    static let accountStep = RedisScript(
        name: "account_step",
        source: #"""
            local k, pid, up, down = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
            local now, seeder, active, started = tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]
            local window, maxp, ttl, attl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
            local jf, token, low = ARGV[12], ARGV[13], ARGV[14]
            local rec = up .. down .. string.format('%08x', now) .. seeder .. active
            -- One read of the hash: this peer's baseline, the completion flag, this instance's
            -- step field and the other peers (a Lua string per field read, so read once).
            local all = redis.call('HGETALL', k)
            local old, counted, ring, others = nil, false, '', {}
            for i = 1, #all, 2 do
              local f = all[i]
              if #f == 20 then
                if f == pid then old = all[i + 1] else others[#others + 1] = i end
              elseif f == 'c' then
                counted = all[i + 1] == '1'
              elseif f == jf then
                ring = all[i + 1]
              end
            end
            local completion, gone = 0, nil
            if old then
              local ou, od, oat = string.sub(old, 1, 16), string.sub(old, 17, 32), tonumber(string.sub(old, 33, 40), 16)
              local elapsed = 0
              if now > oat then elapsed = now - oat end
              local stale = not (up >= ou and down >= od) and started ~= '1' and elapsed <= window
              if not stale then
                redis.call('HSET', k, pid, rec)
                if string.sub(old, 41, 41) == '0' and seeder == '1' and not counted then
                  completion = 1
                  redis.call('HSET', k, 'c', '1')
                end
              end
            else
              redis.call('HSET', k, pid, rec)
              -- Beyond maxp peers, the stalest other goes: a stopped one first, then the oldest,
              -- then the lowest peer_id (as the memory table).
              local vkey, va, vat = nil, nil, nil
              for _, i in ipairs(others) do
                local a, at = string.sub(all[i + 1], 42, 42), tonumber(string.sub(all[i + 1], 33, 40), 16)
                if vkey == nil or a < va or (a == va and (at < vat or (at == vat and all[i] < vkey))) then
                  vkey, va, vat = all[i], a, at
                end
              end
              if #others + 1 > maxp and vkey then
                redis.call('HDEL', k, vkey)
                gone = vkey
              end
            end
            local other = 0
            for _, i in ipairs(others) do
              if all[i] ~= gone and string.sub(all[i + 1], 42, 42) == '1' then
                local at = tonumber(string.sub(all[i + 1], 33, 40), 16)
                if now >= at and now - at < attl then other = 1 end
              end
            end
            if jf and jf ~= '' then
              local kept = {}
              for i = 1, #ring - 58, 59 do
                if string.sub(ring, i, i + 15) >= low then kept[#kept + 1] = string.sub(ring, i, i + 58) end
              end
              while #kept >= 8 do table.remove(kept, 1) end
              kept[#kept + 1] = token .. (old or string.rep('-', 42)) .. tostring(completion * 2 + other)
              redis.call('HSET', k, jf, table.concat(kept))
            end
            redis.call('EXPIRE', k, ttl)
            return {old or false, completion, other}
            """#)
}
