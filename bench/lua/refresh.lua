-- wrk script: POST /api/v1/auth/refresh with a pool of refresh tokens (one per session), each
-- used once: the rotated token from the answer goes back into the pool. Needs more tokens than
-- connections. Argument: a file with one refresh token per line.
local pool = {}

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(pool, line) end
  end
end

function request()
  local token = table.remove(pool, 1) or "pool-empty"
  return wrk.format("POST", nil, { ["content-type"] = "application/json" }, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(pool, token) end
end
