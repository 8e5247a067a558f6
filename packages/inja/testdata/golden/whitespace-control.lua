function(C)
  return "a" .. S(W.f_header(C, "x")) .. "b "
end
