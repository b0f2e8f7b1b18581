-- wrk script for benchmarks/load.py: one endpoint, driven round robin over many signed-in users' sessions.
--
-- wrk -s sessions.lua URL -- SESSIONS_FILE METHOD PATH MARKER
--   SESSIONS_FILE  one user per line: cookie header, TAB, CSRF token, TAB, restricted keys separated by commas,
--                  TAB, the user's client address (sent as X-Forwarded-For, as the platform's router would)
--                  ("-" for a run without sessions, e.g. /healthz)
--   METHOD PATH    GET /accounts, GET /connect, or POST /connect/key (then the body is the user's next key,
--                  sent the way htmx sends the key form: HX-Request and X-CSRFToken headers)
--   MARKER         text every good answer contains; an answer that is not 200 or lacks it counts as an error
--                  (a session that lost its sign-in answers 302 to /login, which wrk alone would count as fine)
-- At the end it prints one line "WRK_RESULT {json}" that load.py reads.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local sessions = {}
local method, path, marker
local turn = 0
-- Globals, so that done() can read them from each thread with thread:get().
bad = 0
bad_status = 0
statuses = ""

local seen_statuses = {}

local function split(text, separator)
   local parts = {}
   for part in string.gmatch(text, "([^" .. separator .. "]+)") do
      table.insert(parts, part)
   end
   return parts
end

function init(args)
   local file_name
   file_name, method, path, marker = args[1], args[2], args[3], args[4]
   if file_name ~= "-" then
      for line in io.lines(file_name) do
         local fields = {}
         for field in string.gmatch(line .. "\t", "([^\t]*)\t") do
            table.insert(fields, field)
         end
         table.insert(sessions, {cookie = fields[1], csrf = fields[2], keys = split(fields[3] or "", ","),
                                 address = fields[4], next_key = 0})
      end
   end
   -- Threads start at different users, so two threads do not walk the list in step.
   turn = math.random(0, math.max(#sessions - 1, 0))
end

function request()
   if #sessions == 0 then
      return wrk.format(method, path)
   end
   turn = turn % #sessions + 1
   local session = sessions[turn]
   -- The User-Agent is the one the sessions were made with (flask-login's session protection compares it).
   local headers = {["Cookie"] = session.cookie, ["User-Agent"] = "envoix-load/1",
                    ["X-Forwarded-For"] = session.address}
   local body = nil
   if method == "POST" then
      session.next_key = session.next_key % #session.keys + 1
      headers["HX-Request"] = "true"
      headers["X-CSRFToken"] = session.csrf
      headers["Content-Type"] = "application/x-www-form-urlencoded"
      body = "api_key=" .. session.keys[session.next_key]
   end
   return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
   if status ~= 200 then
      bad_status = bad_status + 1
      local key = tostring(status)
      if not seen_statuses[key] then
         seen_statuses[key] = true
         statuses = statuses .. key .. " "
      end
   end
   if status ~= 200 or not string.find(body, marker, 1, true) then
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local unexpected, non_200, codes = 0, 0, ""
   for _, thread in ipairs(threads) do
      unexpected = unexpected + thread:get("bad")
      non_200 = non_200 + thread:get("bad_status")
      codes = codes .. thread:get("statuses")
   end
   local errors = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
         .. '"write_errors": %d, "timeouts": %d, "non_200": %d, "bad_answers": %d, "statuses": "%s", '
         .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.timeout,
      non_200, unexpected, codes, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
