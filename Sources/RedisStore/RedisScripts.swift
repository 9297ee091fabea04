/// The Lua scripts that make each store verb one round trip. KEYS of the per-torrent scripts
/// are a torrent's keys in the order `RedisKeys.torrent` gives them: ids, s, l, m, x, index,
/// totals.
///
/// A peer's record is 53 bytes, kept in its slot of the string `s` or `l` (slot i at byte
/// 53·i; the counts are m's `s` and `l`): peer_id (1-20), flags (21:
/// 1 IPv4, 2 IPv6, 4 download counted, 8 partial seed), IPv4 address and port (22-27), IPv6
/// address and port (28-45), last announce over IPv4 (46-49) and over IPv6 (50-53), big-endian.
/// An announce returns sampled records as they are stored: Squall, not Lua, decodes them and
/// drops endpoints past their time, so the script's work per sampled peer is one hash lookup.
enum RedisScripts {
    /// Slots of the strings s and l. Both exist (maybe empty) and m holds 'd' for as long as the
    /// torrent exists, so every key of a torrent exists: Redis Cluster cannot run a multi-key
    /// script whose keys are partly missing while their slot migrates. Slots at or past the
    /// count hold zeros (a removed peer's record is zeroed), which readers skip.
    static let slots = #"""
        local function size(where) return tonumber(redis.call('HGET', KEYS[4], where) or '0') end
        local function slots_key(where) if where == 's' then return KEYS[2] end return KEYS[3] end
        local function rec_at(where, slot) return redis.call('GETRANGE', slots_key(where), slot * 53, slot * 53 + 52) end
        local function rec_put(where, slot, rec) redis.call('SETRANGE', slots_key(where), slot * 53, rec) end

