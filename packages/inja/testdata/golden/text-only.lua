function(C)
  return "plain \034text\034 with \092 and \093\093 and --\091\091 and \037s"
end
