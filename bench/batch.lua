-- wrk script: /v1/batch requests of 100 new track events (users uniform over
-- 100,000, a new messageId each; MIDP in the environment prefixes the
-- messageIds so two phases of one run never collide; MID=uuid sends random
-- UUID-shaped messageIds, as client libraries do, instead of numbered ones —
-- decision 0111). Used by bench/replicated.sh and bench/steady.sh (LOAD=batch).
local threads, counter = 0, 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
-- tid is the global setup gave this thread (a chunk-level "local tid" would shadow it:
-- every thread would then send the same messageIds, half of them duplicates)
function init(args) math.randomseed(tid * 7919); counter = tid * 100000000 end
local uuid = os.getenv("MID") == "uuid"
local function mid()
  if uuid then
    return string.format("%s%08x-%04x-4%03x-%04x-%08x%04x", os.getenv("MIDP") or "", math.random(0, 0x7fffffff),
      math.random(0, 0xffff), math.random(0, 0xfff), math.random(0, 0xffff), math.random(0, 0x7fffffff), math.random(0, 0xffff))
  end
  return string.format("b%s-%d", os.getenv("MIDP") or "", counter)
end
request = function()
  local parts = {}
  for k = 1, 100 do
    counter = counter + 1
    parts[k] = string.format('{"type":"track","userId":"u%d","messageId":"%s","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}',
      math.random(100000), mid(), counter % 500)
  end
  return wrk.format("POST", "/v1/batch", {["Content-Type"]="application/json", ["X-Write-Key"]="wk"}, '{"batch":[' .. table.concat(parts, ",") .. ']}')
end
