/// The Lua scripts that make each store verb one round trip. KEYS are a torrent's keys in the
/// order `RedisKeys.torrent` gives them: peers, s, l, m, x, index, totals.
enum RedisScripts {
    /// Shared helpers: the peer record codec and the dense slot hashes.
    static let common = #"""
        local FMT = '>IBBHc4IHc16I'
        local function unpack_rec(r)
          local slot, role, flags, p4, a4, s4, p6, a6, s6 = struct.unpack(FMT, r)
          return {slot = slot, role = role, flags = flags, p4 = p4, a4 = a4, s4 = s4, p6 = p6, a6 = a6, s6 = s6}
        end
        local function pack_rec(t)
          return struct.pack(FMT, t.slot, t.role, t.flags, t.p4, t.a4, t.s4, t.p6, t.a6, t.s6)
        end
        local function has(flags, bit_) return math.floor(flags / bit_) % 2 == 1 end
        local function slots_key(role) if role == 1 then return KEYS[2] end return KEYS[3] end
        local function slot_add(key, pid)
          local n = redis.call('HLEN', key)
          redis.call('HSET', key, n, pid)
          return n
        end
        -- Swap-remove: the last slot moves into the hole, so slots stay 0..n-1.
        local function slot_remove(key, slot)
          local last = redis.call('HLEN', key) - 1
          if slot ~= last then
            local moved = redis.call('HGET', key, last)
            redis.call('HSET', key, slot, moved)
            local mr = unpack_rec(redis.call('HGET', KEYS[1], moved))
            mr.slot = slot
            redis.call('HSET', KEYS[1], moved, pack_rec(mr))
          end
          redis.call('HDEL', key, last)
        end
        local function remove_peer(pid, rec)
          slot_remove(slots_key(rec.role), rec.slot)
          redis.call('HDEL', KEYS[1], pid)
          redis.call('ZREM', KEYS[5], pid)
          if rec.role == 2 then redis.call('HINCRBY', KEYS[4], 'p', -1) end
          redis.call('HINCRBY', KEYS[7], 'p', -1)
          if rec.role == 1 then redis.call('HINCRBY', KEYS[7], 's', -1) end
        end
        local function oldest(rec)
          local o = nil
          if has(rec.flags, 1) then o = rec.s4 end
          if has(rec.flags, 2) and (o == nil or rec.s6 < o) then o = rec.s6 end
          return o
        end
        -- Drops endpoints last seen at or before cutoff, and peers left without one; at most limit.
        local function sweep(cutoff, limit)
          local removed = 0
          local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', cutoff, 'LIMIT', 0, limit)
          for _, pid in ipairs(stale) do
            local r = redis.call('HGET', KEYS[1], pid)
            if r then
              local rec = unpack_rec(r)
              if has(rec.flags, 1) and rec.s4 <= cutoff then rec.flags = rec.flags - 1 end
              if has(rec.flags, 2) and rec.s6 <= cutoff then rec.flags = rec.flags - 2 end
              local o = oldest(rec)
              if o == nil then
                remove_peer(pid, rec)
                removed = removed + 1
              else
                redis.call('HSET', KEYS[1], pid, pack_rec(rec))
                redis.call('ZADD', KEYS[5], o, pid)
              end
            else
              redis.call('ZREM', KEYS[5], pid)
            end
          end
          return removed
        end
        -- Keeps the reaper's index right: the torrent's oldest endpoint, or gone when empty.
        local function reindex(hex)
          local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
          if #first == 0 then
            if redis.call('ZREM', KEYS[6], hex) == 1 then redis.call('HINCRBY', KEYS[7], 't', -1) end
            redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
          else
            redis.call('ZADD', KEYS[6], first[2], hex)
          end
        end

