"""Per-image metrics, each a pure function of validated arrays (spec §2).

Inputs everywhere: ``result`` and ``gt`` are HxWx3 uint8 RGB arrays of the same shape (decoded
8-bit data, so value/255 is exactly the float32 the published scorer works on); ``person`` is an
HxW bool array (True = person pixel).
"""