        """#

    /// Shared helpers: slots, removal, the stale-peer sweep, dropping an empty torrent.
    static let common =
        slots + #"""
            -- Peers holding an IPv4 ('4') or IPv6 ('6') endpoint, in the totals and the torrent's m.
            local function family(f, delta)
              redis.call('HINCRBY', KEYS[7], f, delta)
              redis.call('HINCRBY', KEYS[4], f, delta)
            end
            -- A new record takes a random slot and the record there moves to the end (an inside-out
            -- shuffle), and removal moves the last record into the hole: the slot order stays a
            -- uniformly random permutation, so any run of slots is a uniform sample.
            local function slot_add(where, pid, rec)
              local n = redis.call('HINCRBY', KEYS[4], where, 1) - 1
              local j = math.random(0, n)
              if j ~= n then
                local moved = rec_at(where, j)
                rec_put(where, n, moved)
                redis.call('HSET', KEYS[1], string.sub(moved, 1, 20), where .. n)
              end
              rec_put(where, j, rec)
              redis.call('HSET', KEYS[1], pid, where .. j)
              return j
            end
            local function slot_remove(where, slot)
              local last = redis.call('HINCRBY', KEYS[4], where, -1)
              if slot ~= last then
                local moved = rec_at(where, last)
                rec_put(where, slot, moved)
                redis.call('HSET', KEYS[1], string.sub(moved, 1, 20), where .. slot)
              end
              rec_put(where, last, string.rep('\0', 53))
            end
            local function remove_peer(pid, where, slot, rec)
              slot_remove(where, slot)
              redis.call('HDEL', KEYS[1], pid)
              redis.call('ZREM', KEYS[5], pid)
              if bit.band(string.byte(rec, 21), 8) ~= 0 then redis.call('HINCRBY', KEYS[4], 'p', -1) end
              redis.call('HINCRBY', KEYS[7], 'p', -1)
              if where == 's' then redis.call('HINCRBY', KEYS[7], 's', -1) end
              local flags = string.byte(rec, 21)
              if bit.band(flags, 1) ~= 0 then family('4', -1) end
              if bit.band(flags, 2) ~= 0 then family('6', -1) end
            end
            -- Drops endpoints last seen at or before cutoff, and peers left without one; at most
            -- limit. Returns how many peers it removed and how many broken entries it dropped (an
            -- expiry entry whose id or record is missing or does not match its peer_id).
            local function sweep(cutoff, limit)
              local removed, repaired = 0, 0
              local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', cutoff, 'LIMIT', 0, limit)
              for _, pid in ipairs(stale) do
                local id = redis.call('HGET', KEYS[1], pid)
                local where, slot, rec
                if id then
                  where, slot = string.sub(id, 1, 1), tonumber(string.sub(id, 2))
                  if (where == 's' or where == 'l') and slot and slot >= 0 and slot < size(where) then rec = rec_at(where, slot) end
                  if rec and (#rec ~= 53 or string.sub(rec, 1, 20) ~= pid) then rec = nil end
                  if not rec then
                    redis.call('HDEL', KEYS[1], pid)
                    repaired = repaired + 1
                  end
                end
                if rec then
                  local flags = string.byte(rec, 21)
                  local s4, s6 = struct.unpack('>I', rec, 46), struct.unpack('>I', rec, 50)
                  if bit.band(flags, 1) ~= 0 and s4 <= cutoff then flags = flags - 1 end
                  if bit.band(flags, 2) ~= 0 and s6 <= cutoff then flags = flags - 2 end
                  if bit.band(flags, 3) == 0 then
                    remove_peer(pid, where, slot, rec)
                    removed = removed + 1
                  else
                    local before = string.byte(rec, 21)
                    if bit.band(before, 1) ~= bit.band(flags, 1) then family('4', -1) end
                    if bit.band(before, 2) ~= bit.band(flags, 2) then family('6', -1) end
                    rec_put(where, slot, string.sub(rec, 1, 20) .. string.char(flags) .. string.sub(rec, 22))
                    if bit.band(flags, 1) ~= 0 then redis.call('ZADD', KEYS[5], s4, pid) else redis.call('ZADD', KEYS[5], s6, pid) end
                  end
                else
                  redis.call('ZREM', KEYS[5], pid)
                end
              end
              return removed, repaired
            end
            -- A torrent left without peers leaves the index and the totals, and its keys go.
            local function drop_if_empty(hex)
              if redis.call('HLEN', KEYS[1]) > 0 then return false end
              if redis.call('ZREM', KEYS[6], hex) == 1 then redis.call('HINCRBY', KEYS[7], 't', -1) end
              redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
              return true
            end

            """#

    /// ARGV: peer_id, family (4|6), address + port (6 or 18 bytes), role (0 leecher, 1 seeder,
    /// 2 partial), counts download (0|1), remove (0|1), numwant, now, now as 4 big-endian bytes,
    /// ttl, max peers, hex info_hash, seed, sample here (0|1), max torrents and max peers of
    /// this totals hash (the bucket's share on a cluster), then Squall's runs to read as
    /// triples: `s` or `l`, first byte, last byte.
    /// Returns {seeders, leechers, downloaded, records, run...}, or {'full'} (the torrent),
    /// {'full_torrents'} or {'full_peers'} (the tracker) for a new peer; records are the
    /// 53-byte records of the sample made here, concatenated; each run what one of Squall's runs
    /// read.
    ///
    /// Squall samples by itself when it knows the torrent's counts from an earlier reply: it
    /// picks runs of slots (`SampleHints`) and the script reads each with one `GETRANGE`, after
    /// the announce is recorded. Lua touches no record one by one, which is what a sampled peer
    /// cost most inside a script, and no extra command is sent.
    ///
    /// The index score of a torrent is a lower bound of its oldest endpoint's last announce: it
    /// is set when the torrent appears and corrected only by the reaper, since announces and
    /// removals can only raise the true value.
    static let announce = RedisScript(
        name: "announce",
        source: common + #"""
            math.randomseed(tonumber(ARGV[13]))
            local pid, fam, ep, role = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
            local counts, remove = ARGV[5] == '1', ARGV[6] == '1'
            local numwant, now, nowb = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
            local ttl, maxpeers, hex = tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12]
            local cutoff = now - ttl
            -- m's 'n' is when the torrent's oldest endpoint can first expire (a lower bound:
            -- announces and removals only push it later), so most announces skip the sweep.
            local meta = redis.call('HMGET', KEYS[4], 'd', 'n')
            local downloaded = tonumber(meta[1] or '0')
            if now >= tonumber(meta[2] or '0') then
              local _ = sweep(cutoff, 32)
              local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
              if #first > 0 then redis.call('HSET', KEYS[4], 'n', tonumber(first[2]) + ttl) end
            end
            local id = redis.call('HGET', KEYS[1], pid)
            local where, slot, rec
            if id then
              where, slot = string.sub(id, 1, 1), tonumber(string.sub(id, 2))
              rec = rec_at(where, slot)
            end
            if remove then
              if id then remove_peer(pid, where, slot, rec) end
              local reply = {size('s'), size('l'), downloaded, ''}
              drop_if_empty(hex)
              return reply
            end
            local want = 'l'
            if role == '1' then want = 's' end
            local flags = 0
            if not rec then
              if size('s') + size('l') >= maxpeers then return {'full'} end
              -- The tracker's caps, read from the totals it keeps, only when a peer is new.
              local totals = redis.call('HMGET', KEYS[7], 't', 'p')
              if tonumber(totals[2] or '0') >= tonumber(ARGV[16]) then return {'full_peers'} end
              if tonumber(totals[1] or '0') >= tonumber(ARGV[15]) and not redis.call('ZSCORE', KEYS[6], hex) then
                return {'full_torrents'}
              end
              if redis.call('ZADD', KEYS[6], 'NX', now, hex) == 1 then redis.call('HINCRBY', KEYS[7], 't', 1) end
              if redis.call('HSETNX', KEYS[4], 'd', 0) == 1 then
                redis.call('SET', KEYS[2], '', 'NX')
                redis.call('SET', KEYS[3], '', 'NX')
              end
              redis.call('HINCRBY', KEYS[7], 'p', 1)
              if want == 's' then redis.call('HINCRBY', KEYS[7], 's', 1) end
              rec = pid .. string.rep('\0', 33)
            else
              flags = string.byte(rec, 21)
              if where ~= want then
                slot_remove(where, slot)
                if want == 's' then redis.call('HINCRBY', KEYS[7], 's', 1) else redis.call('HINCRBY', KEYS[7], 's', -1) end
              end
            end
            local partial = bit.band(flags, 8) ~= 0
            if role == '2' and not partial then
              flags = flags + 8
              redis.call('HINCRBY', KEYS[4], 'p', 1)
            elseif role ~= '2' and partial then
              flags = flags - 8
              redis.call('HINCRBY', KEYS[4], 'p', -1)
            end
            if counts and bit.band(flags, 4) == 0 then
              flags = flags + 4
              downloaded = redis.call('HINCRBY', KEYS[4], 'd', 1)
            end
            local other
            if fam == '4' then
              if bit.band(flags, 2) ~= 0 then other = struct.unpack('>I', rec, 50) end
              if bit.band(flags, 1) == 0 then family('4', 1) end
              flags = bit.bor(flags, 1)
              rec = pid .. string.char(flags) .. ep .. string.sub(rec, 28, 45) .. nowb .. string.sub(rec, 50, 53)
            else
              if bit.band(flags, 1) ~= 0 then other = struct.unpack('>I', rec, 46) end
              if bit.band(flags, 2) == 0 then family('6', 1) end
              flags = bit.bor(flags, 2)
              rec = pid .. string.char(flags) .. string.sub(rec, 22, 27) .. ep .. string.sub(rec, 46, 49) .. nowb
            end
            if id and where == want then
              rec_put(want, slot, rec)
            else
              slot = slot_add(want, pid, rec)
            end
            local oldest = now
            if other and other < now then oldest = other end
            redis.call('ZADD', KEYS[5], oldest, pid)
            redis.call('HSET', KEYS[4], 'a', now)

