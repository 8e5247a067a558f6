function(C)
  return "Bearer " .. S(W.f_header(C, "authorization")) .. "\059 id=" .. S(W.f_replace_with_random(C, "X", "X"))
end
