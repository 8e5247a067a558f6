function(C)
  local o, n = {}, 0
  do
    local t1 = W.eq(W.f_header(C, "x-a"), "1")
    if T(t1) then
      t1 = (not T(W.f_header(C, "x-b")))
    end
    if T(t1) then
      n = n + 1; o[n] = "a"
    else
      do
        local t2 = W.contains(W.f_header(C, "x-c"), "v")
        if not T(t2) then
          t2 = W.gt(2.0, 1.0)
        end
        if T(t2) then
          n = n + 1; o[n] = "c"
        else
          n = n + 1; o[n] = "e"
        end
      end
    end
  end
  return concat(o, "", 1, n)
end
