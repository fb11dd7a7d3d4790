-- wrk script: POSTs pre-generated Telegram updates, one per line of a file, each used once.
--   wrk ... -s merge.lua -H 'X-Telegram-Bot-Api-Secret-Token: ..' <url> -- <bodies> <threads>
-- Each line is a `/start <payload>` from a new user with a link of their own, so every request is
-- a real merge (a repeat would be answered from the dedupe table, far cheaper). Thread k (1-based)
-- takes lines k, k+T, k+2T, ... so threads never share a line. If the file runs out a thread starts
-- over; the summary says so, and bench/run refuses such a round.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  step = tonumber(args[2])
  cursor = tid
  sent = 0
  wrapped = 0
  -- wrk 4 calls request() once on its first thread to check the request, and never sends what
  -- it gets: that call must not use up a line (with a wrk that does not probe, line 1 goes twice,
  -- the second time a cheap repeat).
  probe = tid == 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if probe then
    probe = false
    return wrk.format(nil, nil, nil, bodies[cursor])
  end
  if cursor > #bodies then
    cursor = tid
    wrapped = wrapped + 1
  end
  local body = bodies[cursor]
  cursor = cursor + step
  sent = sent + 1
  return wrk.format(nil, nil, nil, body)
end

-- Machine-readable lines for bench/run: how many lines each thread sent (in-flight ones included).
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("bench-thread %d sent %d wrapped %d\n",
      thread:get("tid"), thread:get("sent"), thread:get("wrapped")))
  end
end
