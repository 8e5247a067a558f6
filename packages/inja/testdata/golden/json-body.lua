function(C)
  return "\123\034id\034: " .. S(W.add(W.get(W.var(C, "order"), "id"), 1.0)) .. ", \034first\034: \034" .. S(W.f_raw_string(C, W.get(W.get(W.get(W.var(C, "order"), "lines"), 0.0), "sku"))) .. "\034, \034all\034: \034" .. S(W.f_raw_string(C, W.f_body(C))) .. "\034\125"
end
