function(C)
  return S(W.f_substring(C, W.f_base64_decode(C, W.f_request_header(C, "x-base64-encoded")), 11.0))
end
