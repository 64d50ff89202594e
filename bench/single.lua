-- wrk script: one new track event a request (POST /v1/track; users uniform
-- over 100,000, a new messageId each, "s-N" numbered per thread; MIDP in
-- the environment prefixes the messageIds so two runs against one edge
-- never collide; MID=uuid sends random UUID-shaped messageIds, as client
-- libraries do — decision 0111). Used by bench/steady.sh,
-- bench/restart.sh and bench/applierthread.sh.
local threads, counter = 0, 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
-- tid is the global setup gave this thread (never a chunk-level "local tid")
function init(args) math.randomseed(tid * 7919); counter = tid * 100000000 end
local uuid = os.getenv("MID") == "uuid"
local prefix = os.getenv("MIDP") or ""
request = function()
  counter = counter + 1
  local mid = string.format("%ss-%d", prefix, counter)
  if uuid then
    mid = string.format("%s%08x-%04x-4%03x-%04x-%08x%04x", prefix, math.random(0, 0x7fffffff), math.random(0, 0xffff),
      math.random(0, 0xfff), math.random(0, 0xffff), math.random(0, 0x7fffffff), math.random(0, 0xffff))
  end
  return wrk.format("POST", "/v1/track", {["Content-Type"]="application/json", ["X-Write-Key"]="wk"},
    string.format('{"userId":"u%d","messageId":"%s","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}',
      math.random(100000), mid, counter % 500))
end
