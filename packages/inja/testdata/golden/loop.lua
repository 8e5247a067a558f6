function(C)
  local o, n = {}, 0
  do
    local a4, c3 = W.items(W.var(C, "items"))
    if c3 == 0 then
      n = n + 1; o[n] = "none"
    else
      for i2 = 1, c3 do
        local v1 = a4[i2]
        do
          n = n + 1; o[n] = S((i2 + 0.0))
        end
        n = n + 1; o[n] = ":"
        do
          n = n + 1; o[n] = S(W.get(v1, "name"))
        end
        do
          if T((not T((i2 == c3)))) then
            n = n + 1; o[n] = ","
          end
        end
      end
    end
  end
  return concat(o, "", 1, n)
end