        """#

    /// ARGV: peer_id, family (4|6), address bytes, port, role (0 leecher, 1 seeder, 2 partial),
    /// counts download (0|1), remove (0|1), numwant, now, ttl, max peers, hex info_hash, seed.
    /// Returns {seeders, leechers, downloaded, peers blob} or {'full'}. The blob holds 45 bytes
    /// a sampled peer: peer_id, flags (1 IPv4, 2 IPv6), IPv4 + port, IPv6 + port.
    static let announce =
        common + #"""
            local pid, fam, addr, port = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
            local role, counts, remove = tonumber(ARGV[5]), ARGV[6] == '1', ARGV[7] == '1'
            local numwant, now, ttl, maxpeers, hex = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12]
            local cutoff = now - ttl
            local known = redis.call('ZSCORE', KEYS[6], hex)
            if known then sweep(cutoff, 32) end
            local r = redis.call('HGET', KEYS[1], pid)
            local rec = nil
            if r then rec = unpack_rec(r) end
            local function counts_reply(blob)
              return {redis.call('HLEN', KEYS[2]), redis.call('HLEN', KEYS[3]), tonumber(redis.call('HGET', KEYS[4], 'd') or '0'), blob}
            end
            if remove then
              if rec then remove_peer(pid, rec) end
              local reply = counts_reply('')
              if known then reindex(hex) end
              return reply
            end
            if not rec then
              if redis.call('HLEN', KEYS[2]) + redis.call('HLEN', KEYS[3]) >= maxpeers then return {'full'} end
              if not known then redis.call('HINCRBY', KEYS[7], 't', 1) end
              rec = {slot = 0, role = role, flags = 0, p4 = 0, a4 = '\0\0\0\0', s4 = 0, p6 = 0, a6 = string.rep('\0', 16), s6 = 0}
              rec.slot = slot_add(slots_key(role), pid)
              redis.call('HINCRBY', KEYS[7], 'p', 1)
              if role == 1 then redis.call('HINCRBY', KEYS[7], 's', 1) end
              if role == 2 then redis.call('HINCRBY', KEYS[4], 'p', 1) end
            else
              if (rec.role == 1) ~= (role == 1) then
                slot_remove(slots_key(rec.role), rec.slot)
                rec.slot = slot_add(slots_key(role), pid)
                if role == 1 then redis.call('HINCRBY', KEYS[7], 's', 1) else redis.call('HINCRBY', KEYS[7], 's', -1) end
              end
              if rec.role == 2 and role ~= 2 then redis.call('HINCRBY', KEYS[4], 'p', -1) end
              if rec.role ~= 2 and role == 2 then redis.call('HINCRBY', KEYS[4], 'p', 1) end
              rec.role = role
            end
            if fam == '4' then
              rec.a4, rec.p4, rec.s4 = addr, port, now
              if not has(rec.flags, 1) then rec.flags = rec.flags + 1 end
            else
              rec.a6, rec.p6, rec.s6 = addr, port, now
              if not has(rec.flags, 2) then rec.flags = rec.flags + 2 end
            end
            if counts and not has(rec.flags, 4) then
              rec.flags = rec.flags + 4
              redis.call('HINCRBY', KEYS[4], 'd', 1)
            end
            redis.call('HSET', KEYS[1], pid, pack_rec(rec))
            redis.call('ZADD', KEYS[5], oldest(rec), pid)
            reindex(hex)

            -- A uniform sample of k of the other candidates (Floyd), O(numwant).
            local ns, nl = redis.call('HLEN', KEYS[2]), redis.call('HLEN', KEYS[3])
            local with_seeders = (role == 0)
            local total, self_at = nl, -1
            if with_seeders then
              total = ns + nl
              if rec.role == 1 then self_at = rec.slot else self_at = ns + rec.slot end
            elseif rec.role ~= 1 then
              self_at = rec.slot
            end
            local m = total
            if self_at >= 0 then m = m - 1 end
            local k = math.min(numwant, m)
            local picks = {}
            if k > 0 then
              math.randomseed(tonumber(ARGV[13]))
              local chosen = {}
              for j = m - k, m - 1 do
                local t = math.random(0, j)
                if chosen[t] then t = j end
                chosen[t] = true
                picks[#picks + 1] = t
              end
            end
            local sfields, lfields = {}, {}
            for _, v in ipairs(picks) do
              local p = v
              if self_at >= 0 and p >= self_at then p = p + 1 end
              if with_seeders and p < ns then sfields[#sfields + 1] = p
              elseif with_seeders then lfields[#lfields + 1] = p - ns
              else lfields[#lfields + 1] = p end
            end
            local ids = {}
            if #sfields > 0 then for _, id in ipairs(redis.call('HMGET', KEYS[2], unpack(sfields))) do ids[#ids + 1] = id end end
            if #lfields > 0 then for _, id in ipairs(redis.call('HMGET', KEYS[3], unpack(lfields))) do ids[#ids + 1] = id end end
            local out = {}
            if #ids > 0 then
              local recs = redis.call('HMGET', KEYS[1], unpack(ids))
              for i, raw in ipairs(recs) do
                if raw then
                  local pr = unpack_rec(raw)
                  local f = 0
                  if has(pr.flags, 1) and pr.s4 > cutoff then f = f + 1 end
                  if has(pr.flags, 2) and pr.s6 > cutoff then f = f + 2 end
                  if f > 0 then out[#out + 1] = struct.pack('>c20Bc4Hc16H', ids[i], f, pr.a4, pr.p4, pr.a6, pr.p6) end
                end
              end
            end
            return counts_reply(table.concat(out))
            """#

    /// ARGV: cutoff, hex. Sweeps the whole torrent (the reaper), then fixes the index.
    /// Returns how many peers were removed.
    static let sweepTorrent =
        common + #"""
            local removed = 0
            -- Every pass removes or re-scores past the cutoff what it looks at, so this ends.
            while redis.call('ZCOUNT', KEYS[5], '-inf', ARGV[1]) > 0 do
              removed = removed + sweep(tonumber(ARGV[1]), 1000)
            end
            reindex(ARGV[2])
            return removed
            """#
}