            -- A uniform sample of k of the other candidates (Floyd), O(numwant).
            local ns, nl = size('s'), size('l')
            local with_seeders = role == '0'
            local total, self_at = nl, -1
            if with_seeders then
              total, self_at = ns + nl, ns + slot
            elseif want == 'l' then
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
            local reply = {ns, nl, downloaded, table.concat(out)}
            for i = 17, #ARGV, 3 do
              reply[#reply + 1] = redis.call('GETRANGE', slots_key(ARGV[i]), ARGV[i + 1], ARGV[i + 2])
            end
            return reply
            """#)

    /// ARGV: cutoff, hex, limit, HSCAN cursor ('0' to start). One bounded step of the reaper on
    /// one torrent: sweeps at most `limit` endpoints past the cutoff, or, when the torrent's
    /// expiry set is missing, lists `limit` of its peers as due again (the repair goes on from
    /// the cursor returned). When nothing past the cutoff is left, sets the torrent's index
    /// score to its oldest endpoint or drops the torrent. Returns {removed, more (0|1), cursor,
    /// repaired}: call again while `more` is 1.
    static let sweepTorrent = RedisScript(
        name: "sweep",
        source: common + #"""
            local cutoff, limit, cursor = tonumber(ARGV[1]), tonumber(ARGV[3]), ARGV[4]
            -- Peers with no expiry entry (the set was lost): listed as due, a chunk a call, so
            -- the sweeps that follow read their records and remove or re-score them.
            if cursor ~= '0' or (redis.call('EXISTS', KEYS[5]) == 0 and redis.call('HLEN', KEYS[1]) > 0) then
              local scan = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', limit)
              for i = 1, #scan[2], 2 do redis.call('ZADD', KEYS[5], 0, scan[2][i]) end
              return {0, 1, scan[1], math.floor(#scan[2] / 2)}
            end
            -- One bounded pass a call; Squall calls again while there is more.
            local removed, repaired = sweep(cutoff, limit)
            if #redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', cutoff, 'LIMIT', 0, 1) > 0 then return {removed, 1, '0', repaired} end
            if not drop_if_empty(ARGV[2]) then
              local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
              if #first == 0 then return {removed, 1, '0', repaired} end
              redis.call('ZADD', KEYS[6], 'XX', first[2], ARGV[2])
            end
            return {removed, 0, '0', repaired}
            """#)

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

    /// KEYS: one bucket's index. ARGV: first rank, count, prefix, bucket tag (`{bB}:` on a
    /// cluster, empty on a single Redis). Returns {hex, seeders, leechers, downloaded, IPv4
    /// peers, IPv6 peers, last announce} per torrent, flattened: a chunk of the statistics
    /// table, read without touching any peer.
    static let torrentRows = RedisScript(
        name: "rows",
        source: #"""
            local first = tonumber(ARGV[1])
            local hexes = redis.call('ZRANGE', KEYS[1], first, first + tonumber(ARGV[2]) - 1)
            local out = {}
            for _, hex in ipairs(hexes) do
              local stem
              if ARGV[4] == '' then stem = ARGV[3] .. '{' .. hex .. '}:' else stem = ARGV[3] .. ARGV[4] .. hex .. ':' end
              local m = redis.call('HMGET', stem .. 'm', 's', 'l', 'd', '4', '6', 'a')
              out[#out + 1] = hex
              for i = 1, 6 do out[#out + 1] = tonumber(m[i] or '0') end
            end
            return out
            """#)

    /// KEYS: a torrent's s, l and m. ARGV: limit. Returns {seeder records, leecher records}, at
    /// most `limit` in all: the statistics' detail view (never the announce path).
    static let peerRows = RedisScript(
        name: "peers",
        source: #"""
            local limit, got, out = tonumber(ARGV[1]), 0, {}
            local counts = redis.call('HMGET', KEYS[3], 's', 'l')
            for i = 1, 2 do
              local k = math.min(tonumber(counts[i] or '0'), limit - got)
              local recs = {}
              if k > 0 then
                local all = redis.call('GETRANGE', KEYS[i], 0, k * 53 - 1)
                for j = 0, k - 1 do recs[#recs + 1] = string.sub(all, j * 53 + 1, j * 53 + 53) end
              end
              got = got + #recs
              out[i] = recs
            end
            return out
            """#)

    static let all = [announce, sweepTorrent, scrape, torrentRows, peerRows]
}
