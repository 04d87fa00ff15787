-- POST a JSON body per request, made unique: "{n}" in the body file becomes a number no
-- other request of the run uses (thread id and counter), as does the Idempotency-Key.
-- Environment: WRK_BODY (file), WRK_PATH, WRK_KEY (API key), WRK_RUN (a run id).
local counter = 0
id = 0  -- set per thread by setup()
local threads = {}
local template, key, path, run

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("WRK_BODY"), "r"))
  template = f:read("*a")
  f:close()
  key, path, run = os.getenv("WRK_KEY"), os.getenv("WRK_PATH"), os.getenv("WRK_RUN")
end

function request()
  counter = counter + 1
  local n = run .. "-" .. id .. "-" .. counter
  local body = template:gsub("{n}", n)
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. key, ["Idempotency-Key"] = n,
    ["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p99_ms": %.2f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
