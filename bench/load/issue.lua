-- POST B: issue a signed pass over the management API (render + RSA signature + zip, 201).
local template = os.getenv("BENCH_TEMPLATE_ID")
local token = os.getenv("BENCH_ADMIN_TOKEN")

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"templateId":"' .. template .. '","payload":{"member":{"id":"M-1","name":"Load Test","tier":"Gold"},"points":1,"balance":2.5}}'
