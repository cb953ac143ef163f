-- GET a pass without If-Modified-Since, as a device does after a push or a holder re-adding it:
-- the whole signed .pkpass (200), cycling over the first BENCH_REDOWNLOAD_PASSES seeded passes.
-- None of them changes during the run, so after its first fetch a pass costs no new signature
-- (the script reports passmint_pass_signatures_total around the run).
local counter = 0
local passes = tonumber(os.getenv("BENCH_REDOWNLOAD_PASSES") or "1000")
local pass_type = os.getenv("BENCH_PASS_TYPE") or "pass.com.example.test"

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
  })
end
