function(C)
  local o, n = {}, 0
  do
    n = n + 1; o[n] = S(W.neg(W.pow(2.0, 2.0)))
  end
  n = n + 1; o[n] = " "
  do
    n = n + 1; o[n] = S(W.idiv(7.0, 2.0))
  end
  n = n + 1; o[n] = " "
  do
    n = n + 1; o[n] = S(W.mod(7.0, 3.0))
  end
  n = n + 1; o[n] = " "
  do
    n = n + 1; o[n] = S(W.div(1500.0, 4.0))
  end
  n = n + 1; o[n] = " "
  do
    n = n + 1; o[n] = S(W.cat(W.cat("a", 1.0), W.NULL))
  end
  n = n + 1; o[n] = " "
  do
    local t1
    if T(W.gt(1.0, 2.0)) then
      t1 = "x"
    else
      t1 = "y"
    end
    n = n + 1; o[n] = S(t1)
  end
  return concat(o, "", 1, n)
end
