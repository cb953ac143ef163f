-- POST B: issue a signed pass over the management API (render + RSA signature + zip, stored with
-- its events before the 201). BENCH_PAYLOAD is the holder data (JSON) the template's
-- placeholders take.
local template = os.getenv("BENCH_TEMPLATE_ID")
local token = os.getenv("BENCH_ADMIN_TOKEN")
local payload = os.getenv("BENCH_PAYLOAD")
  or '{"member":{"id":"M-1","name":"Load Test","tier":"Gold"},"points":1,"balance":2.5}'

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"templateId":"' .. template .. '","payload":' .. payload .. '}'
