-- GET a pass with If-Modified-Since at or after its Last-Modified: answered 304 (token checked,
-- nothing rendered). Cycles over the seeded passes.
local counter = 0
local passes = tonumber(os.getenv("BENCH_PASSES") or "10000")
local pass_type = os.getenv("BENCH_PASS_TYPE") or "pass.com.example.test"
local since = os.getenv("BENCH_SINCE") or "Fri, 01 Jan 2100 00:00:00 GMT"

function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end

local i = 0
request = function()
  i = i + 1
  local p = (offset + i) % passes
  return wrk.format("GET", "/passkit/v1/passes/" .. pass_type .. "/bench-" .. p, {
    ["Authorization"] = "ApplePass bench-token-" .. p .. "-0123456789abcdef0123456789",
    ["If-Modified-Since"] = since,
  })
end
